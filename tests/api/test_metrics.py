"""The shared metric families: names, labels and the observe helpers, on isolated registries."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from forewarn.events import ProbeResult
from forewarn.metrics import (
    api_metrics,
    engine_metrics,
    forecast_metrics,
    healing_metrics,
    llm_metrics,
    probe_metrics,
)

pytestmark = pytest.mark.unit


def test_probe_observe_sets_latency_up_and_outcome() -> None:
    registry = CollectorRegistry()
    probes = probe_metrics(registry)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    probes.observe(
        ProbeResult(service="auth", endpoint="/h", timestamp=at, latency_ms=120.0, ok=True, status="ok")
    )
    probes.observe(ProbeResult(service="auth", endpoint="/h", timestamp=at, latency_ms=5000.0, ok=False))
    value = registry.get_sample_value
    assert value("forewarn_probe_up", {"service": "auth"}) == 0.0
    assert value("forewarn_probes_total", {"service": "auth", "status": "ok"}) == 1.0
    assert value("forewarn_probes_total", {"service": "auth", "status": "down"}) == 1.0
    assert value("forewarn_probe_latency_seconds_count", {"service": "auth"}) == 2.0
    assert value("forewarn_probe_latency_seconds_sum", {"service": "auth"}) == pytest.approx(5.12)
    assert value("forewarn_probe_latency_seconds_bucket", {"service": "auth", "le": "0.25"}) == 1.0


def test_forecast_without_crossing_drops_the_time_to_exhaustion_series() -> None:
    registry = CollectorRegistry()
    forecasts = forecast_metrics(registry)
    labels = {"service": "database", "metric": "db_pool_in_use"}
    forecasts.observe(
        "database", "db_pool_in_use", point=0.9, breach_probability=0.7, time_to_exhaustion_seconds=600
    )
    assert registry.get_sample_value("forewarn_forecast_time_to_exhaustion_seconds", labels) == 600.0
    forecasts.observe(
        "database", "db_pool_in_use", point=0.2, breach_probability=0.0, time_to_exhaustion_seconds=None
    )
    assert registry.get_sample_value("forewarn_forecast_time_to_exhaustion_seconds", labels) is None
    assert registry.get_sample_value("forewarn_forecast_breach_probability", labels) == 0.0
    assert registry.get_sample_value("forewarn_forecasts_total", labels) == 2.0


def test_every_family_registers_once_per_registry_with_conventional_names() -> None:
    registry = CollectorRegistry()
    now = [1000.0]
    probe_metrics(registry)
    forecast_metrics(registry)
    healing_metrics(registry)
    llm_metrics(registry)
    api_metrics(registry)
    engine = engine_metrics(registry, clock=lambda: now[0])
    engine.beat("probe")
    assert registry.get_sample_value("forewarn_heartbeat_timestamp_seconds", {"component": "probe"}) == 1000.0
    names = {metric.name for metric in registry.collect()}
    assert all(name.startswith("forewarn_") for name in names)
    counters = {m.name for m in registry.collect() if m.type == "counter"}
    assert "forewarn_heal_attempts" in counters and "forewarn_llm_cost_usd" in counters  # exposed with _total
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        probe_metrics(registry)


DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "forewarn.json"
# A forewarn series name; not one inside a recording rule's name (level:metric:operations).
_SERIES = re.compile(r"(?<![\w:])(forewarn_[a-z0-9_]+)(?![\w:])")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# Labels Prometheus itself attaches to every scraped series.
_TARGET_LABELS = {"job", "instance"}


def _series_and_labels(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Every series name a registry exposes -> its label names, even before any sample exists."""
    found: dict[str, set[str]] = {}
    # prometheus_client keeps no public list of a labelled metric's label names until it has children.
    for collector, names in registry._collector_to_names.items():
        labelnames = getattr(collector, "_labelnames", None)
        if labelnames is not None:
            for name in names:
                found[name] = set(labelnames) | ({"le"} if name.endswith("_bucket") else set())
            continue
        for family in collector.collect():  # computed at scrape time (the store's collector)
            labels = set(getattr(family, "_labelnames", ())) | {k for s in family.samples for k in s.labels}
            found[family.name] = labels
    return found


def _what_the_processes_register(tmp_path: Path) -> dict[str, set[str]]:
    """One registry per process, built by the code each process runs: dataflow, probe, respond, api."""
    from bytewax.connectors.kafka import KafkaSinkMessage
    from bytewax.testing import TestingSink, TestingSource

    from forewarn.api.app import create_app
    from forewarn.incidents.service import build_responder
    from forewarn.pipeline.dataflow import FlowSinks, build_flow
    from forewarn.settings import HealingSettings, Settings
    from forewarn.store.db import Store, make_engine

    settings = Settings(healing=HealingSettings(state_dir=tmp_path / "healing"))
    dataflow, probe, respond, api = (CollectorRegistry() for _ in range(4))
    out: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    sinks = FlowSinks(TestingSink(out), TestingSink(out), TestingSink(out))
    build_flow(settings, TestingSource([]), sinks, registry=dataflow)
    probe_metrics(probe)  # what `forewarn probe --metrics-port` serves
    _responder, executor = build_responder(settings, lambda topic, key, value: None, respond)
    executor.close()
    store = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    create_app(store, settings, registry=api)
    found: dict[str, set[str]] = {}
    for registry in (dataflow, probe, respond, api):
        found |= _series_and_labels(registry)
    store.close()
    return found


def test_every_series_and_label_the_dashboard_queries_is_registered_by_a_process(tmp_path: Path) -> None:
    registered = _what_the_processes_register(tmp_path)
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    queries += [
        ("variable " + v["name"], v["definition"], "")
        for v in dashboard["templating"]["list"]
        if "definition" in v
    ]
    problems = []
    for title, expr, legend in queries:
        series = _SERIES.findall(expr)
        missing = [name for name in series if name not in registered]
        available = set().union(*(registered.get(name, set()) for name in series)) | _TARGET_LABELS
        used = set(_MATCHER.findall(expr)) | set(_LEGEND.findall(legend))
        used |= {
            label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()
        }
        if "label_values(" in expr:
            used.add(expr.rsplit(",", 1)[1].strip(" )"))
        if missing or not used <= available:
            problems.append(f"{title}: {expr} -> unknown series {missing}, labels {sorted(used - available)}")
    assert len(queries) >= 30
    assert not problems, "\n".join(problems)
