"""The chaos scenarios and their ground truth, machine-readable.

Why a catalogue of its own: the scorecard is only as honest as the truth it compares with. Each
scenario says, before anything runs, which fault starts when, which service is the root and what
the cause is (in the incident report's own ``cause_category`` words), which healing action is right
(or that a human must be called), and which services it may rightly touch; anything else that
alarms is a false alarm. The breach time is the one part not written here: it is measured in the
same suite, on the run with healing off.

Time compression: the faults run faster than in life (a pool leak of ~1 connection/s instead of
a few an hour; a "day" of load in 120 s), so the whole suite fits in about a quarter of an hour.
:data:`COMPRESSION` states it in the JSON, next to the figures it shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forewarn.dev.demo.scoring import FaultStep

ESCALATE = "escalate"
# The compressed day of the no-fault controls (the app's load cycle period, MUSOBUDDY_LOAD_CYCLE_SECONDS).
DAY_SECONDS = 120.0

COMPRESSION = (
    "Time is compressed: faults run 30-1000x faster than in production (pool leak 1.2 conn/s, "
    "memory 25 MiB/s, disk 350 MiB/s, auth latency +100 ms/s), a day of load is 120 s, each run "
    "lasts 20-60 s, and baselines use compressed windows (static `for: 10s`, predict_linear over "
    "20 s looking 60 s ahead). Targets stated in minutes (detection < 120 s, resolution < 600 s) "
    "are compared with wall-clock seconds measured under this compression."
)


@dataclass(frozen=True)
class FaultTruth:
    """One injected fault and what a perfect responder would conclude and do."""

    step: FaultStep
    root_service: str
    cause: str  # the report's cause_category for it; "" = the schema has no word for it
    right_actions: tuple[str, ...]  # any of these heals it; (ESCALATE,) = only a human can
    signal: str  # what the plot and the breach follow: "service/gauge" or "probe:service"

    @property
    def escalate(self) -> bool:
        return self.right_actions == (ESCALATE,)


@dataclass(frozen=True)
class Scenario:
    """Faults injected ``lead_in`` seconds into a run of at most ``window_seconds``."""

    name: str
    description: str
    faults: tuple[FaultTruth, ...]
    window_seconds: float
    breach_statuses: tuple[str, ...] = ("down",)  # a probe status that counts as the threshold broken
    extra_services: tuple[str, ...] = ()  # services a fault here may rightly disturb, beyond the roots

    @property
    def control(self) -> bool:
        return not self.faults

    @property
    def services(self) -> tuple[str, ...]:
        """Every service the ground truth lets alarm during a fault.

        ``overall`` aggregates every endpoint and ``musobuddy`` is the app's whole log stream (lines
        without a service of their own), so both may rightly alarm on any fault; on a control nothing may.
        """
        if self.control:
            return ()
        roots = [f.step.services for f in self.faults]
        whole_app = {"overall", "musobuddy"}
        return tuple(sorted({s for group in roots for s in group} | set(self.extra_services) | whole_app))

    def truth(self) -> dict[str, Any]:
        """The ground truth as JSON (the breach time is added once measured)."""
        return {
            "control": self.control,
            "services": list(self.services),
            "breach_statuses": list(self.breach_statuses),
            "faults": [
                {
                    "fault": f.step.fault,
                    "params": f.step.params,
                    "starts_after_seconds": f.step.at_seconds,
                    "root_service": f.root_service,
                    "cause": f.cause or None,
                    "right_action": ESCALATE if f.escalate else list(f.right_actions),
                    "signal": f.signal,
                    "description": f.step.description,
                }
                for f in self.faults
            ],
        }


def _fault(
    fault: str,
    services: tuple[str, ...],
    description: str,
    cause: str,
    actions: tuple[str, ...],
    signal: str,
    at: float = 0.0,
    **params: Any,
) -> FaultTruth:
    step = FaultStep(at, fault, services, description, dict(params))
    return FaultTruth(step, services[0], cause, actions, signal)


_POOL = ("recover-db-connections", "restart-service")
_DB = ("database", "auth", "payments")
_MEMORY_LEAK = _fault(
    "memory_leak",
    ("overall",),
    "memory leak",
    "memory_exhaustion",
    ("mitigate-memory-leak", "restart-service"),
    "overall/memory_usage",
    rate=25.0,
)
_SMS_OUTAGE = _fault(
    "sms_outage", ("sms",), "SMS outage", "provider_outage", ("provider-failover",), "probe:sms"
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "db_outage",
        "the database stops accepting connections; auth and payments follow",
        (_fault("db_outage", _DB, "database down", "database_down", (ESCALATE,), "probe:database"),),
        30,
    ),
    Scenario(
        "db_pool_leak_gradual",
        "connections leak at 1.2/s until the pool is exhausted (~37 s)",
        (
            _fault(
                "db_pool_leak",
                _DB,
                "gradual pool leak",
                "connection_pool_exhaustion",
                _POOL,
                "database/db_pool_usage",
                rate=1.2,
            ),
        ),
        60,
    ),
    Scenario(
        "db_pool_leak_sudden",
        "connections leak at 10/s: the pool is exhausted in ~5 s",
        (
            _fault(
                "db_pool_leak",
                _DB,
                "sudden pool leak",
                "connection_pool_exhaustion",
                _POOL,
                "database/db_pool_usage",
                rate=10.0,
            ),
        ),
        35,
    ),
    Scenario(
        "memory_leak",
        "memory grows 25 MiB/s until the OOM kill (~27 s)",
        (_MEMORY_LEAK,),
        50,
    ),
    Scenario(
        "auth_overload",
        "a login spike: auth latency +100 ms/s until it is down (~30 s)",
        (
            _fault(
                "auth_overload",
                ("auth",),
                "auth overload",
                "traffic_overload",
                ("scale-resources",),
                "probe:auth",
                rate=100.0,
            ),
        ),
        50,
        extra_services=("payments",),
    ),
    Scenario(
        "email_outage",
        "the primary email provider refuses mail",
        (
            _fault(
                "email_outage",
                ("email",),
                "email outage",
                "provider_outage",
                ("provider-failover",),
                "probe:email",
            ),
        ),
        30,
    ),
    Scenario(
        "sms_outage",
        "the primary SMS provider answers 503",
        (_SMS_OUTAGE,),
        30,
    ),
    Scenario(
        "payment_errors",
        "60 % of payments fail at the provider (nothing safe to automate: escalate)",
        (
            _fault(
                "payment_errors",
                ("payments",),
                "payment errors",
                "provider_errors",
                (ESCALATE,),
                "probe:payments",
                rate=0.6,
            ),
        ),
        30,
    ),
    Scenario(
        "disk_fill",
        "rendered documents fill the disk at 350 MiB/s on average, in bursts every 15 s",
        (
            _fault(
                "disk_fill",
                ("overall",),
                "disk fill",
                "disk_exhaustion",
                ("clear-cache",),
                "overall/disk_usage",
                rate=350.0,
            ),
        ),
        60,
    ),
    Scenario(
        "cascade",
        "a fast pool leak (2 conn/s): database, then auth, then payments",
        (
            _fault(
                "cascade",
                _DB,
                "cascade DB -> auth -> payments",
                "connection_pool_exhaustion",
                _POOL,
                "database/db_pool_usage",
                rate=2.0,
            ),
        ),
        45,
    ),
    Scenario(
        "bad_deploy",
        "a faulty version: +20 % payment errors; rollback is the cure",
        (_fault("bad_deploy", ("payments",), "bad deploy", "", ("rollback-deployment",), "probe:payments"),),
        40,
        breach_statuses=("degraded", "down"),  # 20 % errors degrade payments; they never go "down"
    ),
    Scenario(
        "flapping",
        "the email provider fails for 5 s, recovers for 5 s, and so on",
        (
            _fault(
                "email_outage",
                ("email",),
                "flapping email provider",
                "provider_outage",
                ("provider-failover",),
                "probe:email",
                flap_seconds=5.0,
            ),
        ),
        40,
    ),
    Scenario(
        "two_faults",
        "two unrelated faults at once: an SMS outage and a memory leak",
        (
            _SMS_OUTAGE,
            _MEMORY_LEAK,
        ),
        50,
    ),
    Scenario("control", "no fault: the daily load cycle and noise only (counts false alarms)", (), 60),
)

BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def select(names: list[str] | None) -> tuple[Scenario, ...]:
    """The named scenarios in catalogue order (all when none are named); unknown names are an error."""
    if not names:
        return SCENARIOS
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise KeyError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return tuple(s for s in SCENARIOS if s.name in names)


def as_json(scenario: Scenario) -> dict[str, Any]:
    return {"name": scenario.name, "description": scenario.description, **scenario.truth()}


__all__ = ["COMPRESSION", "ESCALATE", "SCENARIOS", "FaultTruth", "Scenario", "as_json", "select"]
