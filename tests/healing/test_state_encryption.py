"""The executor's SQLite state with a storage key: sensitive columns sealed on disk, read back whole,
bound to their row, and rotated with old key ids still opening (``rekey`` moves them)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.field_crypto import FieldCipher, StorageKeyError, generate_key, key_id, parse_keys
from forewarn.healing.clock import ManualClock
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.healing.state import LadderRow, StateStore

from .fakes import config, registry_with_fakes
from .helpers import detection

pytestmark = pytest.mark.unit

MARKER = "sk_live_Zq81mPw4TbX0aLr9"  # a secret-looking value in every sensitive column


def _cipher(*keys: str) -> FieldCipher:
    return FieldCipher(parse_keys(keys))


def _raw(db: Path) -> bytes:
    """Every byte SQLite keeps for the state: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _executor(state: Path, clock: ManualClock, cipher: FieldCipher | None) -> tuple[HealingExecutor, object]:
    registry, fix, _, _ = registry_with_fakes()
    executor = HealingExecutor(
        config(registry),
        HealingPaths.under(state),
        clock=clock,
        registry=registry,
        global_mode="approve",
        audit_cipher=cipher,
    )
    return executor, fix


def _fill(executor: HealingExecutor, clock: ManualClock) -> str:
    """An approval held across a restart, carrying MARKER in the trigger's reason; an override reason."""
    [pending] = executor.handle(detection(clock, "email", reason=f"token {MARKER} seen in the email log"))
    executor.store.set_override("sms", True, clock.now(), f"on call: {MARKER}")
    return str(pending.result["approval_id"])


@pytest.mark.parametrize("encrypted", [True, False])
def test_executor_state_on_disk_holds_no_plaintext_and_survives_a_restart(
    tmp_path: Path, encrypted: bool
) -> None:
    clock = ManualClock(1_800_000_000.0)
    key = generate_key()
    cipher = _cipher(key) if encrypted else None
    state = tmp_path / "state"
    executor, _ = _executor(state, clock, cipher)
    approval_id = _fill(executor, clock)
    executor.close()

    # A new process: approval and its sealed payload read back, and the approved plan runs.
    again, fix = _executor(state, clock, _cipher(key) if encrypted else None)
    [row] = again.pending_approvals()
    assert MARKER in row["payload"]["trigger"]["reason"]
    assert again.store.override_reason("sms") == f"on call: {MARKER}"
    records = again.approve(approval_id, by="alice")
    assert [r.status for r in records] == ["succeeded"] and len(fix.runs) == 1  # type: ignore[attr-defined]
    claimed = again.store.claimed(fix.runs[0][1])  # type: ignore[attr-defined]
    assert claimed is not None and claimed[0] == "ok" and claimed[1]["undo_state"] == {"was": "before"}
    again.close()

    db = HealingPaths.under(state).state_db
    raw = _raw(db)
    if encrypted:
        assert MARKER.encode() not in raw and b"seen in the email log" not in raw and b"on call" not in raw
        with sqlite3.connect(db) as conn:
            sealed = [v for (v,) in conn.execute("SELECT payload FROM approvals")]
            sealed += [v for (v,) in conn.execute("SELECT result FROM idempotency WHERE result IS NOT NULL")]
            sealed += [v for (v,) in conn.execute("SELECT reason FROM overrides")]
        assert sealed and all(v.startswith(f"fwenc1:{key_id(parse_keys([key])[0])}:") for v in sealed)
    else:
        assert MARKER.encode() in raw  # the control: the same run without a key leaves it in the clear


def test_sealed_values_are_bound_to_their_row_and_need_their_key(tmp_path: Path) -> None:
    key = generate_key()
    store = StateStore(tmp_path / "s.sqlite3", cipher=_cipher(key))
    store.add_approval("a1", 0, 100, {"reason": MARKER})
    store.add_approval("a2", 0, 100, {"reason": "other"})
    store.close()
    with sqlite3.connect(tmp_path / "s.sqlite3") as conn:  # copy a1's sealed payload over a2's
        conn.execute(
            "UPDATE approvals SET payload = (SELECT payload FROM approvals WHERE id = 'a1') WHERE id = 'a2'"
        )
    moved = StateStore(tmp_path / "s.sqlite3", cipher=_cipher(key))
    with pytest.raises(StorageKeyError, match="moved from another row"):
        moved.approvals()
    moved.close()
    without = StateStore(tmp_path / "s.sqlite3")
    with pytest.raises(StorageKeyError, match="no storage key is configured"):
        without.approvals()
    without.close()


def test_rotation_old_key_ids_open_and_rekey_moves_every_row(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = tmp_path / "s.sqlite3"
    plain = StateStore(path)  # a row from before any key
    plain.set_override("web", True, 1.0, "written before keys")
    plain.close()
    first = StateStore(path, cipher=_cipher(old))
    assert first.claim("k1", 1.0)
    first.finish("k1", "succeeded", {"output": MARKER})
    first.add_approval("a1", 0, 100, {"reason": MARKER})
    first.close()

    rotated = StateStore(path, cipher=_cipher(new, old))  # new key first, old still listed
    assert rotated.claimed("k1") == ("succeeded", {"output": MARKER})
    assert rotated.rekey() == 3  # result, payload and the plaintext override reason
    assert rotated.rekey() == 0  # nothing left: safe to repeat
    rotated.close()

    only_new = StateStore(path, cipher=_cipher(new))  # the old key can go now
    assert only_new.claimed("k1") == ("succeeded", {"output": MARKER})
    assert only_new.approvals()[0]["payload"] == {"reason": MARKER}
    assert only_new.override_reason("web") == "written before keys"
    only_new.close()
    with pytest.raises(StorageKeyError, match=key_id(parse_keys([new])[0])):
        StateStore(path, cipher=_cipher(old)).claimed("k1")


def test_heal_rekey_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = generate_key(), generate_key()
    state = tmp_path / "state"
    store = StateStore(HealingPaths.under(state).state_db, cipher=_cipher(old))
    store.add_approval("a1", 0, 100, {"reason": MARKER})
    store.close()
    monkeypatch.setenv("FOREWARN_SECURITY__STORAGE_KEYS", f'["{new}", "{old}"]')
    result = CliRunner().invoke(app, ["heal", "rekey", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 rows" in result.output and key_id(parse_keys([new])[0]) in result.output
    monkeypatch.setenv("FOREWARN_SECURITY__STORAGE_KEYS", f'["{new}"]')
    listed = CliRunner().invoke(app, ["heal", "approvals", "--state-dir", str(state)])
    assert listed.exit_code == 0 and "a1" in listed.output


def test_an_in_flight_step_is_sealed_on_disk_and_read_back_after_a_restart(tmp_path: Path) -> None:
    """The write-ahead plan carries the trigger's reason: sealed like the result, and recovery reads both."""
    key = generate_key()
    path = tmp_path / "s.sqlite3"
    store = StateStore(path, cipher=_cipher(key))
    assert store.claim("step-1", 100.0, {"trigger": {"reason": f"token {MARKER}"}, "action": "fix"})
    store.finish("step-1", "ran", {"output": MARKER})
    store.close()
    assert MARKER.encode() not in _raw(path)
    again = StateStore(path, cipher=_cipher(key))
    [step] = again.in_flight()
    assert step.plan["trigger"]["reason"] == f"token {MARKER}" and step.result == {"output": MARKER}
    again.close()


def test_an_open_escalation_is_sealed_on_disk_read_back_and_rekeyed(tmp_path: Path) -> None:
    """The ladder's notification carries the trigger's reason: sealed, bound to its group, rotated."""
    old, new = generate_key(), generate_key()
    path = tmp_path / "s.sqlite3"
    store = StateStore(path, cipher=_cipher(old))
    note = {"title": "email down", "summary": f"token {MARKER}", "service": "email", "severity": "critical"}
    store.save_ladder(
        LadderRow("email/outage", 100.0, "failover", [1, 0], {**note, "group_key": "email/outage"})
    )
    store.save_ladder(LadderRow("sms/outage", 90.0, "failover", [], {**note, "group_key": "sms/outage"}))
    store.drop_ladder("sms/outage")
    store.close()
    assert MARKER.encode() not in _raw(path)
    rotated = StateStore(path, cipher=_cipher(new, old))
    assert rotated.rekey() == 1
    rotated.close()
    again = StateStore(path, cipher=_cipher(new))
    [row] = again.ladders()
    assert (row.group_key, row.started, row.policy, row.levels) == ("email/outage", 100.0, "failover", [0, 1])
    assert row.note["summary"] == f"token {MARKER}"
    again.close()
