"""Health checks: one standard report per subsystem, graded by thresholds from config.

Why one format for all endpoints: the probe runner, the dataflow and the healing validator read every
endpoint the same way (``status``, ``latency_ms``, ``checks``, numeric ``details``), so adding a
subsystem never needs new parsing downstream. HTTP 200 means ok/degraded, 503 means down.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from forewarn.musobuddy.applog import AppLog
from forewarn.musobuddy.auth_flow import StepResult, SyntheticLogin
from forewarn.musobuddy.config import MIB, EndpointConfig, MusoBuddyConfig
from forewarn.musobuddy.simulation import Snapshot

Status = Literal["ok", "degraded", "down"]
HEALTH_ENDPOINTS = ("auth", "database", "email", "sms", "payments", "overall")
_RANK: dict[Status, int] = {"ok": 0, "degraded": 1, "down": 2}
DB_ACQUIRE_TIMEOUT_MS = 2000.0
PAYMENT_SAMPLE = 20
MAX_LOG_LINES_PER_CHECK = 3

DetailValue = str | int | float | bool | None


class Check(BaseModel):
    name: str
    status: Status
    latency_ms: float
    detail: str | None = None


class HealthReport(BaseModel):
    service: str
    status: Status
    latency_ms: float = Field(ge=0)
    checked_at: datetime
    version: str
    checks: list[Check]
    details: dict[str, DetailValue]


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: _RANK[s], default="ok")


def by_latency(latency_ms: float, endpoint: EndpointConfig) -> Status:
    if latency_ms >= endpoint.down_ms:
        return "down"
    if latency_ms >= endpoint.degraded_ms:
        return "degraded"
    return "ok"


def by_ratio(value: float, degraded: float, down: float) -> Status:
    if value >= down:
        return "down"
    if value >= degraded:
        return "degraded"
    return "ok"


class HealthChecker:
    """Builds the report of each endpoint from a simulation snapshot; logs what a real app would."""

    def __init__(
        self,
        config: MusoBuddyConfig,
        login: SyntheticLogin,
        log: AppLog,
        rng: random.Random,
        wall_clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.login = login
        self.log = log
        self.rng = rng
        self.wall_clock = wall_clock

    def report(self, name: str, snap: Snapshot) -> HealthReport:
        builder = {
            "auth": self.auth,
            "database": self.database,
            "email": self.email,
            "sms": self.sms,
            "payments": self.payments,
            "overall": self.overall,
        }[name]
        return builder(snap, True)

    # ------------------------------------------------------------ helpers

    def _base_latency(self, name: str, snap: Snapshot) -> float:
        """The endpoint's usual latency, slower by the daily load cycle, plus noise."""
        endpoint = self.config.endpoints.get(name)
        jitter = self.rng.uniform(-endpoint.jitter_ms, endpoint.jitter_ms) if self.config.noise else 0.0
        return max(0.1, endpoint.latency_ms * (1.0 + snap.load) + jitter)

    def _report(
        self, name: str, snap: Snapshot, checks: list[Check], details: dict[str, DetailValue], latency: float
    ) -> HealthReport:
        latency_status = by_latency(latency, self.config.endpoints.get(name))
        if latency_status != "ok":
            threshold = self.config.endpoints.get(name)
            checks.append(
                Check(
                    name="latency",
                    status=latency_status,
                    latency_ms=round(latency, 3),
                    detail=f"{latency:.0f} ms (degraded at {threshold.degraded_ms:.0f}, "
                    f"down at {threshold.down_ms:.0f})",
                )
            )
        return HealthReport(
            service=name,
            status=worst([c.status for c in checks]),
            latency_ms=round(latency, 3),
            checked_at=datetime.fromtimestamp(self.wall_clock(), UTC),
            version=snap.version,
            checks=checks,
            details=details,
        )

    def db_query_ms(self, snap: Snapshot) -> float:
        """Query time grows with pool contention and waiters, and with a cold cache."""
        query = self._base_latency("database", snap)
        usage = snap.db_pool_usage
        if usage > 0.7:
            query += 600.0 * ((usage - 0.7) / 0.3) ** 2
        query += 15.0 * snap.db_waiters
        query *= 1.0 + 0.5 * (1.0 - snap.cache_hit_rate / 0.95)
        return query

    def db_error(self, snap: Snapshot) -> str | None:
        if not snap.db_reachable:
            return "could not connect to server: Connection refused (db:5432)"
        if snap.db_pool_in_use >= snap.db_pool_size:
            return (
                f"timeout acquiring a connection after {DB_ACQUIRE_TIMEOUT_MS:.0f} ms "
                f"(pool {snap.db_pool_in_use}/{snap.db_pool_size}, {snap.db_waiters} waiting)"
            )
        return None

    # ------------------------------------------------------------ endpoints

    def database(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        th = self.config.thresholds
        details: dict[str, DetailValue] = {
            "db_reachable": snap.db_reachable,
            "db_pool_in_use": snap.db_pool_in_use,
            "db_pool_size": snap.db_pool_size,
            "db_pool_usage": round(snap.db_pool_usage, 4),
            "db_waiters": snap.db_waiters,
            "cache_hit_rate": snap.cache_hit_rate,
        }
        if not snap.db_reachable:
            latency = self._base_latency("database", snap)
            error = self.db_error(snap)
            if loud:
                self.log.error("musobuddy.db", f"database connection failed: {error}", service="database")
            checks = [Check(name="connect", status="down", latency_ms=round(latency, 3), detail=error)]
            return self._report("database", snap, checks, details, latency)
        pool_status = by_ratio(snap.db_pool_usage, th.db_pool_degraded, th.db_pool_down)
        query_ms = self.db_query_ms(snap)
        if snap.db_pool_in_use >= snap.db_pool_size:
            query_ms += DB_ACQUIRE_TIMEOUT_MS
        details["db_query_ms"] = round(query_ms, 3)
        checks = [
            Check(name="connect", status="ok", latency_ms=0.5),
            Check(
                name="pool",
                status=pool_status,
                latency_ms=0.0,
                detail=f"{snap.db_pool_in_use}/{snap.db_pool_size} in use, {snap.db_waiters} waiting",
            ),
            Check(
                name="query",
                status=by_latency(query_ms, self.config.endpoints.database),
                latency_ms=round(query_ms, 3),
                detail="SELECT 1 FROM bookings LIMIT 1",
            ),
        ]
        if loud and query_ms >= th.slow_query_ms:
            self.log.warning(
                "musobuddy.db",
                f"slow query {query_ms:.0f} ms: "
                "SELECT * FROM bookings WHERE musician_id = $1 AND gig_date >= $2",
                service="database",
                duration_ms=round(query_ms, 1),
            )
        return self._report("database", snap, checks, details, query_ms + 0.5)

    def auth(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        error = self.db_error(snap)
        db_ms = self.db_query_ms(snap) if snap.db_reachable else 1.0
        if error is not None and snap.db_reachable:
            db_ms += DB_ACQUIRE_TIMEOUT_MS
        steps = self.login.run(error, db_ms)
        checks = [_check(step) for step in steps]
        latency = (
            self._base_latency("auth", snap) + snap.auth_extra_latency_ms + sum(s.latency_ms for s in steps)
        )
        login_ok = all(step.status == "ok" for step in steps) and len(steps) == 4
        details: dict[str, DetailValue] = {
            "login_ok": login_ok,
            "test_user": self.login.user,
            "db_dependency": "ok" if error is None else "down",
            "sessions_issued": self.login.sessions_issued,
            "overload_latency_ms": round(snap.auth_extra_latency_ms, 3),
            "replicas": snap.replicas,
        }
        if loud and not login_ok:
            failed = next(step for step in steps if step.status != "ok")
            self.log.error(
                "musobuddy.auth",
                f"synthetic login failed for {self.login.user} at {failed.name}: {failed.detail}",
                service="auth",
            )
        elif loud and latency >= self.config.endpoints.auth.degraded_ms:
            self.log.warning(
                "musobuddy.auth",
                f"login took {latency:.0f} ms (threshold {self.config.endpoints.auth.degraded_ms:.0f} ms)",
                service="auth",
                duration_ms=round(latency, 1),
            )
        return self._report("auth", snap, checks, details, latency)

    def _provider(
        self,
        channel: Literal["email", "sms"],
        snap: Snapshot,
        loud: bool,
    ) -> HealthReport:
        prov = self.config.providers
        if channel == "email":
            provider, role, up, standby_up = (
                snap.email_provider,
                snap.email_role,
                snap.email_in_use_up,
                snap.email_standby_up,
            )
            standby = prov.email_secondary if role == "primary" else prov.email_primary
            error = (
                f"SMTP 421 4.3.2 Service not available, closing transmission channel (smtp.{provider}.net)"
            )
        else:
            provider, role, up, standby_up = (
                snap.sms_provider,
                snap.sms_role,
                snap.sms_in_use_up,
                snap.sms_standby_up,
            )
            standby = prov.sms_secondary if role == "primary" else prov.sms_primary
            error = f"HTTP 503 Service Unavailable from api.{provider}.com/v1/messages"
        latency = self._base_latency(channel, snap)
        checks = [
            Check(
                name=f"{provider}_send",
                status="ok" if up else "down",
                latency_ms=round(latency, 3),
                detail=None if up else error,
            )
        ]
        details: dict[str, DetailValue] = {
            "provider": provider,
            "provider_role": role,
            "standby_provider": standby,
            "standby_up": standby_up,
        }
        if loud and not up:
            what = "email delivery" if channel == "email" else "SMS delivery"
            self.log.error(f"musobuddy.{channel}", f"{what} failed via {provider}: {error}", service=channel)
        return self._report(channel, snap, checks, details, latency)

    def email(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        return self._provider("email", snap, loud)

    def sms(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        return self._provider("sms", snap, loud)

    def payments(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        th = self.config.thresholds
        latency = self._base_latency("payments", snap)
        auth_error = self.db_error(snap)
        declines = sum(1 for _ in range(PAYMENT_SAMPLE) if self.rng.random() < snap.payment_error_rate)
        checks = [
            Check(
                name="checkout_session",
                status="ok" if auth_error is None else "down",
                latency_ms=1.0,
                detail=None
                if auth_error is None
                else f"cannot open a checkout session: auth unavailable ({auth_error})",
            ),
            Check(
                name="provider_charge",
                status=by_ratio(snap.payment_error_rate, th.error_rate_degraded, th.error_rate_down),
                latency_ms=round(latency, 3),
                detail=f"error rate {snap.payment_error_rate:.1%} "
                f"({declines}/{PAYMENT_SAMPLE} test charges failed)",
            ),
        ]
        details: dict[str, DetailValue] = {
            "provider": "stripe",
            "error_rate": snap.payment_error_rate,
            "test_charges": PAYMENT_SAMPLE,
            "test_charges_failed": declines,
        }
        if loud:
            for i in range(min(declines, MAX_LOG_LINES_PER_CHECK)):
                if i % 2 == 0:
                    self.log.warning(
                        "musobuddy.payments",
                        "payment declined: card_declined (HTTP 402) for booking deposit GBP 150.00",
                        service="payments",
                        http_status=402,
                    )
                else:
                    self.log.error(
                        "musobuddy.payments",
                        "payment provider error: HTTP 502 Bad Gateway from api.stripe.com/v1/payment_intents",
                        service="payments",
                        http_status=502,
                    )
        return self._report("payments", snap, checks, details, latency)

    def overall(self, snap: Snapshot, loud: bool = True) -> HealthReport:
        th = self.config.thresholds
        parts = {
            "auth": self.auth(snap, False),
            "database": self.database(snap, False),
            "email": self.email(snap, False),
            "sms": self.sms(snap, False),
            "payments": self.payments(snap, False),
        }
        critical = {"auth", "database"}
        checks: list[Check] = []
        for name, part in parts.items():
            status: Status = part.status
            if name not in critical and status == "down":
                status = "degraded"  # the site still works without email, SMS or payments
            checks.append(
                Check(name=name, status=status, latency_ms=part.latency_ms, detail=f"{name} {part.status}")
            )
        memory_status = (
            "down" if snap.oom_killed else by_ratio(snap.memory_usage, th.memory_degraded, th.memory_down)
        )
        checks.append(
            Check(
                name="memory",
                status=memory_status,
                latency_ms=0.0,
                detail=("OOMKilled: " if snap.oom_killed else "")
                + f"{snap.memory_bytes // MIB} MiB of {snap.memory_limit_bytes // MIB} MiB",
            )
        )
        checks.append(
            Check(
                name="disk",
                status=by_ratio(snap.disk_usage, th.disk_degraded, th.disk_down),
                latency_ms=0.0,
                detail=f"{snap.disk_usage:.1%} of /var/lib/musobuddy used",
            )
        )
        if snap.maintenance:
            checks.append(
                Check(name="maintenance", status="degraded", latency_ms=0.0, detail=snap.maintenance_reason)
            )
        latency = self._base_latency("overall", snap) + max(p.latency_ms for p in parts.values())
        details: dict[str, DetailValue] = {
            "db_pool_in_use": snap.db_pool_in_use,
            "db_pool_size": snap.db_pool_size,
            "db_pool_usage": round(snap.db_pool_usage, 4),
            "db_waiters": snap.db_waiters,
            "memory_bytes": snap.memory_bytes,
            "memory_limit_bytes": snap.memory_limit_bytes,
            "memory_usage": round(snap.memory_usage, 4),
            "oom_killed": snap.oom_killed,
            "disk_used_bytes": snap.disk_used_bytes,
            "disk_total_bytes": snap.disk_total_bytes,
            "disk_usage": round(snap.disk_usage, 4),
            "email_provider": snap.email_provider,
            "sms_provider": snap.sms_provider,
            "error_rate": snap.payment_error_rate,
            "cache_entries": snap.cache_entries,
            "cache_hit_rate": snap.cache_hit_rate,
            "replicas": snap.replicas,
            "maintenance": snap.maintenance,
            "uptime_seconds": round(snap.uptime_seconds, 3),
            "restarts": snap.restarts,
            "active_faults": ",".join(snap.faults),
        }
        if loud and snap.oom_killed:
            self.log.critical(
                "musobuddy.process", "service unavailable: process was OOMKilled", service="overall"
            )
        return self._report("overall", snap, checks, details, latency)


def _check(step: StepResult) -> Check:
    return Check(name=step.name, status=step.status, latency_ms=round(step.latency_ms, 3), detail=step.detail)
