"""What each admin action really does to the service, with before/after and how to undo it.

Why before/after and an undo hint: the healing executor must validate that an action changed what it
meant to change, and roll it back if validation fails; it should not have to guess how. An action
that cannot be undone (a restart, a cache clear) says so with ``undo: null``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.admin_signing import AdminKeyError, HmacKey, VerifyingKey, key_algorithm, parse_verifying_key
from forewarn.musobuddy.admin_guard import KeyRing
from forewarn.musobuddy.config import MusoBuddyConfig
from forewarn.musobuddy.simulation import Simulation, Snapshot


class ActionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500, description="Why (kept in the audit trail).")


class ScaleParams(ActionParams):
    db_pool_size: int | None = Field(None, ge=1, le=10_000)
    replicas: int | None = Field(None, ge=1, le=100)
    memory_limit_bytes: int | None = Field(None, ge=16 * 1024 * 1024)


class FailoverParams(ActionParams):
    channel: Literal["email", "sms"]
    to: Literal["primary", "secondary"] | None = Field(None, description="Default: the other provider.")


class MaintenanceParams(ActionParams):
    enabled: bool


class RotateKeysParams(ActionParams):
    public_key: str | None = Field(
        None,
        max_length=200,
        description="The caller's new Ed25519 public key (ed25519:<b64>). Omitted: a new HMAC secret, "
        "only while the app still has HMAC keys.",
    )


class RollbackParams(ActionParams):
    version: str | None = Field(None, max_length=64, description="Default: the previous version.")


class ActionRefused(Exception):
    """The action cannot run in the current state; ``status_code`` is the HTTP answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass
class ActionOutcome:
    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    message: str
    undo: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Set when the action ran but the service could not complete it (HTTP 503 to the caller).
    failure: str | None = None


@dataclass
class ActionContext:
    config: MusoBuddyConfig
    simulation: Simulation
    keyring: KeyRing
    wall_clock: Callable[[], float]


def _pick(snap: Snapshot, *names: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(snap, name)
        values[name] = round(value, 4) if isinstance(value, float) else value
    return values


def restart_service(ctx: ActionContext, params: ActionParams) -> ActionOutcome:
    sim = ctx.simulation
    fields = (
        "memory_bytes",
        "oom_killed",
        "db_pool_in_use",
        "db_waiters",
        "cache_entries",
        "restarts",
        "faults",
    )
    with sim.lock:
        before = sim.snapshot()
        now = before.now
        st = sim.state
        st.memory_leaked = 0.0
        st.oom_killed = False
        st.db_leaked = 0.0
        st.cascade_full_at = None
        st.cache_cleared_at = now
        st.process_started_at = now
        st.restarts += 1
        st.warned.clear()
        stopped = sim.drop_leaks(("memory_leak", "db_pool_leak", "cascade"), now)
        sim.log.warning(
            "musobuddy.process",
            f"service restarted (restart #{st.restarts}); leaked memory and connections freed",
        )
        after = sim.snapshot()
    return ActionOutcome(
        changed=True,
        before=_pick(before, *fields, "uptime_seconds"),
        after=_pick(after, *fields, "uptime_seconds"),
        message=f"restarted; stopped leaks: {stopped or 'none'}",
        extra={"stopped_faults": stopped},
    )


def clear_cache(ctx: ActionContext, params: ActionParams) -> ActionOutcome:
    sim = ctx.simulation
    fields = ("cache_entries", "cache_hit_rate", "disk_used_bytes", "disk_usage")
    with sim.lock:
        before = sim.snapshot()
        sim.state.cache_cleared_at = before.now
        sim.state.disk_extra_bytes = 0.0
        sim.log.info(
            "musobuddy.cache", f"cache cleared: {before.cache_entries} entries and rendered PDFs dropped"
        )
        after = sim.snapshot()
    return ActionOutcome(
        changed=before.cache_entries > 0 or before.disk_used_bytes != after.disk_used_bytes,
        before=_pick(before, *fields),
        after=_pick(after, *fields),
        message=f"cache emptied ({before.cache_entries} entries); disk cache purged",
    )


def reset_connections(ctx: ActionContext, params: ActionParams) -> ActionOutcome:
    sim = ctx.simulation
    fields = ("db_pool_in_use", "db_pool_size", "db_waiters", "db_pool_usage")
    with sim.lock:
        before = sim.snapshot()
        sim.state.db_leaked = 0.0
        sim.state.cascade_full_at = None
        stopped = sim.drop_leaks(("db_pool_leak", "cascade"), before.now)
        sim.log.warning(
            "musobuddy.db.pool",
            f"connection pool reset: {before.db_pool_in_use} connections closed, "
            f"{before.db_waiters} waiters released",
            service="database",
        )
        after = sim.snapshot()
    failure = None
    if not after.db_reachable:
        failure = "pool reset, but no new connection could be opened: database unreachable (db:5432)"
    return ActionOutcome(
        changed=True,
        before={**_pick(before, *fields), "db_pool_usage": round(before.db_pool_usage, 4)},
        after={**_pick(after, *fields), "db_pool_usage": round(after.db_pool_usage, 4)},
        message=f"closed {before.db_pool_in_use} connections; stopped leaks: {stopped or 'none'}",
        extra={"stopped_faults": stopped},
        failure=failure,
    )


def scale_resources(ctx: ActionContext, params: ScaleParams) -> ActionOutcome:
    sim, res = ctx.simulation, ctx.config.resources
    with sim.lock:
        before = sim.snapshot()
        st = sim.state
        old = {
            "db_pool_size": st.db_pool_size,
            "replicas": st.replicas,
            "memory_limit_bytes": st.memory_limit_bytes,
        }
        explicit = params.db_pool_size, params.replicas, params.memory_limit_bytes
        if all(value is None for value in explicit):
            # Default: one step up (pool +50%, one more replica), within the configured maxima.
            new = {
                "db_pool_size": min(res.max_db_pool_size, math.ceil(st.db_pool_size * 1.5)),
                "replicas": min(res.max_replicas, st.replicas + 1),
                "memory_limit_bytes": st.memory_limit_bytes,
            }
        else:
            new = {
                "db_pool_size": params.db_pool_size or st.db_pool_size,
                "replicas": params.replicas or st.replicas,
                "memory_limit_bytes": params.memory_limit_bytes or st.memory_limit_bytes,
            }
        if new["db_pool_size"] > res.max_db_pool_size or new["replicas"] > res.max_replicas:
            raise ActionRefused(
                422,
                f"above the configured maxima (db_pool_size <= {res.max_db_pool_size}, "
                f"replicas <= {res.max_replicas})",
            )
        if new["memory_limit_bytes"] <= res.memory_baseline_bytes + st.memory_leaked and not st.oom_killed:
            raise ActionRefused(422, "memory_limit_bytes must be above the memory in use")
        st.db_pool_size = new["db_pool_size"]
        st.replicas = new["replicas"]
        st.memory_limit_bytes = new["memory_limit_bytes"]
        sim.log.info("musobuddy.capacity", f"scaled: {old} -> {new}")
        after = sim.snapshot()
    return ActionOutcome(
        changed=new != old,
        before={**old, "db_pool_usage": round(before.db_pool_usage, 4)},
        after={**new, "db_pool_usage": round(after.db_pool_usage, 4)},
        message="capacity changed" if new != old else "already at the requested capacity",
        undo={"action": "scale-resources", "body": old} if new != old else None,
    )


def rotate_keys(ctx: ActionContext, params: RotateKeysParams) -> ActionOutcome:
    """Register the caller's new public key (Ed25519), or, for an HMAC deployment, mint a secret.

    With Ed25519 the caller made the pair and sends only the public half, so no secret crosses the
    wire or rests here. Minting an HMAC secret is refused once no HMAC key is left: an app that has
    moved to public keys never starts holding a secret again.
    """
    now = ctx.wall_clock()
    grace = ctx.config.admin.rotation_grace_seconds
    secret: str | None = None
    if params.public_key is not None:
        try:
            new_key: VerifyingKey = parse_verifying_key(params.public_key, "public_key")
        except AdminKeyError as exc:
            raise ActionRefused(422, str(exc)) from exc
        if isinstance(new_key, HmacKey):
            raise ActionRefused(422, "public_key must be an Ed25519 public key (ed25519:<base64url>)")
    elif ctx.keyring.has_hmac_keys(now):
        secret = secrets.token_urlsafe(32)
        new_key = HmacKey(secret)
    else:
        raise ActionRefused(422, "send the new Ed25519 public key as public_key (`forewarn keys admin`)")
    new, retiring = ctx.keyring.rotate(now, grace, new_key)
    shown: dict[str, Any] = {"key_id": new.key_id, "algorithm": key_algorithm(new_key)}
    if secret is not None:
        shown["secret"] = secret  # HMAC only, and the only time it is shown: store it now
    return ActionOutcome(
        changed=True,
        before={"valid_keys": [key.key_id for key in retiring]},
        after={"valid_keys": [key.key_id for key in retiring] + [new.key_id]},
        message=f"new key {new.key_id}; {len(retiring)} older key(s) stay valid for {grace:.0f} s",
        extra={
            "new_key": shown,
            "grace_seconds": grace,
            "retiring": [{"key_id": key.key_id, "expires_at": key.expires_at} for key in retiring],
        },
    )


def failover(ctx: ActionContext, params: FailoverParams) -> ActionOutcome:
    sim = ctx.simulation
    channel = params.channel
    with sim.lock:
        before = sim.snapshot()
        role = before.email_role if channel == "email" else before.sms_role
        target = params.to or ("secondary" if role == "primary" else "primary")
        if channel == "email":
            sim.state.email_role = target
        else:
            sim.state.sms_role = target
        after = sim.snapshot()
        provider = after.email_provider if channel == "email" else after.sms_provider
        target_up = after.email_in_use_up if channel == "email" else after.sms_in_use_up
        sim.log.warning(
            f"musobuddy.{channel}",
            f"{channel} failover: now sending via {provider} ({target})",
            service=channel,
        )

    def view(snap: Snapshot) -> dict[str, Any]:
        if channel == "email":
            return {
                "channel": channel,
                "provider": snap.email_provider,
                "role": snap.email_role,
                "up": snap.email_in_use_up,
            }
        return {
            "channel": channel,
            "provider": snap.sms_provider,
            "role": snap.sms_role,
            "up": snap.sms_in_use_up,
        }

    changed = target != role
    return ActionOutcome(
        changed=changed,
        before=view(before),
        after=view(after),
        message=f"{channel} now via {provider} ({target})"
        + ("" if target_up else "; WARNING: it is failing too"),
        undo={"action": "failover", "body": {"channel": channel, "to": role}} if changed else None,
    )


def maintenance(ctx: ActionContext, params: MaintenanceParams) -> ActionOutcome:
    sim = ctx.simulation
    with sim.lock:
        was = sim.state.maintenance
        old_reason = sim.state.maintenance_reason
        sim.state.maintenance = params.enabled
        sim.state.maintenance_reason = (params.reason or "maintenance mode") if params.enabled else None
        sim.log.warning("musobuddy.app", f"maintenance mode {'on' if params.enabled else 'off'}")
    changed = was != params.enabled
    return ActionOutcome(
        changed=changed,
        before={"maintenance": was, "reason": old_reason},
        after={"maintenance": params.enabled, "reason": sim.state.maintenance_reason},
        message=f"maintenance {'on' if params.enabled else 'off'}" + ("" if changed else " (unchanged)"),
        undo={"action": "maintenance", "body": {"enabled": was}} if changed else None,
    )


def rollback_deployment(ctx: ActionContext, params: RollbackParams) -> ActionOutcome:
    sim = ctx.simulation
    with sim.lock:
        st = sim.state
        history = st.version_history
        if not history:
            raise ActionRefused(409, f"nothing to roll back to: {st.version} is the only version deployed")
        target = params.version or history[-1]
        if target not in history:
            raise ActionRefused(
                404, f"version {target!r} was never deployed here; known previous versions: {history}"
            )
        current = st.version
        history.remove(target)
        history.append(current)
        st.version = target
        sim.log.warning("musobuddy.deploy", f"rolled back {current} -> {target}", version=target)
    return ActionOutcome(
        changed=True,
        before={"version": current},
        after={"version": target, "previous_versions": list(history)},
        message=f"rolled back from {current} to {target}",
        undo={"action": "rollback-deployment", "body": {"version": current}},
    )


ACTIONS: dict[str, tuple[type[ActionParams], Callable[[ActionContext, Any], ActionOutcome]]] = {
    "restart-service": (ActionParams, restart_service),
    "clear-cache": (ActionParams, clear_cache),
    "reset-connections": (ActionParams, reset_connections),
    "scale-resources": (ScaleParams, scale_resources),
    "rotate-keys": (RotateKeysParams, rotate_keys),
    "failover": (FailoverParams, failover),
    "maintenance": (MaintenanceParams, maintenance),
    "rollback-deployment": (RollbackParams, rollback_deployment),
}
