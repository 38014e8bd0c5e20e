"""Encryption at rest of the state store: nothing sensitive on disk, rotation, rekey, clear errors.

Every test writes through the real store into a real SQLite file (WAL) and reads the bytes on disk
(the database and its WAL), so "encrypted" means the secret is not in any file SQLite wrote.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.field_crypto import FieldCipher, StorageKeyError, generate_key, key_id, parse_keys
from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind, parse_record
from tests.api.factories import T0, action, detection, incident, probe

pytestmark = pytest.mark.unit

SECRET = "sk_live_9f8e7d6c5b4a39281706f5e4"  # a secret-looking value, unique in every file


def _cipher(*keys: str) -> FieldCipher:
    return FieldCipher(parse_keys(keys))


def _on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("state.db*")))


def _fill(store: Store) -> dict[tuple[Kind, str], dict[str, object]]:
    """One row of every kind (and a control request), each carrying SECRET in a free-text field."""
    made: dict[tuple[Kind, str], dict[str, object]] = {}
    p = probe("payments", T0, ok=False) | {"error": f"upstream said token={SECRET}"}
    d = detection("payments", T0) | {"reason": f"log line leaked {SECRET}"}
    i = incident("inc-1", "payments", T0)
    i["report"]["evidence"][0]["detail"] = f"sample: Authorization: Bearer {SECRET}"
    a = action("act-1", "payments", T0 + timedelta(seconds=3)) | {"detail": f"rotated key {SECRET}"}
    for kind, payload in ((Kind.PROBE, p), (Kind.DETECTION, d), (Kind.INCIDENT, i), (Kind.ACTION, a)):
        row, stored = parse_record(kind, payload)
        store.upsert(kind, [(row, stored)])
        made[(kind, row.id)] = stored
    store.control.submit("trigger:1", "trigger", "restart_pool", "admin-key-1", {"params": {"pw": SECRET}})
    store.control.finish("trigger:1", "applied", {"output": f"echo {SECRET}"})
    return made


def _read_all(store: Store, made: dict[tuple[Kind, str], dict[str, object]]) -> None:
    for (kind, ident), payload in made.items():
        assert store.get(kind, ident) == payload
        assert store.page(kind, service="payments").items == [payload]
    request = store.control.get("trigger:1")
    assert request is not None
    assert request["payload"] == {"params": {"pw": SECRET}}
    assert request["result"] == {"output": f"echo {SECRET}"}


def test_without_a_key_the_secret_is_on_disk(tmp_path: Path) -> None:
    """The control: the probe below can see a plaintext secret, so its absence later means something."""
    store = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    made = _fill(store)
    _read_all(store, made)
    assert SECRET.encode() in _on_disk(tmp_path)
    store.close()


def test_sealed_rows_hold_no_plaintext_and_read_back_equal(tmp_path: Path) -> None:
    key = generate_key()
    store = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"), cipher=_cipher(key))
    made = _fill(store)
    _read_all(store, made)
    store.close()
    disk = _on_disk(tmp_path)
    assert SECRET.encode() not in disk
    assert b"Bearer" not in disk and b"upstream said" not in disk
    # The columns queries filter on stay plain: service names, statuses, action names.
    assert b"payments" in disk and b"restart_pool" in disk
    # Filters and counts still work on the plain columns.
    reopened = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"), cipher=_cipher(key))
    assert reopened.page(Kind.ACTION, filters={"status": "succeeded"}).total == 1
    assert reopened.probe_samples(service="payments")[0][2] is False
    assert reopened.key_usage()["incidents"] == {key_id(parse_keys([key])[0]): 1}
    reopened.close()


def test_rotation_rekey_and_retiring_the_old_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old, new = generate_key(), generate_key()
    old_id, new_id = (key_id(k) for k in parse_keys([old, new]))
    first = Store(make_engine(url), cipher=_cipher(old))
    made = _fill(first)
    first.close()

    # New key first, old still listed: old rows read, new rows are sealed with the new key.
    rotated = Store(make_engine(url), cipher=_cipher(new, old))
    _read_all(rotated, made)
    later = detection("auth", T0 + timedelta(minutes=1))
    row, stored = parse_record(Kind.DETECTION, later)
    rotated.upsert(Kind.DETECTION, [(row, stored)])
    assert rotated.key_usage()["detections"] == {old_id: 1, new_id: 1}

    changed = rotated.rekey(batch=2)  # batches smaller than a table: the paging is exercised too
    assert changed == {
        "probes": 1,
        "detections": 1,
        "forecasts": 0,
        "incidents": 1,
        "actions": 1,
        "control_requests": 1,
    }
    usage = rotated.key_usage()
    assert all(set(counts) <= {new_id} for counts in usage.values()), usage
    assert rotated.rekey() == dict.fromkeys(changed, 0)  # a second run has nothing to do
    rotated.close()

    # The old key removed: everything still reads, with the new key alone.
    retired = Store(make_engine(url), cipher=_cipher(new))
    _read_all(retired, made)
    assert retired.get(Kind.DETECTION, row.id) == stored
    retired.close()
    assert SECRET.encode() not in _on_disk(tmp_path)


def test_plaintext_rows_stay_readable_after_a_key_is_configured_and_rekey_seals_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    plain = Store(make_engine(url))
    made = _fill(plain)
    plain.close()
    key = generate_key()
    keyed = Store(make_engine(url), cipher=_cipher(key))
    _read_all(keyed, made)
    assert keyed.key_usage()["actions"] == {"plain": 1}
    keyed.rekey()
    _read_all(keyed, made)
    keyed.close()
    assert SECRET.encode() not in _on_disk(tmp_path)


def test_a_wrong_or_missing_key_is_a_clear_error_not_garbage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    right, wrong = generate_key(), generate_key()
    right_id = key_id(parse_keys([right])[0])
    store = Store(make_engine(url), cipher=_cipher(right))
    made = _fill(store)
    store.close()
    ident = next(i for k, i in made if k is Kind.INCIDENT)

    with_wrong = Store(make_engine(url), cipher=_cipher(wrong))
    with pytest.raises(
        StorageKeyError, match=rf"incidents:payload:{ident}: sealed with storage key {right_id}"
    ):
        with_wrong.get(Kind.INCIDENT, ident)
    with pytest.raises(StorageKeyError, match="not configured"):
        with_wrong.control.get("trigger:1")
    with_wrong.close()

    without = Store(make_engine(url))
    with pytest.raises(StorageKeyError, match="no storage key is configured"):
        without.page(Kind.ACTION)
    without.close()


def test_a_sealed_value_moved_to_another_row_is_refused(tmp_path: Path) -> None:
    """Associated data binds a ciphertext to its row: swapping payloads between rows is detected."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(make_engine(url), cipher=_cipher(generate_key()))
    for ident in ("inc-a", "inc-b"):
        store.upsert(Kind.INCIDENT, [parse_record(Kind.INCIDENT, incident(ident, "payments", T0))])
    with store.engine.begin() as conn:
        stolen = conn.exec_driver_sql("SELECT payload FROM incidents WHERE id = 'inc-a'").scalar_one()
        conn.exec_driver_sql("UPDATE incidents SET payload = ? WHERE id = 'inc-b'", (stolen,))
    assert store.get(Kind.INCIDENT, "inc-a") is not None
    with pytest.raises(StorageKeyError, match="altered or moved"):
        store.get(Kind.INCIDENT, "inc-b")
    store.close()


def test_store_rekey_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``forewarn store rekey`` and ``store keys`` with the keys from a key file (newest first)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old, new = generate_key(), generate_key()
    new_id = key_id(parse_keys([new])[0])
    store = Store(make_engine(url), cipher=_cipher(old))
    made = _fill(store)
    store.close()
    key_file = tmp_path / "storage.keys"
    key_file.write_text(f"# newest first\n{new}\n{old}\n")
    monkeypatch.setenv("FOREWARN_SECURITY__STORAGE_KEY_FILE", str(key_file))
    runner = CliRunner()
    done = runner.invoke(app, ["store", "rekey", "--store-url", url])
    assert done.exit_code == 0, done.output
    assert f"re-sealed 5 rows with key {new_id}" in done.output
    shown = runner.invoke(app, ["store", "keys", "--store-url", url])
    assert shown.exit_code == 0 and f"incidents: {new_id} 1" in shown.output
    key_file.write_text(f"{new}\n")
    _read_all(Store(make_engine(url), cipher=_cipher(new)), made)
    monkeypatch.delenv("FOREWARN_SECURITY__STORAGE_KEY_FILE")
    refused = runner.invoke(app, ["store", "rekey", "--store-url", url])
    assert refused.exit_code == 2 and "no storage key configured" in refused.output
