"""Follow a growing log file like ``tail -F``: survive rotation, truncation and a missing file.

Why polling: it works the same on every filesystem (including bind mounts and network volumes,
where inotify is silent) and costs one ``stat`` per interval. Each poll reads what was appended,
then checks the path: a different inode means the file was rotated (the old file is read to its end
first, then the new one from its start); a size below our position means it was truncated in place
(``copytruncate``), so reading restarts at 0. A line without its newline yet is held back until it
is complete, except at rotation, where it can never be completed and is emitted as is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1024 * 1024
MAX_READ_PER_POLL = 8 * READ_CHUNK
MAX_LINE_BYTES = 1024 * 1024


class FileFollower:
    """Reads complete lines appended to ``path``; call ``read_available()`` on every poll."""

    def __init__(self, path: Path, *, from_start: bool = False, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = Path(path)
        self.from_start = from_start
        self.max_line_bytes = max_line_bytes
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._partial = b""
        self._looked = False
        self.rotations = 0
        self.truncations = 0
        # Open now, not at the first poll: "start at the end" means the end when following began.
        self._open()

    def read_available(self) -> list[str]:
        """Lines that are complete now, oldest first; empty when nothing new (or no file yet)."""
        lines: list[str] = []
        if self._file is None and not self._open():
            return lines
        lines += self._drain()
        identity = _identity(self.path)
        if identity != self._inode:
            # Rotated (or deleted): the old file is finished; its unterminated tail never will be.
            if self._partial:
                lines.append(_decode(self._partial))
                self._partial = b""
            self._close_file()
            if identity is not None:
                self.rotations += 1
                if self._open(rotated=True):
                    lines += self._drain()
        elif self._file is not None and _size(self.path) < self._file.tell():
            self.truncations += 1
            self._partial = b""
            self._file.seek(0)
            lines += self._drain()
        return lines

    def follow(
        self,
        sleep: Callable[[float], None],
        stop: Callable[[], bool],
        poll_interval: float = 0.5,
        on_idle: Callable[[], None] | None = None,
    ) -> Iterator[str]:
        """Yield lines forever (until ``stop()``), sleeping ``poll_interval`` when there are none."""
        while not stop():
            lines = self.read_available()
            if lines:
                yield from lines
                continue
            if on_idle is not None:
                on_idle()
            if stop():
                break
            sleep(poll_interval)

    def take_partial(self) -> list[str]:
        """The unterminated last line, if any (for a one-shot read that will not wait for its newline)."""
        partial, self._partial = self._partial, b""
        return [_decode(partial)] if partial else []

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> FileFollower:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open(self, rotated: bool = False) -> bool:
        first_look, self._looked = not self._looked, True
        try:
            handle = self.path.open("rb")
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return False
        stat = os.fstat(handle.fileno())
        self._file = handle
        self._inode = (stat.st_dev, stat.st_ino)
        # Like tail -F: start at the end the first time (unless asked not to); a file that appears
        # later or replaces a rotated one is new, so read it whole.
        if first_look and not self.from_start and not rotated:
            handle.seek(0, os.SEEK_END)
        return True

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._inode = None

    def _drain(self) -> list[str]:
        assert self._file is not None
        lines: list[str] = []
        budget = MAX_READ_PER_POLL
        while budget > 0:
            chunk = self._file.read(min(READ_CHUNK, budget))
            if not chunk:
                break
            budget -= len(chunk)
            data = self._partial + chunk
            *complete, self._partial = data.split(b"\n")
            lines += [_decode(raw) for raw in complete]
            while len(self._partial) > self.max_line_bytes:  # a runaway line: ship it in pieces
                lines.append(_decode(self._partial[: self.max_line_bytes]))
                self._partial = self._partial[self.max_line_bytes :]
        return lines


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


__all__ = ["FileFollower"]
