"""The simulated state of the MusoBuddy backend and how faults change it over time.

Why a lazily advanced simulation: every read first integrates the active faults from the last read
up to ``clock()``, so state changes with time without a background thread, and a test that injects
the clock can move an hour forward in one call and see exactly what an hour of leaking did.

Damage outlives its cause, as in a real service: removing ``db_pool_leak`` stops the leak but the
leaked connections stay checked out until ``reset-connections`` or ``restart-service`` frees them.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from forewarn.musobuddy.applog import AppLog
from forewarn.musobuddy.config import MIB, MusoBuddyConfig
from forewarn.musobuddy.faults import FAULTS, FaultParams

Role = Literal["primary", "secondary"]

DISK_BURST_SECONDS = 15.0
AUTH_OVERLOAD_CAP_MS = 10_000.0
CASCADE_PAYMENT_RAMP_PER_SECOND = 0.02
BAD_DEPLOY_ERROR_RATE = 0.2
CACHE_WARMUP_SECONDS = 60.0
CACHE_ENTRY_BYTES = 2048
WARN_HYSTERESIS_POINTS = 5.0
_POOL_WARN_LEVELS = (70, 80, 90, 100)
_MEMORY_WARN_LEVELS = (80, 90, 95)
_DISK_WARN_LEVELS = (80, 90, 95)


@dataclass
class ActiveFault:
    name: str
    params: FaultParams
    started_at: float
    expires_at: float | None
    bursts_done: int = 0

    def on(self, now: float) -> bool:
        """A flapping fault is on for ``flap_seconds``, off for as long, and so on; others always on."""
        flap = self.params.flap_seconds
        if flap is None:
            return True
        return int(max(0.0, now - self.started_at) // flap) % 2 == 0

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params.model_dump(exclude_none=True),
            "active_for_seconds": round(max(0.0, now - self.started_at), 3),
            "expires_in_seconds": None
            if self.expires_at is None
            else round(max(0.0, self.expires_at - now), 3),
            "description": FAULTS[self.name].description,
            "on": self.on(now),
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a health check needs, read at one instant under the lock."""

    now: float
    uptime_seconds: float
    version: str
    previous_version: str | None
    replicas: int
    maintenance: bool
    maintenance_reason: str | None
    faults: tuple[str, ...]
    db_reachable: bool
    db_pool_size: int
    db_pool_in_use: int
    db_waiters: int
    memory_bytes: int
    memory_limit_bytes: int
    oom_killed: bool
    disk_used_bytes: int
    disk_total_bytes: int
    cache_entries: int
    cache_capacity: int
    cache_hit_rate: float
    email_provider: str
    email_role: Role
    email_in_use_up: bool
    email_standby_up: bool
    sms_provider: str
    sms_role: Role
    sms_in_use_up: bool
    sms_standby_up: bool
    payment_error_rate: float
    auth_extra_latency_ms: float
    restarts: int
    # Extra load from the daily cycle: 0 at night, ``load_cycle_peak`` at the peak; 0 without a cycle.
    load: float = 0.0

    @property
    def db_pool_usage(self) -> float:
        return self.db_pool_in_use / self.db_pool_size

    @property
    def memory_usage(self) -> float:
        return self.memory_bytes / self.memory_limit_bytes

    @property
    def disk_usage(self) -> float:
        return self.disk_used_bytes / self.disk_total_bytes


@dataclass
class _State:
    db_pool_size: int
    db_leaked: float
    memory_limit_bytes: int
    memory_leaked: float
    oom_killed: bool
    disk_extra_bytes: float
    cache_cleared_at: float
    email_role: Role
    sms_role: Role
    version: str
    version_history: list[str]
    bad_versions: set[str]
    replicas: int
    maintenance: bool
    maintenance_reason: str | None
    restarts: int
    process_started_at: float
    cascade_full_at: float | None = None
    warned: dict[str, int] = field(default_factory=dict)
    last_pool_nag: float = -math.inf


class Simulation:
    """State + active faults; every public method advances time to ``clock()`` first."""

    def __init__(
        self,
        config: MusoBuddyConfig,
        clock: Callable[[], float],
        log: AppLog,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.log = log
        self.rng = rng or random.Random(config.seed)
        self.lock = threading.RLock()
        self.faults: dict[str, ActiveFault] = {}
        now = clock()
        self._last = now
        self._born = now
        self.state = self._fresh_state(now)

    def _fresh_state(self, now: float) -> _State:
        res = self.config.resources
        return _State(
            db_pool_size=res.db_pool_size,
            db_leaked=0.0,
            memory_limit_bytes=res.memory_limit_bytes,
            memory_leaked=0.0,
            oom_killed=False,
            disk_extra_bytes=0.0,
            cache_cleared_at=now - 10 * CACHE_WARMUP_SECONDS,  # starts warm
            email_role="primary",
            sms_role="primary",
            version=self.config.version,
            version_history=list(self.config.previous_versions),
            bad_versions=set(),
            replicas=res.replicas,
            maintenance=False,
            maintenance_reason=None,
            restarts=0,
            process_started_at=now,
        )

    # ---------------------------------------------------------------- time

    def advance(self) -> float:
        """Integrate every active fault up to now; returns now."""
        with self.lock:
            now = self.clock()
            if now <= self._last:
                return self._last
            start = self._last
            for fault in list(self.faults.values()):
                end = now if fault.expires_at is None else min(now, fault.expires_at)
                begin = max(start, fault.started_at)
                if end > begin:
                    self._integrate(fault, begin, end)
                if fault.expires_at is not None and now >= fault.expires_at:
                    del self.faults[fault.name]
                    self.log.info(
                        "musobuddy.faults", f"fault {fault.name} ended after its duration", fault=fault.name
                    )
            self._last = now
            self._threshold_logs(now)
            return now

    def _integrate(self, fault: ActiveFault, begin: float, end: float) -> None:
        st, res = self.state, self.config.resources
        dt = end - begin
        rate = fault.params.rate or 0.0
        if fault.name in ("db_pool_leak", "cascade"):
            ceiling = st.db_pool_size - res.db_pool_baseline + res.db_max_waiters
            old = st.db_leaked
            st.db_leaked = min(float(ceiling), old + rate * dt)
            full_at = st.db_pool_size - res.db_pool_baseline
            if fault.name == "cascade" and st.cascade_full_at is None and st.db_leaked >= full_at:
                st.cascade_full_at = begin + max(0.0, (full_at - old) / rate) if rate > 0 else end
        elif fault.name == "memory_leak" and not st.oom_killed:
            st.memory_leaked += rate * MIB * dt
            room = st.memory_limit_bytes - res.memory_baseline_bytes
            if st.memory_leaked >= room:
                st.memory_leaked = float(room)
                st.oom_killed = True
                self.log.critical(
                    "musobuddy.process",
                    f"out of memory: process killed at {st.memory_limit_bytes // MIB} MiB limit (OOMKilled)",
                    service="overall",
                    memory_limit_bytes=st.memory_limit_bytes,
                )
        elif fault.name == "disk_fill":
            first = math.floor((begin - fault.started_at) / DISK_BURST_SECONDS) + 1
            last = math.floor((end - fault.started_at) / DISK_BURST_SECONDS)
            room = res.disk_total_bytes - res.disk_baseline_bytes
            for k in range(max(first, fault.bursts_done + 1), last + 1):
                # Each burst's size is fixed by (seed, burst index), so replays are deterministic.
                factor = random.Random(f"{self.config.seed}-{k}").uniform(0.3, 1.7)
                burst = rate * MIB * DISK_BURST_SECONDS * factor
                st.disk_extra_bytes = min(float(room), st.disk_extra_bytes + burst)
                fault.bursts_done = k
                self.log.info(
                    "musobuddy.renderer",
                    f"rendered {int(burst // MIB)} MiB of invoices/contracts into /var/cache/musobuddy/pdf",
                    service="overall",
                    bytes_written=int(burst),
                )

    def _threshold_logs(self, now: float) -> None:
        snap = self._snapshot_locked(now)
        in_use, size = snap.db_pool_in_use, snap.db_pool_size
        pool_pct = 100.0 * snap.db_pool_usage
        if self._crossed("pool", pool_pct, _POOL_WARN_LEVELS) or (
            pool_pct >= 90 and now - self.state.last_pool_nag >= 10.0
        ):
            self.state.last_pool_nag = now
            level = "ERROR" if in_use >= size else "WARNING"
            text = f"connection pool {pool_pct:.0f}% used ({in_use}/{size})"
            if snap.db_waiters:
                text += f", {snap.db_waiters} requests waiting for a connection"
            self.log.log(
                level,
                "musobuddy.db.pool",
                text,
                service="database",
                db_pool_in_use=in_use,
                db_pool_size=size,
                db_waiters=snap.db_waiters,
            )
        mem_pct = 100.0 * snap.memory_usage
        if self._crossed("memory", mem_pct, _MEMORY_WARN_LEVELS):
            self.log.warning(
                "musobuddy.process",
                f"memory usage {mem_pct:.0f}% "
                f"({snap.memory_bytes // MIB} MiB of {snap.memory_limit_bytes // MIB} MiB)",
                service="overall",
                memory_bytes=snap.memory_bytes,
                memory_limit_bytes=snap.memory_limit_bytes,
            )
        disk_pct = 100.0 * snap.disk_usage
        if self._crossed("disk", disk_pct, _DISK_WARN_LEVELS):
            self.log.warning(
                "musobuddy.storage",
                f"disk usage {disk_pct:.0f}% on /var/lib/musobuddy "
                f"({snap.disk_used_bytes // MIB} MiB of {snap.disk_total_bytes // MIB} MiB)",
                service="overall",
                disk_used_bytes=snap.disk_used_bytes,
            )

    def _crossed(self, name: str, pct: float, levels: tuple[int, ...]) -> bool:
        """True when pct reached a higher warning level than last logged.

        It re-arms only once pct falls 5 points below the level, so noise around a level does not
        log the same warning on every read.
        """
        reached = max((lvl for lvl in levels if pct >= lvl), default=0)
        previous = self.state.warned.get(name, 0)
        if reached > previous:
            self.state.warned[name] = reached
            return True
        if pct < previous - WARN_HYSTERESIS_POINTS:
            self.state.warned[name] = max(
                (lvl for lvl in levels if pct >= lvl - WARN_HYSTERESIS_POINTS), default=0
            )
        return False

    # ---------------------------------------------------------------- reads

    def snapshot(self) -> Snapshot:
        with self.lock:
            now = self.advance()
            return self._snapshot_locked(now)

    def _snapshot_locked(self, now: float) -> Snapshot:
        st, res, prov = self.state, self.config.resources, self.config.providers
        noise = self.config.noise
        load = self.load(now)
        baseline = res.db_pool_baseline + round(4 * load) + (self.rng.randint(-1, 2) if noise else 0)
        demand = max(0.0, baseline + st.db_leaked)
        in_use = min(st.db_pool_size, math.floor(demand))
        waiters = min(res.db_max_waiters, max(0, math.floor(demand) - st.db_pool_size))
        warmth = 1.0 - math.exp(-max(0.0, now - st.cache_cleared_at) / CACHE_WARMUP_SECONDS)
        cache_entries = int(res.cache_capacity * 0.8 * warmth)
        memory_noise = self.rng.randint(-4 * MIB, 4 * MIB) if noise else 0
        memory = (
            res.memory_baseline_bytes + st.memory_leaked + cache_entries * CACHE_ENTRY_BYTES + memory_noise
        )
        memory = min(float(st.memory_limit_bytes), memory) if not st.oom_killed else st.memory_limit_bytes
        down_email = self._provider_outage("email_outage", now)
        down_sms = self._provider_outage("sms_outage", now)
        error_rate = 0.0
        if self._on("payment_errors", now):
            error_rate += self.faults["payment_errors"].params.rate or 0.0
        if st.version in st.bad_versions:
            error_rate += BAD_DEPLOY_ERROR_RATE
        if "cascade" in self.faults and st.cascade_full_at is not None:
            error_rate += CASCADE_PAYMENT_RAMP_PER_SECOND * max(0.0, now - st.cascade_full_at)
        extra_auth = 0.0
        if "auth_overload" in self.faults:
            fault = self.faults["auth_overload"]
            raw = min(AUTH_OVERLOAD_CAP_MS, (fault.params.rate or 0.0) * max(0.0, now - fault.started_at))
            extra_auth = raw * res.replicas / st.replicas  # more replicas share the login load
        return Snapshot(
            now=now,
            uptime_seconds=now - st.process_started_at,
            version=st.version,
            previous_version=st.version_history[-1] if st.version_history else None,
            replicas=st.replicas,
            maintenance=st.maintenance,
            maintenance_reason=st.maintenance_reason,
            faults=tuple(sorted(self.faults)),
            db_reachable=not self._on("db_outage", now),
            db_pool_size=st.db_pool_size,
            db_pool_in_use=in_use,
            db_waiters=waiters,
            memory_bytes=int(memory),
            memory_limit_bytes=st.memory_limit_bytes,
            oom_killed=st.oom_killed,
            disk_used_bytes=int(res.disk_baseline_bytes + st.disk_extra_bytes),
            disk_total_bytes=res.disk_total_bytes,
            cache_entries=cache_entries,
            cache_capacity=res.cache_capacity,
            cache_hit_rate=round(0.95 * warmth, 4),
            email_provider=prov.email_primary if st.email_role == "primary" else prov.email_secondary,
            email_role=st.email_role,
            email_in_use_up=st.email_role not in down_email,
            email_standby_up=_other(st.email_role) not in down_email,
            sms_provider=prov.sms_primary if st.sms_role == "primary" else prov.sms_secondary,
            sms_role=st.sms_role,
            sms_in_use_up=st.sms_role not in down_sms,
            sms_standby_up=_other(st.sms_role) not in down_sms,
            payment_error_rate=min(1.0, round(error_rate, 6)),
            auth_extra_latency_ms=extra_auth,
            restarts=st.restarts,
            load=load,
        )

    def load(self, now: float) -> float:
        """The daily load cycle at ``now``: a raised cosine from night (0) to peak (``load_cycle_peak``).

        Why in the simulation: a control period without faults must still move like a day of traffic,
        or a false-alarm count on it says nothing. The phase starts at night when the app starts.
        """
        period = self.config.load_cycle_seconds
        if period is None:
            return 0.0
        phase = 2 * math.pi * (now - self._born) / period
        return self.config.load_cycle_peak * 0.5 * (1.0 - math.cos(phase))

    def _on(self, name: str, now: float) -> bool:
        fault = self.faults.get(name)
        return fault is not None and fault.on(now)

    def _provider_outage(self, name: str, now: float) -> set[str]:
        fault = self.faults.get(name)
        if fault is None or not fault.on(now):
            return set()
        return (
            {"primary", "secondary"}
            if fault.params.provider == "both"
            else {fault.params.provider or "primary"}
        )

    # ---------------------------------------------------------------- faults

    def inject(self, name: str, params: FaultParams) -> tuple[ActiveFault, bool]:
        """Start (or restart with new parameters) a fault; returns it and whether it replaced one."""
        with self.lock:
            now = self.advance()
            replaced = name in self.faults
            expires = None if params.duration_seconds is None else now + params.duration_seconds
            fault = ActiveFault(name=name, params=params, started_at=now, expires_at=expires)
            self.faults[name] = fault
            if name == "bad_deploy" and not replaced:
                self._deploy_bad_version()
            if name == "cascade" and not replaced:
                self.state.cascade_full_at = None
            self.log.warning(
                "musobuddy.faults",
                f"fault injected: {name} {params.model_dump(exclude_none=True)}",
                fault=name,
            )
            return fault, replaced

    def _deploy_bad_version(self) -> None:
        st = self.state
        parts = st.version.split(".")
        bumped = (
            ".".join([*parts[:-1], str(int(parts[-1]) + 1)]) if parts[-1].isdigit() else st.version + ".1"
        )
        st.version_history.append(st.version)
        st.version = bumped
        st.bad_versions.add(bumped)
        self.log.info("musobuddy.deploy", f"deployed version {bumped}", version=bumped)

    def clear_fault(self, name: str) -> bool:
        with self.lock:
            self.advance()
            removed = self.faults.pop(name, None)
            if removed is not None:
                self.log.info("musobuddy.faults", f"fault cleared: {name}", fault=name)
            return removed is not None

    def clear_all_faults(self, reset_state: bool = False) -> list[str]:
        with self.lock:
            now = self.advance()
            names = sorted(self.faults)
            self.faults.clear()
            if reset_state:
                self.state = self._fresh_state(now)
            self.log.info(
                "musobuddy.faults",
                f"all faults cleared: {names}" + (" and state reset" if reset_state else ""),
            )
            return names

    def active_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.advance()
            return [fault.describe(now) for fault in self.faults.values()]

    def drop_leaks(self, names: tuple[str, ...], now: float) -> list[str]:
        """Remove non-persistent leak faults (a restart/reset cures them); persistent ones restart."""
        stopped = []
        for name in names:
            fault = self.faults.get(name)
            if fault is None:
                continue
            if fault.params.persistent:
                fault.started_at = now
            else:
                del self.faults[name]
                stopped.append(name)
        return stopped


def _other(role: Role) -> Role:
    return "secondary" if role == "primary" else "primary"
