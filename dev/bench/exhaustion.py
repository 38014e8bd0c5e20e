"""Exhaustion lead-time benchmark: how far ahead is a breach predicted, and at what false-alarm cost?

Why synthetic traces: real breaches are rare and unlabeled; here every trace has a known fault onset and
a known breach time, with the nuisances real gauges have (noise, daily load cycles, bursts). Three
alerting rules watch the *same* traces minute by minute:

* ``forewarn``: :class:`TrendForecaster`, alert when P(breach within ``horizon``) >= ``probability``.
* ``predict_linear``: Prometheus' ``predict_linear(x[1h], horizon) > threshold`` (OLS over the last hour).
* ``static``: ``x > 0.9 * capacity``, the classic threshold alert.

Reported per rule: minutes of warning before the breach (median, p10, p90), the share of faults warned
>= 10 minutes ahead, missed faults, and false warnings per series-day (alert episodes that start before
the fault began, or anywhere on a no-fault control).

Also the *number people read*: the estimated time to exhaustion when 60, 30 and 10 minutes were really
left, for ``TrendForecaster`` and for the time a Prometheus-style line over the last hour implies
(``(capacity - fitted now) / slope``). Reported as the median estimate / truth ratio and the share of
estimates within a factor of 1.5 of the truth (no estimate counts as a miss).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from forewarn.models.trend import TrendForecaster

STEP_SECONDS = 60.0
DAYS = 3
CAPACITY = 100.0
T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86_400.0)  # midnight UTC, so daily cycles line up
KINDS = (
    "linear_leak",
    "accelerating_leak",
    "bursty_disk_fill",
    "pool_under_load",
    "control_daily",
    "control_bursty",
    "control_batch_ramp",
)


@dataclass(frozen=True, slots=True)
class Trace:
    kind: str
    values: list[float]
    onset_index: int | None  # when the fault began (None for controls)
    breach_index: int | None  # first sample >= capacity (None: never breached)


def _daily(i: int, amplitude: float) -> float:
    return amplitude * math.sin(2 * math.pi * (i * STEP_SECONDS / 86_400.0 - 0.3))


def make_trace(kind: str, rng: random.Random) -> Trace:
    """One trace of ``DAYS`` days at one-minute steps; the fault (if any) breaches in day 2-3."""
    n = int(DAYS * 86_400 / STEP_SECONDS)
    onset = rng.randint(int(n * 0.45), int(n * 0.65)) if not kind.startswith("control") else None
    values: list[float] = []
    base = rng.uniform(35.0, 55.0)
    amp = rng.uniform(4.0, 10.0)
    noise = rng.uniform(0.5, 2.0)
    breach_minutes = rng.uniform(180.0, 900.0)  # fault duration from onset to (noise-free) breach
    disk = base
    load_growth = 0.0
    for i in range(n):
        v = base + _daily(i, amp) + rng.gauss(0.0, noise)
        since = (i - onset) if onset is not None and i >= onset else None
        if kind == "linear_leak" and since is not None:
            v += (CAPACITY - base + amp) * since / breach_minutes
        elif kind == "accelerating_leak" and since is not None:
            v += (CAPACITY - base + amp) * (since / breach_minutes) ** 2
        elif kind == "bursty_disk_fill":
            if since is not None and rng.random() < 0.05:
                disk += rng.expovariate(1.0) * (CAPACITY - base) / (breach_minutes * 0.05)
            v = disk + rng.gauss(0.0, noise * 0.2)
        elif kind == "pool_under_load":
            if since is not None:
                load_growth = (CAPACITY - base + amp) * since / breach_minutes
            v = min(CAPACITY, base + _daily(i, amp) + load_growth + rng.gauss(0.0, noise))
        elif kind == "control_daily":
            # busy-hour peaks reach 85-95 % every day and never breach: the static rule's nemesis
            peak = rng_peak if (rng_peak := (base + amp)) else 0.0
            v = (
                base
                + (v - base) * (0.0 + 1.0)
                + (90.0 - peak) * (0.5 + 0.5 * math.sin(2 * math.pi * (i * STEP_SECONDS / 86_400.0 - 0.3)))
            )
        elif kind == "control_bursty":
            v = base + (rng.uniform(15.0, 30.0) if rng.random() < 0.01 else 0.0) + rng.gauss(0.0, noise)
        elif kind == "control_batch_ramp":
            # a batch job every 6 h: usage climbs steeply for 30 min to ~85 %, then is released
            phase = i % 360
            v = base + rng.gauss(0.0, noise) + ((85.0 - base) * phase / 30.0 if phase < 30 else 0.0)
        values.append(v)
        if onset is not None and v >= CAPACITY:
            return Trace(kind, values, onset, i)
    return Trace(kind, values, onset, None)


Rule = Callable[[list[float], int, TrendForecaster], bool]
CHECKPOINTS_MINUTES = (60, 30, 10)


def _predict_linear(values: list[float], i: int, window: int, horizon_steps: float) -> float:
    lo = max(0, i - window + 1)
    ys = values[lo : i + 1]
    n = len(ys)
    if n < 2:
        return ys[-1]
    mx = (n - 1) / 2.0
    my = sum(ys) / n
    sxx = sum((k - mx) ** 2 for k in range(n))
    sxy = sum((k - mx) * (y - my) for k, y in enumerate(ys))
    slope = sxy / sxx
    return my + slope * ((n - 1 - mx) + horizon_steps)


def _linear_tte_minutes(values: list[float], i: int, window: int) -> float | None:
    """Minutes until the OLS line over the last ``window`` steps reaches capacity (None: not rising)."""
    now = _predict_linear(values, i, window, 0.0)
    slope = _predict_linear(values, i, window, 1.0) - now  # per step (one minute)
    if now >= CAPACITY:
        return 0.0
    return (CAPACITY - now) / slope * STEP_SECONDS / 60.0 if slope > 0 else None


Estimates = dict[int, list[tuple[float | None, float]]]  # minutes left -> (estimate, truth) pairs


def _tte_summary(estimates: Estimates) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for minutes, pairs in estimates.items():
        ratios = [est / truth if est is not None else math.inf for est, truth in pairs]
        out[str(minutes)] = {
            "cases": float(len(pairs)),
            "median_ratio": statistics.median(ratios) if ratios else None,
            "within_1_5x": (sum(1 for r in ratios if 1 / 1.5 <= r <= 1.5) / len(ratios)) if ratios else None,
            "no_estimate": float(sum(1 for est, _ in pairs if est is None)),
        }
    return out


def run_benchmark(
    seed: int = 1,
    series_per_kind: int = 8,
    horizon_minutes: float = 60.0,
    probability: float = 0.5,
    forecaster: Callable[[], TrendForecaster] = TrendForecaster,
) -> dict[str, object]:
    """Generate the traces, run the three rules on each, and summarise."""
    rng = random.Random(seed)
    traces = [make_trace(kind, rng) for kind in KINDS for _ in range(series_per_kind)]
    horizon = horizon_minutes * 60.0
    rules: dict[str, Callable[[list[float], int, TrendForecaster], bool]] = {
        "forewarn": lambda v, i, m: (
            (f := m.forecast(horizon, threshold=CAPACITY)).breach_probability is not None
            and f.breach_probability >= probability
            and f.confidence >= 0.5
        ),
        "predict_linear": lambda v, i, m: _predict_linear(v, i, 60, horizon_minutes) > CAPACITY,
        "static": lambda v, i, m: v[i] > 0.9 * CAPACITY,
    }
    per_rule: dict[str, dict[str, list[float]]] = {
        name: {"lead": [], "false": [], "missed": [], "days": []} for name in rules
    }
    per_kind_lead: dict[str, dict[str, list[float]]] = {name: {k: [] for k in KINDS} for name in rules}
    tte: dict[str, Estimates] = {
        name: {m: [] for m in CHECKPOINTS_MINUTES} for name in ("forewarn", "predict_linear")
    }
    started = time.perf_counter()
    for trace in traces:
        model = forecaster()
        alerts: dict[str, list[bool]] = {name: [] for name in rules}
        checkpoints = _checkpoints(trace)
        for i, v in enumerate(trace.values):
            model.learn_one(v, T0 + i * STEP_SECONDS)
            for name, rule in rules.items():
                alerts[name].append(i >= 60 and rule(trace.values, i, model))
            if i in checkpoints:
                seconds = model.forecast(0.0, threshold=CAPACITY).time_to_exhaustion_seconds
                left = checkpoints[i]
                tte["forewarn"][left].append((None if seconds is None else seconds / 60.0, float(left)))
                tte["predict_linear"][left].append((_linear_tte_minutes(trace.values, i, 60), float(left)))
        days = len(trace.values) * STEP_SECONDS / 86_400.0
        for name, fired in alerts.items():
            stats = per_rule[name]
            stats["days"].append(days)
            starts = [i for i, on in enumerate(fired) if on and (i == 0 or not fired[i - 1])]
            onset = trace.onset_index if trace.onset_index is not None else len(fired)
            stats["false"].append(float(sum(1 for s in starts if s < onset)))
            if trace.breach_index is None:
                continue
            warned = [i for i, on in enumerate(fired) if on and onset <= i < trace.breach_index]
            if warned:
                lead = (trace.breach_index - warned[0]) * STEP_SECONDS / 60.0
                stats["lead"].append(lead)
                per_kind_lead[name][trace.kind].append(lead)
            else:
                stats["missed"].append(1.0)
                per_kind_lead[name][trace.kind].append(0.0)
    faults = sum(1 for t in traces if t.breach_index is not None)
    summary: dict[str, object] = {}
    for name, stats in per_rule.items():
        leads = sorted(stats["lead"])
        all_leads = leads + [0.0] * len(stats["missed"])
        summary[name] = {
            "faults": faults,
            "warned": len(leads),
            "missed": len(stats["missed"]),
            "lead_minutes_median": statistics.median(all_leads) if all_leads else None,
            "lead_minutes_p10": _quantile(all_leads, 0.1),
            "lead_minutes_p90": _quantile(all_leads, 0.9),
            "share_warned_10min_ahead": (sum(1 for x in leads if x >= 10.0) / faults) if faults else None,
            "false_warnings_per_series_day": sum(stats["false"]) / sum(stats["days"]),
            "median_lead_by_kind": {k: statistics.median(v) for k, v in per_kind_lead[name].items() if v},
        }
        if name in tte:
            summary[name]["time_to_exhaustion_at"] = _tte_summary(tte[name])  # type: ignore[index]
    return {
        "seed": seed,
        "series": len(traces),
        "series_per_kind": series_per_kind,
        "kinds": list(KINDS),
        "faults_breached": faults,
        "series_days": sum(per_rule["static"]["days"]),
        "horizon_minutes": horizon_minutes,
        "forewarn_rule": f"TrendForecaster(); P(breach within {horizon_minutes:g} min) >= {probability}",
        "seconds": time.perf_counter() - started,
        "rules": summary,
    }


def _checkpoints(trace: Trace) -> dict[int, int]:
    """Step index -> minutes really left, for the checkpoints that fall after the fault began."""
    if trace.breach_index is None or trace.onset_index is None:
        return {}
    out = {}
    for minutes in CHECKPOINTS_MINUTES:
        i = trace.breach_index - int(minutes * 60 / STEP_SECONDS)
        if i >= max(trace.onset_index, 60):
            out[i] = minutes
    return out


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def format_table(report: dict[str, object]) -> str:
    rules = report["rules"]
    assert isinstance(rules, dict)
    lines = [
        f"{report['series']} traces ({report['faults_breached']} breach), "
        f"{report['series_days']:.1f} series-days, horizon {report['horizon_minutes']} min",
        f"{'rule':<16}{'median lead':>12}{'p10':>7}{'p90':>7}{'>=10 min':>10}{'missed':>8}"
        f"{'false/series-day':>18}",
    ]
    for name, r in rules.items():

        def fmt(x: object) -> str:
            return "-" if x is None else f"{x:.0f}"

        lines.append(
            f"{name:<16}{fmt(r['lead_minutes_median']):>12}{fmt(r['lead_minutes_p10']):>7}"
            f"{fmt(r['lead_minutes_p90']):>7}{r['share_warned_10min_ahead']:>10.0%}{r['missed']:>8}"
            f"{r['false_warnings_per_series_day']:>18.3f}"
        )
    lines.append("time to exhaustion shown when T min were left: median estimate/truth, share within 1.5x")
    for name, r in rules.items():
        at = r.get("time_to_exhaustion_at")
        if not at:
            continue
        cells = "".join(
            f"   T={m}: {_ratio(v['median_ratio'])} {v['within_1_5x'] or 0.0:.0%}" for m, v in at.items()
        )
        lines.append(f"{name:<16}{cells}")
    return "\n".join(lines)


def _ratio(x: float | None) -> str:
    return "-" if x is None else ("none" if math.isinf(x) else f"{x:.2f}x")
