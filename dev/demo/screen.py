"""The demo's live screen and its end-of-run story (rich).

Why apart from the stack and the scoring: what the screen shows is read from the topic watcher and
the summary, never computed here, so the display can change without touching what the run measures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.dev.demo.scoring import DemoReport
from forewarn.dev.demo.topic_watch import Seen, TopicWatcher
from forewarn.settings import TopicSettings


class Screen:
    """The live view: a progress bar, one table per topic family and the last events."""

    def __init__(self, topics: TopicSettings, duration_seconds: float) -> None:
        self.topics = topics
        self.duration = duration_seconds
        self.events: list[str] = []
        self.progress = Progress(
            TextColumn("[bold]demo[/bold]"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
        )
        self._task: TaskID | None = None

    def note(self, text: str) -> None:
        """One line of "what happened", stamped with the wall time."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.events.append(f"{stamp}  {text}")

    def advance(self, elapsed: float) -> None:
        """Move the bar; its clock starts on the first call, when the scenario starts playing."""
        if self._task is None:
            self._task = self.progress.add_task("demo", total=self.duration)
        self.progress.update(self._task, completed=min(elapsed, self.duration))

    def render(self, watcher: TopicWatcher) -> Group:
        topics = self.topics
        return Group(
            self.progress,
            probe_table(watcher.snapshot(topics.probes)),
            detection_table(watcher.snapshot(topics.detections)),
            forecast_table(watcher.snapshot(topics.forecasts)),
            response_table(watcher.snapshot(topics.incidents), watcher.snapshot(topics.actions)),
            Panel("\n".join(self.events[-10:]) or "starting", title="what happened", border_style="blue"),
        )


def probe_table(probes: list[Seen]) -> Table:
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for seen in probes:
        service = str(seen.value.get("service"))
        latest[service] = seen.value
        counts[service] = counts.get(service, 0) + 1
    table = Table(title="probes (latest per service)", expand=True)
    for column in ("service", "status", "latency ms", "http", "probes", "details"):
        table.add_column(column)
    for service in sorted(latest):
        value = latest[service]
        ok = bool(value.get("ok"))
        status = str(value.get("status") or ("ok" if ok else "down"))
        colour = {"ok": "green", "degraded": "yellow"}.get(status, "red")
        details = value.get("details") or {}
        shown = ", ".join(f"{k}={_short(v)}" for k, v in list(details.items())[:3])
        table.add_row(
            service,
            f"[{colour}]{status}[/{colour}]",
            f"{float(value.get('latency_ms', 0.0)):.1f}",
            str(value.get("status_code") or "-"),
            str(counts[service]),
            shown,
        )
    return table


def detection_table(detections: list[Seen]) -> Table:
    table = Table(title=f"detections ({len(detections)})", expand=True)
    for column in ("time", "service", "kind", "score", "severity", "reason"):
        table.add_column(column)
    for seen in detections[-6:]:
        value = seen.value
        table.add_row(
            datetime.fromtimestamp(seen.seen_at, UTC).strftime("%H:%M:%S"),
            str(value.get("service")),
            str(value.get("detection_kind")),
            f"{float(value.get('score', 0.0)):.2f}",
            str(value.get("severity")),
            str(value.get("reason"))[:80],
        )
    return table


def forecast_table(forecasts: list[Seen]) -> Table:
    latest = {str(f.value.get("series")): f.value for f in forecasts}
    table = Table(title=f"forecasts ({len(forecasts)})", expand=True)
    for column in ("series", "now", "threshold", "P(breach)", "time to exhaustion", "confidence"):
        table.add_column(column)
    for series in sorted(latest):
        value = latest[series]
        tte = value.get("time_to_exhaustion_seconds")
        low, high = value.get("time_to_exhaustion_lower"), value.get("time_to_exhaustion_upper")
        shown = (
            "-" if tte is None else f"{tte:.0f} s" + (f" ({low:.0f} to {high:.0f})" if low and high else "")
        )
        probability = float(value.get("breach_probability") or 0.0)
        colour = "red" if probability >= 0.5 else "green"
        table.add_row(
            series,
            f"{float(value.get('current_value', 0.0)):.3g}",
            str(value.get("threshold")),
            f"[{colour}]{probability:.2f}[/{colour}]",
            shown,
            f"{float(value.get('confidence', 0.0)):.2f}",
        )
    return table


def response_table(incidents: list[Seen], actions: list[Seen]) -> Table:
    table = Table(title="incidents and healing", expand=True)
    for column in ("what", "service", "status", "detail"):
        table.add_column(column)
    latest = {str(i.value.get("id")): i.value for i in incidents}
    for value in list(latest.values())[-3:]:
        report = value.get("report") or {}
        table.add_row(
            "incident",
            str(value.get("service")),
            f"{value.get('status')} / {value.get('severity')}",
            f"{report.get('title', '')} [{report.get('source', '-')}]",
        )
    quiet = {"no_policy", "duplicate", "skipped"}
    for seen in [a for a in actions if a.value.get("status") not in quiet][-5:]:
        value = seen.value
        status = str(value.get("status"))
        colour = {"succeeded": "green", "rejected": "yellow", "failed": "red"}.get(status, "white")
        table.add_row(
            f"action {value.get('action') or ''}".strip(),
            str(value.get("service")),
            f"[{colour}]{status}[/{colour}]",
            str(value.get("detail"))[:90],
        )
    return table


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)[:16]


def print_summary(console: Console, report: DemoReport) -> None:
    """The end-of-run story: per fault, was it detected, predicted, healed; and the incident report."""
    console.print()  # the live screen's last frame ends without a newline
    for fault in report.faults:
        mark = "[green]✔[/green]" if fault.detected else "[red]✘[/red]"
        parts = [f"{mark} {fault.fault}:"]
        if fault.detected:
            parts.append(
                f"detected ({fault.first_detection_kind}) "
                f"{fault.detection_delay_seconds:.1f} s after injection;"
            )
        else:
            parts.append("not detected;")
        if fault.predicted:
            tte = fault.predicted_time_to_exhaustion_seconds
            ahead = f", forecast breach in {tte:.0f} s" if tte is not None else ""
            parts.append(
                f"exhaustion predicted {fault.predicted_after_seconds:.0f} s after injection{ahead};"
            )
        if fault.healed:
            parts.append(
                f"healed by {fault.healing_action} ({fault.healed_after_seconds:.0f} s after injection);"
            )
        parts.append("the service went down" if fault.went_down else "the service never went down")
        console.print(" ".join(parts))
    for forecast in report.api_forecasts:
        tte = forecast.get("time_to_exhaustion_seconds")
        probability = float(forecast.get("breach_probability") or 0.0)
        console.print(
            f"API /v1/forecasts: {forecast.get('service')}/{forecast.get('metric')} now "
            f"{float(forecast.get('point') or 0.0):.2f} "
            f"in {float(forecast.get('horizon_seconds') or 0):.0f} s, "
            f"P(breach)={probability:.2f}, time to exhaustion "
            + ("none at the current trend" if tte is None or tte > 86_400 else f"{float(tte):.0f} s")
        )
    if report.executive_report:
        console.print(f"executive report: {report.executive_report}")
    for incident in report.incidents:
        body = incident.get("report")
        if not body:
            continue
        lines = [
            f"[bold]{body.get('title')}[/bold]",
            f"source: {body.get('source')} report, confidence {body.get('confidence')}",
            f"impact: {body.get('impact')}",
            f"probable cause: {body.get('probable_cause')}",
            "evidence: " + "; ".join(f"{e.get('kind')} {e.get('ref')}" for e in body.get("evidence", [])[:4]),
            "runbook: " + " | ".join(body.get("runbook", [])[:4]),
        ]
        console.print(
            Panel("\n".join(lines), title=f"incident {incident.get('id')} on {incident.get('service')}")
        )
