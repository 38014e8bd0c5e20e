"""drain3 template mining (rates, new templates, error ratio, persisted state) and incident grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.events import Detection, LogRecord, Severity
from forewarn.incidents.grouping import IncidentGrouper
from forewarn.incidents.log_patterns import LogPatternMiner
from tests.factories import make_detection

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WALL = datetime(2030, 1, 1, tzinfo=UTC)


def _log(seconds: float, message: str, level: str = "INFO", service: str = "database") -> LogRecord:
    return LogRecord(service=service, timestamp=T0 + timedelta(seconds=seconds), level=level, message=message)


def _normal(miner: LogPatternMiner, until: float, service: str = "database") -> list[Detection]:
    out: list[Detection] = []
    for i in range(int(until)):
        out += miner.observe(_log(i, f"GET /api/health/{service} 200 {10 + i % 7} ms", service=service))
        if i % 10 == 0:
            out += miner.observe(_log(i + 0.5, f"pool {i % 5}/20 in use, 0 waiting", service=service))
    return out


def _miner(tmp_path: Path | None = None, **kwargs: float) -> LogPatternMiner:
    state = None if tmp_path is None else tmp_path / "drain3.json"
    return LogPatternMiner(state, clock=lambda: WALL, **kwargs)  # type: ignore[arg-type]


def test_steady_logs_raise_nothing_and_share_templates() -> None:
    miner = _miner()
    assert _normal(miner, 300) == []
    templates = miner.summaries("database")
    assert miner.template_count == 2
    assert {t.count for t in templates} == {300, 30}
    assert any("<NUM>" in t.template for t in templates)


def test_error_burst_raises_new_template_rate_and_ratio() -> None:
    miner = _miner()
    _normal(miner, 300)
    found: list[Detection] = []
    for i in range(12):
        found += miner.observe(
            _log(300 + i, "database connection failed: connection refused on port 5432", level="ERROR")
        )
    kinds = [d.detection_kind for d in found]
    assert kinds.count("new_log_template") == 1
    assert kinds.count("log_rate_anomaly") == 1  # once per window, not once per line
    assert kinds.count("log_error_ratio") == 1
    ratio = next(d for d in found if d.detection_kind == "log_error_ratio")
    assert ratio.service == "database" and ratio.series == "database/log_error_ratio"
    assert ratio.detected_at == WALL and ratio.timestamp >= T0 + timedelta(seconds=300)
    new = next(d for d in found if d.detection_kind == "new_log_template")
    assert "database connection failed" in new.reason and new.severity is Severity.WARNING
    top = miner.summaries("database")[0]
    assert top.new and top.levels == {"ERROR": 12} and "connection refused" in top.template


def test_no_new_template_reports_during_warmup() -> None:
    miner = _miner()
    found = [*_normal(miner, 60), *miner.observe(_log(61, "cache warmed in 12 ms", level="INFO"))]
    assert [d for d in found if d.detection_kind == "new_log_template"] == []


def test_templates_never_hold_secrets() -> None:
    miner = _miner()
    miner.observe(_log(1, "connect postgres://app:Hunter2pw@db:5432/x failed for jane@example.com", "ERROR"))
    template = miner.summaries("database")[0].template
    assert "Hunter2pw" not in template and "jane@example.com" not in template


def test_state_survives_a_restart(tmp_path: Path) -> None:
    miner = _miner(tmp_path, warmup_seconds=0)
    _normal(miner, 50)
    miner.observe(_log(51, "database connection failed: connection refused", level="ERROR"))
    assert (tmp_path / "drain3.json").is_file()
    count = miner.template_count

    again = _miner(tmp_path, warmup_seconds=0)
    assert again.template_count == count
    known = again.observe(_log(100, "database connection failed: connection refused", level="ERROR"))
    assert "new_log_template" not in [d.detection_kind for d in known]
    fresh = again.observe(_log(101, "replica lag is 30 s behind primary", level="WARNING"))
    assert [d.detection_kind for d in fresh] == ["new_log_template"]


def test_detection_ids_are_stable_on_replay() -> None:
    def run() -> list[str]:
        miner = _miner()
        _normal(miner, 300)
        return [d.id for i in range(8) for d in miner.observe(_log(300 + i, "disk full on /var", "ERROR"))]

    assert run() == run() != []


def _det(
    service: str, seconds: float, kind: str = "failure", severity: Severity = Severity.WARNING
) -> Detection:
    return make_detection(
        service,
        T0 + timedelta(seconds=seconds),
        kind=kind,
        series=f"{service}/failure",
        severity=severity,
        confidence=0.8,
        reason=f"{service} failing",
    )


def test_dependent_failures_group_under_the_root_service() -> None:
    grouper = IncidentGrouper()
    grouper.add(_det("payments", 0))
    grouper.add(_det("auth", 2))
    incident = grouper.add(_det("database", 5, severity=Severity.CRITICAL))
    assert incident is not None
    assert len(grouper.open_incidents) == 1
    assert incident.service == "database"
    assert incident.services == ["auth", "database", "payments"]
    assert incident.severity is Severity.CRITICAL
    assert len(incident.detections) == 3 and len(incident.metric_values) == 3


def test_unrelated_services_and_distant_times_open_separate_incidents() -> None:
    grouper = IncidentGrouper(window_seconds=300)
    a = grouper.add(_det("email", 0))
    b = grouper.add(_det("sms", 10))
    c = grouper.add(_det("email", 2000))
    assert a is not None and b is not None and c is not None
    assert len({a.id, b.id, c.id}) == 3
    assert a.fingerprint == c.fingerprint  # same kind of problem, another occurrence
    assert a.id != c.id


def test_a_late_consequence_does_not_steal_the_root() -> None:
    grouper = IncidentGrouper(root_skew_seconds=60)
    grouper.add(_det("overall", 0, kind="metric_anomaly"))
    incident = grouper.add(_det("database", 400 - 200, kind="failure"))
    assert incident is not None and incident.service == "overall"


def test_fingerprint_and_id_are_stable_and_duplicates_ignored() -> None:
    def run() -> tuple[str, str]:
        grouper = IncidentGrouper()
        grouper.add(_det("auth", 0))
        inc = grouper.add(_det("database", 1))
        assert inc is not None
        assert grouper.add(_det("database", 1)) is None  # same detection id again
        return inc.id, inc.fingerprint

    assert run() == run()


def test_quiet_incidents_resolve() -> None:
    grouper = IncidentGrouper(resolve_after_seconds=600)
    grouper.add(_det("sms", 0))
    assert grouper.expire(T0 + timedelta(seconds=599)) == []
    (resolved,) = grouper.expire(T0 + timedelta(seconds=600))
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    assert grouper.open_incidents == []


def test_templates_are_attached_from_the_miner() -> None:
    miner = _miner()
    _normal(miner, 300)
    detections = []
    for i in range(10):
        detections += miner.observe(_log(300 + i, "database connection failed: refused", level="ERROR"))
    grouper = IncidentGrouper(template_source=miner.summaries)
    incident = None
    for d in detections:
        incident = grouper.add(d)
    assert incident is not None
    assert incident.log_templates[0].template.startswith("database connection failed")


def test_services_that_only_share_a_dependent_stay_apart() -> None:
    """``overall`` depends on sms and on the database, which do not depend on each other.

    Seen in a demo run under load: an SMS latency blip opened an incident, the overall check joined
    it, and a database pool forecast 3 s later joined through ``overall``: the report then blamed
    the SMS provider for the database's pool leak.
    """
    grouper = IncidentGrouper()
    sms = grouper.add(_det("sms", 0, kind="latency_anomaly"))
    overall = grouper.add(_det("overall", 1, kind="latency_anomaly"))
    database = grouper.add(_det("database", 3, kind="exhaustion_forecast"))
    assert sms is not None and overall is not None and database is not None
    assert overall.id == sms.id and overall.services == ["overall", "sms"]
    assert database.id != sms.id and database.service == "database"
    assert len(grouper.open_incidents) == 2
