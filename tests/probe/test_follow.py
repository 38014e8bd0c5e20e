"""FileFollower on real files: appends, partial lines, rotation (rename and delete), truncation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from forewarn.collect.follow import FileFollower

pytestmark = pytest.mark.unit


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_starts_at_the_end_unless_from_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    with FileFollower(log) as tail:
        assert tail.read_available() == []
        append(log, "new 1\n")
        assert tail.read_available() == ["new 1"]
    with FileFollower(log, from_start=True) as whole:
        assert whole.read_available() == ["old 1", "old 2", "new 1"]


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    with FileFollower(log) as tail:
        append(log, "first half")
        assert tail.read_available() == []
        append(log, " and second\r\nnext")
        assert tail.read_available() == ["first half and second"]
        assert tail.take_partial() == ["next"]


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    with FileFollower(log) as tail:
        append(log, "a\n")
        assert tail.read_available() == ["a"]
        append(log, "b\nunfinished")  # written just before rotation
        log.rename(tmp_path / "app.log.1")
        log.write_text("c\nd\n")
        assert tail.read_available() == ["b", "unfinished", "c", "d"]
        assert tail.rotations == 1
        append(log, "e\n")
        assert tail.read_available() == ["e"]


def test_deleted_then_recreated_file_is_picked_up(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    with FileFollower(log) as tail:
        append(log, "before\n")
        log.unlink()
        assert tail.read_available() == ["before"]
        assert tail.read_available() == []  # no file: wait quietly
        log.write_text("after\n")
        assert tail.read_available() == ["after"]


def test_truncation_in_place_restarts_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    with FileFollower(log) as tail:
        append(log, "one\ntwo\n")
        assert tail.read_available() == ["one", "two"]
        with log.open("r+") as handle:  # copytruncate
            handle.truncate(0)
        append(log, "3\n")
        assert tail.read_available() == ["3"]
        assert tail.truncations == 1
        assert os.path.getsize(log) == 2


def test_missing_file_is_waited_for_and_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    with FileFollower(log) as tail:
        assert tail.read_available() == []
        log.write_text("hello\n")
        assert tail.read_available() == ["hello"]


def test_invalid_utf8_and_runaway_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    with FileFollower(log, max_line_bytes=10) as tail:
        with log.open("ab") as handle:
            handle.write(b"bad \xff\xfe bytes\n" + b"z" * 25)
        lines = tail.read_available()
        assert lines[0] == "bad \ufffd\ufffd bytes"
        assert lines[1:] == ["z" * 10, "z" * 10]
        assert tail.take_partial() == ["z" * 5]


def test_follow_yields_until_stopped_and_calls_idle(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    tail = FileFollower(log)
    sleeps: list[float] = []
    idles = 0
    script = iter(["x\ny\n", "", "z\n"])

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        chunk = next(script, None)
        if chunk:
            append(log, chunk)

    def idle() -> None:
        nonlocal idles
        idles += 1

    def stop() -> bool:
        return len(sleeps) >= 4

    assert list(tail.follow(sleep, stop, poll_interval=0.25, on_idle=idle)) == ["x", "y", "z"]
    assert sleeps == [0.25] * 4
    assert idles == 4
    tail.close()
