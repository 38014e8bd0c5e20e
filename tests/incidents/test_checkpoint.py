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
