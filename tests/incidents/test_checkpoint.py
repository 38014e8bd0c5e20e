"""The grouper's snapshot: a restarted responder goes on with the same incidents and knows what it saw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.incidents.checkpoint import GrouperCheckpoint
from forewarn.incidents.grouping import IncidentGrouper
from tests.factories import make_detection

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.unit
def test_a_restored_grouper_joins_the_same_incident_and_skips_what_it_saw(tmp_path: Path) -> None:
    first, second, third = (make_detection("email", T0 + timedelta(seconds=10 * i)) for i in range(3))
    before = IncidentGrouper(dependencies={})
    opened = before.add(first)
    before.add(second)
    checkpoint = GrouperCheckpoint(tmp_path / "responder.sqlite3")
    assert checkpoint.save(before) and not checkpoint.save(before)  # unchanged: not written again
    checkpoint.close()

    after = IncidentGrouper(dependencies={})
    assert GrouperCheckpoint(tmp_path / "responder.sqlite3").restore(after) == 1
    assert after.add(second) is None  # re-delivered after the crash: already grouped
    joined = after.add(third)
    assert opened is not None and joined is not None and joined.id == opened.id
    assert [d.id for d in joined.detections] == [first.id, second.id, third.id]


@pytest.mark.unit
def test_no_snapshot_restores_nothing(tmp_path: Path) -> None:
    grouper = IncidentGrouper()
    assert GrouperCheckpoint(tmp_path / "none.sqlite3").restore(grouper) == 0
    assert grouper.open_incidents == []


@pytest.mark.unit
def test_with_a_storage_key_the_snapshot_on_disk_is_sealed(tmp_path: Path) -> None:
    """Detection reasons and log templates are in the snapshot: with a key, none of it is in the file."""
    from forewarn.field_crypto import FieldCipher, generate_key, parse_keys

    cipher = FieldCipher(parse_keys([generate_key()]))
    grouper = IncidentGrouper(dependencies={})
    grouper.add(make_detection("email", T0, reason="token sk_live_Zq81mPw4TbX0aLr9 in the email log"))
    path = tmp_path / "responder.sqlite3"
    checkpoint = GrouperCheckpoint(path, cipher=cipher)
    assert checkpoint.save(grouper)
    checkpoint.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("responder.sqlite3*"))
    assert b"sk_live_Zq81mPw4TbX0aLr9" not in raw and b"email log" not in raw
    assert GrouperCheckpoint(path, cipher=cipher).restore(IncidentGrouper(dependencies={})) == 1
