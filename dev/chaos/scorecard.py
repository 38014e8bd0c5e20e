"""The chaos scorecard: per scenario, per baseline and overall, against the seed's targets.

Why one module: the JSON is the suite's contract (``--json``, the README table, the test), so the
definitions of each figure live here once. Definitions, as the JSON's ``definitions`` also says:
detection delay and MTTR are measured from injection on the healing-on run; the breach time from
the healing-off run; lead time = breach time - detection delay; prevented = the healing-off run
breached and the healing-on run did not; false alarms = detections on services the ground truth
does not implicate (every detection on a control).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from forewarn.dev.chaos import baselines, measure
from forewarn.dev.chaos.catalogue import COMPRESSION, DAY_SECONDS, as_json
from forewarn.dev.chaos.measure import Run
from forewarn.dev.chaos.runner import Session

TARGETS = {
    "detection_seconds": 120.0,
    "resolution_seconds": 600.0,
    "healing_success": 0.90,
    "automated_resolution": 0.95,
    "false_positive_rate": 0.05,
    "uptime": 0.999,
}

DEFINITIONS = {
    "detection_delay_seconds": "first forewarn detection on an implicated service, from injection "
    "(healing on); slowest fault when there are two",
    "lead_time_seconds": "breach time without healing minus detection delay (> 0: warned before the break)",
    "prevented": "the healing-off run breached, the healing-on run did not (null: no breach without healing)",
    "auto_resolved": "every fault automation can fix was healed by a right action and its root was up at the "
    "end (null: only escalation is right, or a control)",
    "mttr_seconds": "injection to the validated heal (auto-resolved runs only)",
    "false_alarms": "detections on services the ground truth does not implicate (all detections on controls)",
    "wrong_actions": "healing actions that ran although the ground truth calls for another action or none, "
    "or on a service it does not implicate (they still count in healing success if validated)",
    "downtime_seconds": "distinct seconds in which a probe of a faulted service said down, healing on and "
    "off counted over the same span after injection (the shorter run's length)",
    "report_cause_correct": "an incident report named the root service and cause category of every fault",
    "false_positive_rate": "false-alarm detections / all detections, healing-on runs",
    "uptime": "1 - downtime / compared seconds over the healing-on runs (fault windows only, not a month)",
}


def build(sessions: list[Session], cost_per_minute: dict[str, float]) -> dict[str, Any]:
    pairs = [(s, _pair(s, name)) for s in sessions for name in _names(s)]
    scenarios = [_scenario(s, on, off, cost_per_minute) for s, (on, off) in pairs]
    detect_only = [_detect_only(on, off) for _, (on, off) in pairs]
    static = [_baseline(off, baselines.static_alerts(off)) for _, (_on, off) in pairs]
    predicted = [
        _baseline(off, s.predict_linear.get(off.scenario.name, []))
        for s, (_on, off) in pairs
        if off.scenario.name in s.predict_linear
    ]
    errors = sorted({s.predict_linear_error for s in sessions if s.predict_linear_error})
    return {
        "compression": COMPRESSION,
        "definitions": DEFINITIONS,
        "seeds": [s.seed for s in sessions],
        "scenarios": scenarios,
        "baselines": {
            "static": {
                "method": f"Alertmanager-style rule per service: probe degraded/down for: "
                f"{baselines.STATIC_FOR_SECONDS:.0f}s, on the healing-off run's recorded probes",
                **_baseline_block(static),
            },
            "predict_linear": {
                "method": "real Prometheus (Debian package) scraping the demo app's /metrics every 1 s; "
                "query_range at 1 s steps of " + "; ".join(r.expr for r in baselines.PREDICT_RULES),
                "evaluated_by": "prometheus" if predicted else "not evaluated",
                "errors": errors,
                **_baseline_block(predicted),
            },
            "detect_only": {
                "method": "forewarn's own detections on the healing-off run",
                **_baseline_block(detect_only),
            },
        },
        "summary": _summary(scenarios, [on for _, (on, _off) in pairs]),
    }


def _names(session: Session) -> list[str]:
    seen: list[str] = []
    for run in session.runs:
        if run.scenario.name not in seen:
            seen.append(run.scenario.name)
    return seen


def _pair(session: Session, name: str) -> tuple[Run, Run]:
    runs = {r.mode: r for r in session.runs if r.scenario.name == name}
    return runs["auto"], runs["off"]


def _scenario(session: Session, on: Run, off: Run, cost: dict[str, float]) -> dict[str, Any]:
    breach_off = measure.breach_after(off)
    breach_on = measure.breach_after(on)
    delay = measure.detection_delay(on)
    counts = measure.action_counts(on)
    truth = as_json(on.scenario)
    truth["breach_after_seconds_without_healing"] = breach_off
    span = min(on.seconds, off.seconds)  # both runs' downtime over the same span after injection
    return {
        "name": on.scenario.name,
        "seed": session.seed,
        "ground_truth": truth,
        "detection_delay_seconds": delay,
        "lead_time_seconds": _lead(breach_off, delay),
        "prevented": None if breach_off is None else breach_on is None,
        "auto_resolved": measure.auto_resolved(on),
        "mttr_seconds": measure.resolution_seconds(on),
        "false_alarms": measure.false_alarms(on),
        "downtime_seconds": measure.downtime_seconds(on, within=span),
        "downtime_without_healing_seconds": measure.downtime_seconds(off, within=span),
        "downtime_compared_over_seconds": round(span, 1),
        "downtime_cost_usd": measure.downtime_cost(on, cost, span),
        "downtime_cost_without_healing_usd": measure.downtime_cost(off, cost, span),
        "report_cause_correct": measure.report_cause_correct(on),
        "report_cites_logs": measure.report_cites_logs(on),
        "healing_attempts": counts["attempts"],
        "healing_succeeded": counts["succeeded"],
        "healing_success": _ratio(counts["succeeded"], counts["attempts"]),
        "wrong_actions": counts["wrong_actions"],
        "rollbacks": counts["rollbacks"],
        "escalations": counts["escalations"],
        "escalation_correct": measure.escalation_correct(on),
        "runaway_loops": counts["runaway_loops"],
        "actions": sorted(
            {f"{a.get('service')}:{a.get('action')}:{a.get('status')}" for a in measure.actions(on)}
        ),
        "llm": measure.llm_tokens(on),
        "detections": measure.detection_digest(on),
        "run_seconds": {"auto": round(on.seconds, 1), "off": round(off.seconds, 1)},
        "errors": [e for e in (on.error, off.error) if e],
    }


def _detect_only(on: Run, off: Run) -> dict[str, Any]:
    breach = measure.breach_after(off)
    delay = measure.detection_delay(off)
    return {
        "name": off.scenario.name,
        "seed": off.seed,
        "detection_delay_seconds": delay,
        "lead_time_seconds": _lead(breach, delay),
        "prevented": False if breach is not None else None,
        "auto_resolved": False if not off.scenario.control else None,
        "mttr_seconds": None,
        "false_alarms": measure.false_alarms(off),
        "downtime_seconds": measure.downtime_seconds(off),
        "report_cause_correct": measure.report_cause_correct(off),
    }


def _baseline(off: Run, alerts: list[baselines.Alert]) -> dict[str, Any]:
    line = baselines.alert_metrics(off, alerts, measure.breach_after(off))
    line["downtime_seconds"] = measure.downtime_seconds(off)
    return {"name": off.scenario.name, "seed": off.seed, **line}


def _baseline_block(lines: list[dict[str, Any]]) -> dict[str, Any]:
    faults = [x for x in lines if x["auto_resolved"] is not None or x["prevented"] is not None]
    delays = [x["detection_delay_seconds"] for x in faults]
    return {
        "scenarios": lines,
        "detected": sum(1 for d in delays if d is not None),
        "fault_scenarios": len(faults),
        "detection_delay_median_seconds": _median([d for d in delays if d is not None]),
        "detection_delay_p95_seconds": _p95(delays),
        "warned_before_breach": sum(1 for x in lines if (x["lead_time_seconds"] or 0) > 0),
        "false_alarms": sum(int(x["false_alarms"]) for x in lines),
    }


def _summary(scenarios: list[dict[str, Any]], runs: list[Run]) -> dict[str, Any]:
    faults = [x for x in scenarios if not x["ground_truth"]["control"]]
    delays = [x["detection_delay_seconds"] for x in faults]
    mttrs = [x["mttr_seconds"] for x in faults if x["mttr_seconds"] is not None]
    attempts = sum(x["healing_attempts"] for x in scenarios)
    succeeded = sum(x["healing_succeeded"] for x in scenarios)
    resolved = [x for x in faults if x["auto_resolved"]]
    fixable = [x for x in faults if x["auto_resolved"] is not None]
    detections = sum(len(r.report.detections) for r in runs)
    false = sum(x["false_alarms"] for x in scenarios)
    seconds = sum(x["downtime_compared_over_seconds"] for x in scenarios)
    down = sum(x["downtime_seconds"] for x in scenarios)
    controls = [r for r in runs if r.scenario.control]
    control_days = sum(r.seconds for r in controls) / DAY_SECONDS * 6  # six services watched
    detection_p95 = _p95(delays)
    targets = {
        "detection_under_120s": _target(
            detection_p95,
            TARGETS["detection_seconds"],
            lambda v, t: v < t,
            f"p95 over {len(faults)} faults, undetected = never",
        ),
        "resolution_under_600s": _target(
            _p95(mttrs) if mttrs else None,
            TARGETS["resolution_seconds"],
            lambda v, t: v < t,
            f"p95 MTTR over {len(mttrs)} auto-resolved faults",
        ),
        "healing_success_over_90pct": _target(
            _ratio(succeeded, attempts),
            TARGETS["healing_success"],
            lambda v, t: v > t,
            f"{succeeded}/{attempts} actions validated",
        ),
        "automated_resolution_over_95pct": _target(
            _ratio(len(resolved), len(faults)),
            TARGETS["automated_resolution"],
            lambda v, t: v > t,
            f"{len(resolved)}/{len(faults)} fault scenarios auto-resolved "
            f"({len(resolved)}/{len(fixable)} of those automation may fix; the rest must escalate)",
        ),
        "false_positives_under_5pct": _target(
            _ratio(false, detections),
            TARGETS["false_positive_rate"],
            lambda v, t: v < t,
            f"{false}/{detections} detections",
        ),
        "uptime_over_99_9pct": _target(
            round(1 - down / seconds, 5) if seconds else None,
            TARGETS["uptime"],
            lambda v, t: v > t,
            f"{down:.0f} s down in {seconds:.0f} s of fault windows",
        ),
    }
    return {
        "targets": targets,
        "detection_delay_median_seconds": _median([d for d in delays if d is not None]),
        "detection_delay_p95_seconds": detection_p95,
        "detected": sum(1 for d in delays if d is not None),
        "fault_scenarios": len(faults),
        "prevented": sum(1 for x in faults if x["prevented"]),
        "breached_without_healing": sum(1 for x in faults if x["prevented"] is not None),
        "auto_resolved": len(resolved),
        "mttr_median_seconds": _median(mttrs),
        "wrong_actions": sum(x["wrong_actions"] for x in scenarios),
        "rollbacks": sum(x["rollbacks"] for x in scenarios),
        "escalations": sum(x["escalations"] for x in scenarios),
        "runaway_loops": sum(x["runaway_loops"] for x in scenarios),
        "false_alarms_per_service_day": round(
            sum(x["false_alarms"] for x in scenarios if x["ground_truth"]["control"]) / control_days, 2
        )
        if control_days
        else None,
        "report_cause_correct": sum(1 for x in faults if x["report_cause_correct"]),
        "report_cites_logs": sum(1 for x in faults if x["report_cites_logs"]),
        "downtime_seconds": down,
        "downtime_without_healing_seconds": sum(x["downtime_without_healing_seconds"] for x in scenarios),
        "downtime_cost_usd": round(sum(x["downtime_cost_usd"] for x in scenarios), 2),
        "downtime_cost_without_healing_usd": round(
            sum(x["downtime_cost_without_healing_usd"] for x in scenarios), 2
        ),
        "llm_tokens": sum(x["llm"]["tokens"] for x in scenarios),
        "llm_cost_usd": round(sum(x["llm"]["cost_usd"] for x in scenarios), 6),
    }


def _target(
    value: float | None, target: float, ok: Callable[[float, float], bool], basis: str
) -> dict[str, Any]:
    return {
        "measured": value,
        "target": target,
        "met": value is not None and ok(value, target),
        "basis": basis,
    }


def _lead(breach: float | None, delay: float | None) -> float | None:
    return round(breach - delay, 2) if breach is not None and delay is not None else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _p95(values: list[float | None]) -> float | None:
    """Nearest-rank p95; a missing value (never detected) ranks as infinite, so it can only hurt."""
    if not values:
        return None
    ranked = sorted(float("inf") if v is None else v for v in values)
    value = ranked[max(0, -(-95 * len(ranked) // 100) - 1)]
    return None if value == float("inf") else round(value, 2)
