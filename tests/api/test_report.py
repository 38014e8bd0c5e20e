"""The executive report over a seeded week: the numbers, the HTML, the files, the compliance export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.report.data import gather
from forewarn.store.report.export import browser, write_report
from tests.api.report_seed import END, EXPECTED_COST, START, seed

pytestmark = pytest.mark.unit


def test_report_numbers(store: Store) -> None:
    seed(store)
    data = gather(store, Settings(), START, END)
    by_service = {s.service: s for s in data.impact.services}
    assert by_service["payments"].downtime_seconds == pytest.approx(30 * 60)
    assert by_service["email"].downtime_seconds == pytest.approx(60 * 60)
    assert by_service["sms"].downtime_seconds == 0.0 and by_service["sms"].availability == 1.0
    assert by_service["payments"].availability == pytest.approx(1 - 6 / (7 * 24 * 12))
    assert data.impact.total_cost == pytest.approx(EXPECTED_COST)
    assert len(data.incidents) == 3
    costs = {item.id: cost.cost for item, cost in data.impact.incidents}
    assert costs == pytest.approx({"inc-0": 1500.0, "inc-1": 300.0, "inc-2": 120.0})
    assert data.actions_total == 5
    assert data.action_success_rate == pytest.approx(3 / 4)  # the denial never ran
    assert [(b.metric, b.prevented) for b in data.breaches] == [
        ("db_pool_in_use", True),
        ("disk_used_ratio", False),
    ]
    assert [c.metric for c in data.capacity] == ["db_pool_in_use", "disk_used_ratio", "memory_bytes"]
    assert data.llm_total_usd == pytest.approx(0.036)
    assert sum(d.tokens for d in data.llm_spend) == 2 * 1900


def test_report_files_and_compliance(store: Store, tmp_path: Path) -> None:
    audit = seed(store, tmp_path / "healing")
    assert audit is not None
    files, _ = write_report(store, Settings(), START, END, tmp_path / "out", audit_log=audit)
    html = files.html.read_text()
    for chart in ("uptime", "incidents", "actions", "breaches", "capacity", "llm"):
        assert f'id="chart-{chart}"' in html
        assert files.charts[chart].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "USD 1,920.00" in html
    assert 'Audit trail <b class="good">intact</b>; 5 records' in html
    exported = json.loads(files.compliance_json.read_text())  # type: ignore[union-attr]
    assert exported["chain_ok"] is True and len(exported["records"]) == 5
    assert files.compliance_csv is not None and files.compliance_csv.read_text().count("\n") == 6
    if browser() is None:
        assert any("no PDF" in w for w in files.warnings)
    else:
        assert files.pdf is not None and files.pdf.read_bytes()[:5] == b"%PDF-"
        assert files.png is not None and files.png.read_bytes()[:4] == b"\x89PNG"


def test_an_empty_store_still_makes_a_report(store: Store, tmp_path: Path) -> None:
    files, data = write_report(store, Settings(), START, END, tmp_path / "out", pdf=False, png=False)
    assert data.incidents == [] and data.action_success_rate is None
    html = files.html.read_text()
    assert "No probe results in this period" in html
    assert "No healing audit log found" in html
