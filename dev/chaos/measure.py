"""What one chaos run measured: breach, downtime, detections, actions and reports, as plain figures.

Why apart from the runner: these are the rules that turn topic records into the scorecard's numbers
(when did the threshold break, how long was a service down, which alarms were false, did the
action that ran match the ground truth), so they are pure functions of a finished run that a unit
test can feed by hand. Per-fault detection and healing reuse the demo's scoring rules.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forewarn.dev.chaos.catalogue import Scenario
from forewarn.dev.demo.scoring import DemoReport

ATTEMPTED = ("succeeded", "failed", "rolled_back", "not_validated")
RUNAWAY_REPEATS = 3  # the same action on the same service more often than this in one run is a loop
STATUS_LEVEL = {"ok": 0.0, "degraded": 0.5, "down": 1.0, "error": 1.0}


@dataclass
class Run:
    """One scenario run in one healing mode: what the watcher saw between start and end."""

    scenario: Scenario
    mode: str  # "auto" or "off"
    seed: int
    injected_at: float  # epoch of the first injection (controls: start of observation)
    ended_at: float
    report: DemoReport
    probes: list[dict[str, Any]] = field(default_factory=list)  # probe records + "seen_at"
    forecasts: list[dict[str, Any]] = field(default_factory=list)  # forecast records + "seen_at"
    actions: list[dict[str, Any]] = field(default_factory=list)  # action records + "seen_at"
    error: str | None = None

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended_at - self.injected_at)


def breach_after(run: Run) -> float | None:
    """Seconds from injection to the first probe of a faulted service in a breach status."""
    services = _fault_services(run.scenario)
    for probe in run.probes:
        if probe["service"] in services and probe.get("status") in run.scenario.breach_statuses:
            return round(float(probe["seen_at"]) - run.injected_at, 2)
    return None


def downtime_seconds(run: Run, services: set[str] | None = None, within: float | None = None) -> float:
    """Distinct wall-clock seconds in which a probe of ``services`` (default: the faulted ones) said down.

    ``within`` counts only the first so many seconds after injection, so a healing-on and a
    healing-off run of different lengths are compared over the same span.
    """
    watched = services if services is not None else (_fault_services(run.scenario) or None)
    end = run.injected_at + within if within is not None else float("inf")
    seconds = {
        math.floor(p["seen_at"])
        for p in run.probes
        if p.get("status") == "down" and (watched is None or p["service"] in watched) and p["seen_at"] <= end
    }
    return float(len(seconds))


def downtime_by_service(run: Run, within: float | None = None) -> dict[str, float]:
    services = sorted({str(p["service"]) for p in run.probes})
    return {s: downtime_seconds(run, {s}, within) for s in services}


def downtime_cost(run: Run, cost_per_minute: dict[str, float], within: float | None = None) -> float:
    """Downtime priced per service with the business settings (``slo.services.<name>.cost_per_minute``)."""
    by_service = downtime_by_service(run, within)
    return round(sum(sec / 60 * cost_per_minute.get(svc, 0.0) for svc, sec in by_service.items()), 2)


def detection_delay(run: Run) -> float | None:
    """Seconds until every fault was detected (the slowest one), or None if one never was."""
    delays = [f.detection_delay_seconds for f in run.report.faults]
    if not delays or any(d is None for d in delays):
        return None
    return max(d for d in delays if d is not None)


def false_alarms(run: Run) -> int:
    """Detections after injection on a service the ground truth does not implicate (all, on controls)."""
    allowed = set(run.scenario.services)
    count = 0
    for detection in run.report.detections:
        if str(detection.get("service")) in allowed:
            continue
        count += 1
    return count


def detection_digest(run: Run) -> list[str]:
    """Every detection of the run, compactly: "<s after injection> <service> <kind>: <reason>"."""
    lines = []
    for d in run.report.detections:
        at = datetime.fromisoformat(str(d.get("detected_at"))).timestamp() - run.injected_at
        lines.append(f"{at:.1f} {d.get('service')} {d.get('detection_kind')}: {str(d.get('reason'))[:90]}")
    return lines


def actions(run: Run) -> list[dict[str, Any]]:
    """The latest state of each action record (an action is republished as its status changes)."""
    return list({str(a.get("id")): a for a in run.report.actions}.values())


def action_counts(run: Run) -> dict[str, int]:
    records = actions(run)
    attempts = [a for a in records if a.get("action") != "decision" and a.get("status") in ATTEMPTED]
    runs = Counter((str(a.get("service")), str(a.get("action"))) for a in attempts)
    right = {action for f in run.scenario.faults for action in f.right_actions}
    implicated = set(run.scenario.services)
    return {
        # An action the ground truth does not call for, or on a service it does not implicate.
        "wrong_actions": sum(
            1 for a in attempts if a.get("action") not in right or a.get("service") not in implicated
        ),
        "attempts": len(attempts),
        "succeeded": sum(1 for a in attempts if a.get("status") == "succeeded"),
        "rollbacks": sum(1 for a in records if a.get("status") == "rolled_back"),
        "escalations": sum(1 for a in records if a.get("status") == "escalated"),
        "runaway_loops": sum(1 for n in runs.values() if n > RUNAWAY_REPEATS),
    }


def escalated(run: Run, services: list[str]) -> bool:
    return any(a.get("status") == "escalated" and a.get("service") in services for a in actions(run))


def auto_resolved(run: Run) -> bool | None:
    """Every fault that automation can fix was fixed by a right action, and its root is up at the end.

    None on controls and when every fault is one only a human can fix (the right move is escalate).
    """
    fixable = [f for f in run.scenario.faults if not f.escalate]
    if not fixable:
        return None
    for truth, outcome in zip(run.scenario.faults, run.report.faults, strict=True):
        if truth.escalate:
            continue
        if not outcome.healed or outcome.healing_action not in truth.right_actions:
            return False
        if _last_status(run, truth.root_service) == "down":
            return False
    return True


def resolution_seconds(run: Run) -> float | None:
    """Seconds from injection to the last fixable fault's validated heal (None unless auto-resolved)."""
    if not auto_resolved(run):
        return None
    times = [
        o.healed_after_seconds
        for t, o in zip(run.scenario.faults, run.report.faults, strict=True)
        if not t.escalate and o.healed_after_seconds is not None
    ]
    return max(times) if times else None


def escalation_correct(run: Run) -> bool | None:
    """For faults only a human can fix: was a human called (an escalated decision on its services)?"""
    needing = [f for f in run.scenario.faults if f.escalate]
    if not needing:
        return None
    return all(escalated(run, list(f.step.services)) for f in needing)


def report_cause_correct(run: Run) -> bool | None:
    """Did an incident's report name each fault's root service and cause category (None on controls)?"""
    if run.scenario.control:
        return None
    reports = [i.get("report") or {} for i in run.report.incidents]
    for truth in run.scenario.faults:
        named = any(
            r.get("cause_service") == truth.root_service
            and (not truth.cause or r.get("cause_category") == truth.cause)
            for r in reports
        )
        if not named:
            return False
    return True


def report_cites_logs(run: Run) -> bool:
    """An incident of this run carries mined log templates and its report cites one as evidence."""
    for incident in run.report.incidents:
        evidence = (incident.get("report") or {}).get("evidence") or []
        if incident.get("log_templates") and any(e.get("kind") == "log_template" for e in evidence):
            return True
    return False


def llm_tokens(run: Run) -> dict[str, float]:
    reports = [i.get("report") or {} for i in run.report.incidents]
    llm = [r for r in reports if r.get("source") == "llm"]
    return {
        "reports": len(reports),
        "llm_reports": len(llm),
        "tokens": sum(int(r.get("prompt_tokens", 0)) + int(r.get("completion_tokens", 0)) for r in llm),
        "cost_usd": round(sum(float(r.get("cost_usd", 0.0)) for r in llm), 6),
    }


def _fault_services(scenario: Scenario) -> set[str]:
    return {s for f in scenario.faults for s in f.step.services}


def _last_status(run: Run, service: str) -> str | None:
    mine = [p for p in run.probes if p["service"] == service]
    return str(mine[-1].get("status")) if mine else None


def signal_series(run: Run, signal: str) -> list[tuple[float, float]]:
    """The plotted signal as (seconds since injection, value): a gauge, or a probe's health level."""
    if signal.startswith("probe:"):
        service = signal.removeprefix("probe:")
        return [
            (p["seen_at"] - run.injected_at, STATUS_LEVEL.get(str(p.get("status")), 1.0))
            for p in run.probes
            if p["service"] == service
        ]
    return [(t - run.injected_at, v) for t, v in run.report.gauges.get(signal, [])]
