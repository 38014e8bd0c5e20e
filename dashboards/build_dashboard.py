"""Generate ``dashboards/forewarn.json``, the Grafana dashboard, from the panel list below.

Why generated: a Grafana dashboard is ~1,000 lines of JSON where the only interesting part is the
PromQL; keeping the panels here as (title, expressions) makes them reviewable, and a test checks that
the committed JSON is what this script produces. Another test loads every expression into a real
Prometheus and requires it to parse and return data.

Run: ``python dashboards/build_dashboard.py`` (rewrites forewarn.json next to it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "forewarn.json"
SERVICE = 'service=~"$service"'


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: list[tuple[str, str]]  # (PromQL, legend)
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 8
    thresholds: list[tuple[float, str]] = field(default_factory=list)


ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Services overview",
        [
            Panel(
                "Up (latest probe)",
                [(f"forewarn_probe_up{{{SERVICE}}}", "{{service}}")],
                kind="stat",
                unit="bool_on_off",
                thresholds=[(0, "red"), (1, "green")],
                description="1 when the service's latest health probe passed.",
            ),
            Panel(
                "Availability vs SLO (30 d)",
                [
                    (f'forewarn_slo_sli_ratio{{objective="availability",{SERVICE}}}', "{{service}}"),
                    (
                        f'forewarn_slo_target_ratio{{objective="availability",{SERVICE}}}',
                        "target {{service}}",
                    ),
                ],
                unit="percentunit",
            ),
            Panel(
                "Error budget left",
                [(f"forewarn_slo_error_budget_remaining_ratio{{{SERVICE}}}", "{{service}} {{objective}}")],
                kind="bargauge",
                unit="percentunit",
                thresholds=[(0, "red"), (0.25, "orange"), (0.5, "green")],
            ),
            Panel(
                "Probe failure ratio",
                [
                    (
                        "sum by (service) "
                        f'(rate(forewarn_probes_total{{status!="ok",{SERVICE}}}[$__rate_interval]))'
                        f" / sum by (service) (rate(forewarn_probes_total{{{SERVICE}}}[$__rate_interval]))",
                        "{{service}}",
                    )
                ],
                unit="percentunit",
            ),
            Panel(
                "Probe latency p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, service) "
                        f"(rate(forewarn_probe_latency_seconds_bucket{{{SERVICE}}}[$__rate_interval])))",
                        "{{service}}",
                    )
                ],
                unit="s",
            ),
            Panel(
                "Burn rate (1 h and 5 m windows)",
                [
                    (
                        f'forewarn_slo_burn_rate{{window=~"1h|5m",{SERVICE}}}',
                        "{{service}} {{objective}} {{window}}",
                    )
                ],
                description="Multi-window burn rates; the page alert fires when both exceed 14.4.",
            ),
            Panel(
                "Burn-rate alerts firing",
                [
                    (
                        f"max by (service, severity) (forewarn_slo_alert_firing{{{SERVICE}}})",
                        "{{service}} {{severity}}",
                    )
                ],
                kind="stat",
                thresholds=[(0, "green"), (1, "red")],
            ),
            Panel(
                "Downtime cost (30 d)",
                [(f"forewarn_downtime_cost_usd{{{SERVICE}}}", "{{service}}")],
                kind="bargauge",
                unit="currencyUSD",
            ),
            Panel(
                "Customers affected (30 d)",
                [(f"forewarn_downtime_users_affected{{{SERVICE}}}", "{{service}}")],
                kind="bargauge",
            ),
        ],
    ),
    (
        "Forecasts",
        [
            Panel(
                "Time to exhaustion",
                [(f"forewarn_forecast_time_to_exhaustion_seconds{{{SERVICE}}}", "{{service}} {{metric}}")],
                unit="s",
                width=12,
                description="When each resource runs out at its current trend (absent: no crossing).",
            ),
            Panel(
                "Breach probability within horizon",
                [(f"forewarn_forecast_breach_probability{{{SERVICE}}}", "{{service}} {{metric}}")],
                unit="percentunit",
                width=12,
            ),
            Panel(
                "Forecast value",
                [(f"forewarn_forecast_value{{{SERVICE}}}", "{{service}} {{metric}}")],
                width=12,
            ),
            Panel(
                "Forecasts per second",
                [
                    (
                        f"sum by (service) (rate(forewarn_forecasts_total{{{SERVICE}}}[$__rate_interval]))",
                        "{{service}}",
                    )
                ],
                width=12,
            ),
        ],
    ),
    (
        "Incidents",
        [
            Panel(
                "Detections (1 h)",
                [
                    (
                        f"sum by (service, kind) (increase(forewarn_detections_total{{{SERVICE}}}[1h]))",
                        "{{service}} {{kind}}",
                    )
                ],
            ),
            Panel(
                "Incidents by status",
                [("sum by (status) (forewarn_incidents)", "{{status}}")],
                kind="stat",
            ),
            Panel(
                "Downtime (30 d)",
                [(f"forewarn_downtime_seconds{{{SERVICE}}}", "{{service}}")],
                kind="bargauge",
                unit="s",
            ),
        ],
    ),
    (
        "Healing",
        [
            Panel(
                "Heal attempts (1 h)",
                [("sum by (action) (increase(forewarn_heal_attempts_total[1h]))", "{{action}}")],
            ),
            Panel(
                "Heal success rate (1 h)",
                [
                    (
                        "sum(increase(forewarn_heal_successes_total[1h]))"
                        " / sum(increase(forewarn_heal_attempts_total[1h]))",
                        "success rate",
                    )
                ],
                kind="stat",
                unit="percentunit",
            ),
            Panel(
                "Rollbacks and guard rejections (1 h)",
                [
                    ("sum(increase(forewarn_heal_rollbacks_total[1h]))", "rollbacks"),
                    (
                        "sum by (guard) (increase(forewarn_heal_guard_rejections_total[1h]))",
                        "rejected by {{guard}}",
                    ),
                ],
            ),
            Panel(
                "Pending approvals / kill switch",
                [
                    ("forewarn_heal_pending_actions", "pending"),
                    ("forewarn_heal_kill_switch_engaged", "kill switch"),
                ],
                kind="stat",
            ),
            Panel(
                "False-heal rate (1 d)",
                [
                    (
                        "sum(increase(forewarn_false_heals_total[1d]))"
                        " / sum(increase(forewarn_heals_evaluated_total[1d]))",
                        "false heals",
                    )
                ],
                kind="stat",
                unit="percentunit",
                description=(
                    "Share of validated heals that did not heal: the action ran and the service's "
                    "health check still failed (monitoring the monitor)."
                ),
            ),
            Panel(
                "Warning lead time p50 (1 h)",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        "(rate(forewarn_warning_lead_time_seconds_bucket[1h])))",
                        "p50 lead time",
                    )
                ],
                kind="stat",
                unit="s",
            ),
        ],
    ),
    (
        "Engine health",
        [
            Panel(
                "Events per second by topic",
                [("sum by (topic) (rate(forewarn_pipeline_events_total[$__rate_interval]))", "{{topic}}")],
            ),
            Panel(
                "Dead letters per second",
                [
                    (
                        "sum by (reason) (rate(forewarn_pipeline_dead_letters_total[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
            ),
            Panel(
                "Event lag p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        "(rate(forewarn_pipeline_event_lag_seconds_bucket[$__rate_interval])))",
                        "p95 lag",
                    )
                ],
                unit="s",
            ),
            Panel(
                "Age of newest event / heartbeat",
                [
                    ("time() - forewarn_pipeline_last_event_timestamp_seconds", "newest event age"),
                    ("time() - forewarn_pipeline_heartbeat_timestamp_seconds", "dataflow heartbeat age"),
                    (
                        "time() - max by (component) (forewarn_heartbeat_timestamp_seconds)",
                        "{{component}} heartbeat age",
                    ),
                    (
                        "time() - max by (topic) (forewarn_topic_last_event_timestamp_seconds)",
                        "store: {{topic}}",
                    ),
                ],
                unit="s",
            ),
            Panel(
                "LLM spend (1 d) and budget left",
                [
                    ("sum(increase(forewarn_llm_cost_usd_total[1d]))", "spend"),
                    ("forewarn_llm_budget_remaining_usd", "budget left"),
                ],
                unit="currencyUSD",
            ),
            Panel(
                "LLM tokens per second",
                [("sum by (kind) (rate(forewarn_llm_tokens_total[$__rate_interval]))", "{{kind}}")],
            ),
            Panel(
                "API requests per second",
                [
                    (
                        "sum by (route, status) (rate(forewarn_api_requests_total[$__rate_interval]))",
                        "{{route}} {{status}}",
                    )
                ],
            ),
            Panel(
                "Store rows",
                [("forewarn_store_rows", "{{kind}}")],
                kind="bargauge",
            ),
            Panel(
                "Scrape targets up",
                [('up{job=~"forewarn.*"}', "{{job}} {{instance}}")],
                kind="stat",
            ),
        ],
    ),
]


def _panel(panel: Panel, ident: int, x: int, y: int) -> dict[str, Any]:
    steps = [
        {"color": color, "value": None if i == 0 else value}
        for i, (value, color) in enumerate(panel.thresholds)
    ]
    return {
        "id": ident,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                **({"thresholds": {"mode": "absolute", "steps": steps}} if steps else {}),
            },
            "overrides": [],
        },
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(panel.exprs)
        ],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    ident = 1
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "id": ident,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        ident += 1
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > 24:
                x = 0
                y += 8
            panels.append(_panel(panel, ident, x, y))
            ident += 1
            x += panel.width
        y += 8
    return {
        "uid": "forewarn",
        "title": "forewarn",
        "description": "Services, forecasts, incidents, healing and forewarn's own health.",
        "tags": ["forewarn"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                },
                {
                    "name": "service",
                    "type": "query",
                    "label": "Service",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": {"query": "label_values(forewarn_probe_up, service)", "refId": "service"},
                    "definition": "label_values(forewarn_probe_up, service)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
