"""The audit log with sealed details: nothing sensitive on disk, the chain verifies without the key,
tampering is still caught, and the records read back whole with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.field_crypto import FieldCipher, StorageKeyError, generate_key, key_id, parse_keys
from forewarn.healing.audit import AuditLog, AuditRecord, export_records, verify_log
from forewarn.healing.clock import ManualClock

pytestmark = pytest.mark.unit

SECRET = "ghp_4Rk9TqWm2ZxB7cVn1LsP8dHy3JfQ6eAo0uGi"


def _cipher(*keys: str) -> FieldCipher:
    return FieldCipher(parse_keys(keys))


def _write(log: AuditLog, n: int = 4) -> list[AuditRecord]:
    written = []
    for i in range(n):
        written.append(
            log.append(
                AuditRecord(
                    event="attempt",
                    service="payments",
                    action="rotate-credentials",
                    incident_id=f"inc-{i}",
                    why=f"credential {SECRET} leaked in step {i}",
                    inputs={"token": SECRET, "step": i},
                    result={"output": f"new token issued, old {SECRET} revoked"},
                    outcome="ok",
                    note=f"extra field {i}",  # extra fields are details too
                )
            )
        )
        log.clock.advance(30)  # type: ignore[attr-defined]
    return written


def test_sealed_details_verify_without_the_key_and_read_back_with_it(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "audit.jsonl"
    written = _write(AuditLog(path, clock=ManualClock(), cipher=_cipher(key)))
    text = path.read_text()
    assert SECRET not in text and "leaked" not in text and "extra field" not in text
    first = json.loads(text.splitlines()[0])
    # Who, what, when and the outcome stay plain; the details are one sealed field.
    assert first["service"] == "payments" and first["action"] == "rotate-credentials"
    assert first["outcome"] == "ok" and "inputs" not in first and first["sealed"].startswith("fwenc1:")

    verdict = verify_log(path)  # no key anywhere
    assert verdict.ok, verdict.problems
    assert verdict.records == 4 and verdict.sealed_with == {key_id(parse_keys([key])[0]): 4}

    opened = list(AuditLog(path, cipher=_cipher(key)).records())
    assert [r.model_dump() for r in opened] == [r.model_dump() for r in written]
    assert opened[2].inputs == {"token": SECRET, "step": 2}
    assert opened[2].model_extra == {"note": "extra field 2"}
    # Without the key the plain fields still read and the details stay sealed.
    blind = list(AuditLog(path).records())
    assert blind[0].action == "rotate-credentials" and blind[0].inputs == {}
    assert str((blind[0].model_extra or {})["sealed"]).startswith("fwenc1:")


def test_tampering_with_a_sealed_log_is_caught(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "audit.jsonl"
    _write(AuditLog(path, clock=ManualClock(), cipher=_cipher(key)))
    pristine = path.read_text().splitlines(keepends=True)

    # 1. A plain field edited: the hash breaks.
    edited = json.loads(pristine[1])
    edited["outcome"] = "failed"
    path.write_text("".join([pristine[0], json.dumps(edited, sort_keys=True) + "\n", *pristine[2:]]))
    assert any("line 2: hash mismatch" in p for p in verify_log(path).problems)

    # 2. One bit of the ciphertext flipped: the hash breaks, and the key refuses it too.
    edited = json.loads(pristine[2])
    sealed = edited["sealed"]
    edited["sealed"] = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    path.write_text("".join([*pristine[:2], json.dumps(edited, sort_keys=True) + "\n", pristine[3]]))
    assert any("line 3: hash mismatch" in p for p in verify_log(path).problems)
    with pytest.raises(StorageKeyError, match="audit:2: authentication failed"):
        list(AuditLog(path, cipher=_cipher(key)).records())

    # 3. A line removed: seq and prev_hash break.
    path.write_text("".join([pristine[0], *pristine[2:]]))
    assert any("seq 2 where 1 was expected" in p for p in verify_log(path).problems)

    # 4. Sealed details moved to another line with the whole chain recomputed (no key needed for
    #    that): the chain then verifies, but the details are bound to their seq and refuse to open.
    from forewarn.healing.audit import GENESIS_HASH, record_hash

    rows = [json.loads(line) for line in pristine]
    rows[0]["sealed"], rows[1]["sealed"] = rows[1]["sealed"], rows[0]["sealed"]
    prev = GENESIS_HASH
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = record_hash(row)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    (tmp_path / "audit.jsonl.head").write_text(json.dumps({"seq": 3, "hash": prev}) + "\n")
    assert verify_log(path).ok
    with pytest.raises(StorageKeyError, match="audit:0: authentication failed"):
        list(AuditLog(path, cipher=_cipher(key)).records())


def test_a_log_mixing_plain_and_sealed_lines_and_rotated_keys(tmp_path: Path) -> None:
    """Lines written before a key, then with an old key, then after rotation: one chain, all readable."""
    old, new = generate_key(), generate_key()
    path = tmp_path / "audit.jsonl"
    clock = ManualClock()
    _write(AuditLog(path, clock=clock), 1)
    _write(AuditLog(path, clock=clock, cipher=_cipher(old)), 1)
    _write(AuditLog(path, clock=clock, cipher=_cipher(new, old)), 1)
    verdict = verify_log(path)
    assert verdict.ok, verdict.problems
    ids = [key_id(k) for k in parse_keys([old, new])]
    assert verdict.sealed_with == {ids[0]: 1, ids[1]: 1}
    assert SECRET in path.read_text().splitlines()[0]  # the line from before any key stays as written
    opened = list(AuditLog(path, cipher=_cipher(new, old)).records())
    assert [r.inputs["token"] for r in opened] == [SECRET] * 3
    with pytest.raises(StorageKeyError, match=f"sealed with storage key {ids[0]}, which is not configured"):
        list(AuditLog(path, cipher=_cipher(new)).records())

    report = json.loads(export_records(path, cipher=_cipher(new, old)))
    assert report["chain_ok"] and [r["inputs"]["step"] for r in report["records"]] == [0, 0, 0]


def test_audit_cli_verifies_without_the_key_and_names_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    path = tmp_path / "audit.jsonl"
    _write(AuditLog(path, clock=ManualClock(), cipher=_cipher(key)), 2)
    runner = CliRunner()
    verified = runner.invoke(app, ["audit", "verify", str(path)])
    assert verified.exit_code == 0, verified.output
    assert f"sealed with storage keys: {key_id(parse_keys([key])[0])} (2)" in verified.output
    monkeypatch.setenv("FOREWARN_SECURITY__STORAGE_KEYS", json.dumps([key]))
    exported = runner.invoke(app, ["audit", "export", "--log", str(path)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["records"][1]["inputs"]["token"] == SECRET
