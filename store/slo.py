"""SLOs from probe results: SLIs, error budgets, multi-window burn-rate alerts, downtime and its cost.

Why computed from the stored probe results (not from Prometheus): the API, the report and the tests
need the same numbers for any past period, and the store has every probe. The method follows the
Google SRE workbook, chapter "Alerting on SLOs": the burn rate is the bad-event fraction divided by
the error budget ``1 - target``; an alert fires only when both a long and a short window burn faster
than the threshold (the long window gives significance, the short one makes it reset quickly).

Everything here is a pure function of samples and times, so it is tested with hand-made data.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from forewarn.settings import ServiceBusiness, SloSettings

__all__ = [
    "BURN_RATE_RULES",
    "BurnRateRule",
    "Cost",
    "FiringAlert",
    "Outage",
    "Sample",
    "SloStatus",
    "downtime",
    "evaluate",
    "outage_cost",
    "outages",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe result: epoch seconds, whether it passed, its latency."""

    ts: float
    ok: bool
    latency_ms: float


@dataclass(frozen=True, slots=True)
class BurnRateRule:
    severity: str
    long_seconds: float
    short_seconds: float
    factor: float


# The workbook's recommended multiwindow, multi-burn-rate alerts for a 30-day SLO.
BURN_RATE_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", 3600.0, 300.0, 14.4),  # 2% of the budget in 1 h
    BurnRateRule("page", 6 * 3600.0, 1800.0, 6.0),  # 5% in 6 h
    BurnRateRule("ticket", 86400.0, 7200.0, 3.0),  # 10% in 1 d
    BurnRateRule("ticket", 3 * 86400.0, 6 * 3600.0, 1.0),  # 10% in 3 d
)


@dataclass(frozen=True, slots=True)
class FiringAlert:
    severity: str
    long_window_seconds: float
    short_window_seconds: float
    factor: float
    long_burn_rate: float
    short_burn_rate: float


@dataclass(frozen=True, slots=True)
class SloStatus:
    """One objective of one service over its window, with burn rates per alert window."""

    service: str
    objective: str  # "availability" or "latency"
    target: float
    sli: float | None  # None: no probes in the window
    good: int
    total: int
    error_budget_remaining: float | None  # 1.0 untouched, 0.0 spent, negative overspent
    burn_rates: dict[str, float] = field(default_factory=dict)  # window ("1h", "5m") -> rate
    alerts: list[FiringAlert] = field(default_factory=list)


def _window_name(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 60)}m"


class _Series:
    """Prefix sums over time-ordered samples, so each window is two bisections."""

    def __init__(self, samples: Sequence[Sample], threshold_ms: float) -> None:
        ordered = sorted(samples, key=lambda s: s.ts)
        self.ts = [s.ts for s in ordered]
        self.ok = [0]
        self.fast = [0]
        for s in ordered:
            self.ok.append(self.ok[-1] + int(s.ok))
            self.fast.append(self.fast[-1] + int(s.ok and s.latency_ms <= threshold_ms))

    def counts(self, since: float, until: float, objective: str) -> tuple[int, int]:
        lo = bisect.bisect_left(self.ts, since)
        hi = bisect.bisect_left(self.ts, until)
        good = self.ok if objective == "availability" else self.fast
        return good[hi] - good[lo], hi - lo


def _burn(series: _Series, since: float, until: float, objective: str, target: float) -> float:
    good, total = series.counts(since, until, objective)
    if total == 0:
        return 0.0
    return (1.0 - good / total) / (1.0 - target)


def evaluate(
    service: str,
    samples: Sequence[Sample],
    now: float,
    settings: SloSettings,
    rules: Iterable[BurnRateRule] = BURN_RATE_RULES,
) -> list[SloStatus]:
    """Availability and latency SLO status of ``service`` at ``now``."""
    business = settings.services.get(service, ServiceBusiness())
    threshold = business.latency_threshold_ms or settings.latency_threshold_ms
    targets = {
        "availability": business.availability_target or settings.availability_target,
        "latency": settings.latency_target,
    }
    series = _Series(samples, threshold)
    window = settings.window_days * 86400.0
    rules = tuple(rules)
    statuses = []
    for objective, target in targets.items():
        good, total = series.counts(now - window, now + 1e-9, objective)
        sli = good / total if total else None
        remaining = None if sli is None else 1.0 - (1.0 - sli) / (1.0 - target)
        rates: dict[str, float] = {}
        alerts: list[FiringAlert] = []
        for rule in rules:
            long_rate = _burn(series, now - rule.long_seconds, now + 1e-9, objective, target)
            short_rate = _burn(series, now - rule.short_seconds, now + 1e-9, objective, target)
            rates[_window_name(rule.long_seconds)] = long_rate
            rates[_window_name(rule.short_seconds)] = short_rate
            if long_rate > rule.factor and short_rate > rule.factor:
                alerts.append(
                    FiringAlert(
                        rule.severity,
                        rule.long_seconds,
                        rule.short_seconds,
                        rule.factor,
                        long_rate,
                        short_rate,
                    )
                )
        statuses.append(SloStatus(service, objective, target, sli, good, total, remaining, rates, alerts))
    return statuses


@dataclass(frozen=True, slots=True)
class Outage:
    """A contiguous run of failed probes: from the first failure to the next success (or cap)."""

    service: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def outages(service: str, samples: Sequence[Sample], *, max_gap_seconds: float = 300.0) -> list[Outage]:
    """Down periods. A failure counts until the next probe, but never more than ``max_gap_seconds``
    (a probe runner that stopped must not turn into hours of invented downtime)."""
    ordered = sorted(samples, key=lambda s: s.ts)
    found: list[Outage] = []
    start: float | None = None
    last_bad = 0.0
    for sample in ordered:
        if not sample.ok:
            if start is not None and sample.ts - last_bad > max_gap_seconds:
                found.append(Outage(service, start, last_bad + max_gap_seconds))
                start = None
            if start is None:
                start = sample.ts
            last_bad = sample.ts
        elif start is not None:
            found.append(Outage(service, start, min(sample.ts, last_bad + max_gap_seconds)))
            start = None
    if start is not None:
        found.append(Outage(service, start, last_bad + min(max_gap_seconds, _typical_gap(ordered))))
    return found


def _typical_gap(ordered: Sequence[Sample]) -> float:
    gaps = sorted(b.ts - a.ts for a, b in itertools.pairwise(ordered))
    return gaps[len(gaps) // 2] if gaps else 0.0


def downtime(found: Iterable[Outage], since: float, until: float) -> float:
    """Seconds of outage inside ``[since, until)``."""
    return sum(max(0.0, min(o.end, until) - max(o.start, since)) for o in found)


@dataclass(frozen=True, slots=True)
class Cost:
    downtime_seconds: float
    cost: float
    users_affected: float
    currency: str

    @property
    def downtime_minutes(self) -> float:
        return self.downtime_seconds / 60.0


def outage_cost(
    service: str,
    seconds: float,
    settings: SloSettings,
    overrides: Mapping[str, ServiceBusiness] | None = None,
) -> Cost:
    """Cost and customer impact of ``seconds`` of downtime of ``service`` (rates from config)."""
    business = (overrides or settings.services).get(service, ServiceBusiness())
    minutes = seconds / 60.0
    return Cost(
        seconds, minutes * business.cost_per_minute, minutes * business.users_per_minute, settings.currency
    )
