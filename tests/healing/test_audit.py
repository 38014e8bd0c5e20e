"""The audit chain catches every kind of tampering, and the CLI says so with its exit code."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.healing.audit import AuditLog, AuditRecord, export_records, verify_log
from forewarn.healing.clock import ManualClock
from forewarn.healing.errors import AuditIntegrityError

pytestmark = pytest.mark.unit


def _log(tmp_path: Path, n: int = 5) -> AuditLog:
    clock = ManualClock()
    log = AuditLog(tmp_path / "audit.jsonl", clock=clock)
    for i in range(n):
        log.append(
            AuditRecord(
                event="attempt",
                service="auth",
                action="restart-service",
                why=f"step {i}",
                outcome="ok",
                inputs={"i": i},
            )
        )
        clock.advance(60)
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def test_intact_chain_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    result = log.verify()
    assert result.ok, result.problems
    assert result.records == 5
    seqs = [r.seq for r in log.records()]
    assert seqs == [0, 1, 2, 3, 4]
    records = list(log.records())
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_edit_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace('"outcome":"ok"', '"outcome":"failed"')
    log.path.write_text("".join(lines))
    result = verify_log(log.path)
    assert not result.ok
    assert any("line 3" in p and "edited" in p for p in result.problems)


def test_deletion_in_the_middle_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[1]
    log.path.write_text("".join(lines))
    assert not verify_log(log.path).ok


def test_truncating_the_tail_is_detected_by_the_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    log.path.write_text("".join(lines[:-2]))
    result = verify_log(log.path)
    assert not result.ok
    assert any(p.startswith("head:") for p in result.problems)


def test_reordering_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_text("".join(lines))
    assert not verify_log(log.path).ok


def test_insertion_with_recomputed_hash_is_detected(tmp_path: Path) -> None:
    """A forger who recomputes the inserted line's own hash still breaks the chain after it."""
    from forewarn.healing.audit import record_hash

    log = _log(tmp_path)
    lines = _lines(log)
    forged = json.loads(lines[1])
    forged["why"] = "forged"
    forged["hash"] = record_hash(forged)
    lines.insert(2, json.dumps(forged) + "\n")
    log.path.write_text("".join(lines))
    assert not verify_log(log.path).ok


def test_append_refuses_to_extend_a_corrupt_tail(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    with open(log.path, "a") as handle:
        handle.write("not json\n")
    with pytest.raises(AuditIntegrityError):
        log.append(AuditRecord(event="decision"))


def test_chain_continues_across_instances(tmp_path: Path) -> None:
    _log(tmp_path, 3)
    again = AuditLog(tmp_path / "audit.jsonl")
    record = again.append(AuditRecord(event="control", why="kill switch on"))
    assert record.seq == 3
    assert again.verify().ok


def test_export_filters_by_time_and_reports_chain(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    records = list(log.records())
    since = datetime.fromisoformat(records[1].ts)
    until = datetime.fromisoformat(records[3].ts)
    report = json.loads(export_records(log.path, since, until, "json"))
    assert [r["seq"] for r in report["records"]] == [1, 2]
    assert report["chain_ok"] is True
    csv_text = export_records(log.path, since, None, "csv")
    assert csv_text.splitlines()[0].startswith("seq,ts,event")
    assert len(csv_text.strip().splitlines()) == 1 + 4


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    log = _log(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", str(log.path)])
    assert ok.exit_code == 0, ok.output
    assert "chain intact" in ok.output
    lines = _lines(log)
    lines[0] = lines[0].replace("step 0", "step zero")
    log.path.write_text("".join(lines))
    bad = runner.invoke(app, ["audit", "verify", str(log.path)])
    assert bad.exit_code == 1
    assert "TAMPERED" in bad.output


def test_cli_export_csv(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    out = tmp_path / "report.csv"
    since = datetime.fromtimestamp(ManualClock().now() + 30, tz=UTC).isoformat()
    result = CliRunner().invoke(
        app, ["audit", "export", "--log", str(log.path), "--since", since, "--format", "csv", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().strip().splitlines()) == 1 + 2
