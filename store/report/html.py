"""Render the executive report as one self-contained HTML page (charts embedded, print-friendly CSS).

Why hand-written HTML with ``html.escape`` rather than a template engine: one page, one function,
no extra dependency; every value that came from data (service names, incident titles, LLM text) is
escaped, so a hostile string in a report cannot inject markup.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from forewarn.events import Incident
from forewarn.store.report.data import ReportData
from forewarn.store.views import incident_report

__all__ = ["render_html"]

NONE_CAPACITY = '<tr><td colspan="6">no resource heading for exhaustion</td></tr>'

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #212121; margin: 24px auto; max-width: 980px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.sub { color: #616161; font-size: 13px; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 18px 0; }
.kpi { border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px; }
.kpi .v { font-size: 22px; font-weight: bold; } .kpi .l { font-size: 12px; color: #616161; }
.good { color: #2e7d32; } .bad { color: #c62828; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.charts img { width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
th, td { border-bottom: 1px solid #eee; padding: 4px 6px; text-align: left; }
th { background: #fafafa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; font-size: 12px; background: #fafafa; padding: 8px; border-radius: 4px; }
.note { font-size: 12px; color: #616161; }
@media print { .charts { grid-template-columns: 1fr 1fr; } h2 { page-break-after: avoid; } }
"""


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img id="chart-{name}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _kpi(value: str, label: str, cls: str = "") -> str:
    return (
        f'<div class="kpi"><div class="v {cls}">{escape(value)}</div>'
        f'<div class="l">{escape(label)}</div></div>'
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60.0:,.1f} min"


def render_html(data: ReportData, charts: dict[str, bytes], compliance: dict[str, Any] | None = None) -> str:
    """The report page. ``compliance`` is the audit export summary (None: no audit log found)."""
    impact = data.impact
    cur = impact.currency
    probed = [s for s in impact.services if s.availability is not None]
    breached = [s for s in probed if (s.availability or 0.0) < s.target]
    rate = data.action_success_rate
    prevented = sum(1 for b in data.breaches if b.prevented)
    kpis = "".join(
        [
            _kpi(
                f"{len(probed) - len(breached)}/{len(probed)}",
                "services within SLO",
                "good" if not breached else "bad",
            ),
            _kpi(_minutes(impact.total_downtime_seconds), "total downtime"),
            _kpi(f"{cur} {impact.total_cost:,.2f}", "downtime cost"),
            _kpi(f"{impact.total_users_affected:,.0f}", "customers affected (est.)"),
            _kpi(str(len(data.incidents)), "incidents"),
            _kpi(str(data.actions_total), "healing actions"),
            _kpi("n/a" if rate is None else f"{rate:.0%}", "action success rate"),
            _kpi(f"{prevented}/{len(data.breaches)}", "breaches prevented / predicted"),
        ]
    )
    captions = {
        "uptime": "Uptime vs SLO",
        "incidents": "Incidents and their cost",
        "actions": "Actions taken and success rate",
        "breaches": "Predicted vs prevented breaches",
        "capacity": "Capacity outlook",
        "llm": "LLM spend",
    }
    chart_html = "".join(_img(name, png, captions.get(name, name)) for name, png in charts.items())
    service_rows = "".join(
        "<tr>"
        f"<td>{escape(s.service)}</td>"
        f'<td class="n">{"-" if s.availability is None else f"{100 * s.availability:.3f}%"}</td>'
        f'<td class="n">{100 * s.target:.1f}%</td>'
        f'<td class="n">{s.probes}</td>'
        f'<td class="n">{_minutes(s.downtime_seconds)}</td>'
        f'<td class="n">{s.cost:,.2f}</td>'
        f'<td class="n">{s.users_affected:,.0f}</td>'
        "</tr>"
        for s in impact.services
    )
    costs = {incident.id: cost for incident, cost in impact.incidents}
    incident_rows = "".join(_incident_row(incident, costs.get(incident.id)) for incident in data.incidents)
    capacity_rows = "".join(
        "<tr>"
        f"<td>{escape(c.service)}</td><td>{escape(c.metric)}</td>"
        f'<td class="n">{c.time_to_exhaustion_seconds / 3600:,.1f} h</td>'
        f'<td class="n">{"-" if c.lower is None else f"{c.lower / 3600:,.1f}"} - '
        f"{'-' if c.upper is None else f'{c.upper / 3600:,.1f}'} h</td>"
        f"<td>{escape(c.model)}</td><td>{escape(c.forecast_at.isoformat()[:19])}</td>"
        "</tr>"
        for c in data.capacity
    )
    reports = "".join(
        f"<h3>{escape(_title(incident))}</h3><pre>{escape(markdown)}</pre>"
        for incident in data.incidents[:5]
        if (markdown := incident_report(incident)) is not None
    )
    period = escape(f"{data.since.date().isoformat()} to {data.until.date().isoformat()}")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in data.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>forewarn executive report {period}</title>
<style>{CSS}</style></head>
<body>
<h1>forewarn executive report</h1>
<div class="sub">Period {escape(data.since.isoformat()[:16])} to {escape(data.until.isoformat()[:16])} UTC
 &middot; generated {escape(data.generated_at.isoformat()[:19])} UTC
 &middot; {data.detections} detections</div>
{notes}
<div class="kpis">{kpis}</div>
<h2>At a glance</h2>
<div class="charts">{chart_html}</div>
<h2>Services</h2>
<table><tr><th>service</th><th>availability</th><th>SLO</th><th>probes</th><th>downtime</th>
<th>cost ({escape(cur)})</th><th>customers affected</th></tr>{service_rows}</table>
<h2>Incidents</h2>
<table><tr><th>opened (UTC)</th><th>service</th><th>title</th><th>status</th><th>downtime</th>
<th>cost ({escape(cur)})</th></tr>{incident_rows or '<tr><td colspan="6">none</td></tr>'}</table>
<h2>Capacity outlook</h2>
<table><tr><th>service</th><th>resource</th><th>exhausted in</th><th>interval</th><th>model</th>
<th>forecast at</th></tr>{capacity_rows or NONE_CAPACITY}</table>
<h2>Compliance</h2>
{_compliance(compliance)}
<h2>Incident reports (advisory, most recent first)</h2>
{reports or '<p class="note">no incident reports in this period</p>'}
<h2>Definitions</h2>
<p class="note">Availability: share of passed probes. Downtime: from the first failed probe to the next
passing one (a single gap counts at most 5 minutes). Cost and customers affected: downtime minutes times
the per-service rates in the configuration (slo.services). Predicted breach: a forecast with breach
probability &ge; 0.5 or time to exhaustion within its horizon; prevented: followed by a successful
healing action on that service and no outage until the horizon ended. LLM spend: the cost recorded on
the incident reports. Incident reports are written by an LLM or the offline reporter and are advisory.</p>
</body></html>
"""


def _incident_row(incident: Incident, cost: Any) -> str:
    downtime = "-" if cost is None else _minutes(cost.downtime_seconds)
    money = "-" if cost is None else f"{cost.cost:,.2f}"
    return (
        f"<tr><td>{escape(incident.opened_at.isoformat()[:19])}</td>"
        f"<td>{escape(incident.service)}</td><td>{escape(_title(incident))}</td>"
        f"<td>{escape(incident.status)}</td>"
        f'<td class="n">{downtime}</td><td class="n">{money}</td></tr>'
    )


def _title(incident: Incident) -> str:
    return incident.report.title if incident.report is not None else f"{incident.service} incident"


def _compliance(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return '<p class="note">No healing audit log found: nothing to export.</p>'
    chain = "intact" if summary.get("chain_ok") else "BROKEN"
    cls = "good" if summary.get("chain_ok") else "bad"
    by_event = ", ".join(f"{escape(str(k))}: {v}" for k, v in sorted(summary.get("by_event", {}).items()))
    return (
        f'<p>Audit trail <b class="{cls}">{chain}</b>; {summary.get("records", 0)} records in the period '
        f"({by_event or 'none'}). Exported to <code>{escape(str(summary.get('export', '')))}</code>.</p>"
    )
