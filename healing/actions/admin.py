"""HTTP actions against the target's signed admin API (``POST /api/admin/<verb>``).

The ``httpx.Client`` in the context carries the base URL and the request-signing auth
(``forewarn.admin_signing.AdminAuth``); these classes only say which verb and which body. The
service answers ``{ok, changed, before, after, undo, message}`` where ``undo`` is the request that
puts the change back (``{"action": verb, "body": {...}}``) or null; the generic ``undo`` below
replays exactly that, so rollback never guesses. Every request carries ``Idempotency-Key`` and the
reason (kept in the service's own audit trail).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field

from forewarn.admin_signing import AdminAuth, HmacKey, public_key_text
from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.errors import ActionFailed


def call_admin(ctx: ActionContext, verb: str, body: dict[str, Any], key_suffix: str = "") -> dict[str, Any]:
    """POST one admin verb; any transport error or non-2xx answer becomes ``ActionFailed``."""
    if ctx.admin is None:
        raise ActionFailed(f"{verb}: no admin API client configured for {ctx.service}")
    try:
        response = ctx.admin.post(
            f"/api/admin/{verb}",
            json=body,
            headers={
                "Idempotency-Key": ctx.idempotency_key + key_suffix,
                "X-Forewarn-Reason": ctx.reason[:200],
            },
        )
    except httpx.HTTPError as exc:
        raise ActionFailed(
            f"{verb}: admin API unreachable ({type(exc).__name__}: {exc})", retryable=True
        ) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except (ValueError, AttributeError):
            detail = response.text
        raise ActionFailed(
            f"{verb}: admin API answered {response.status_code}: {str(detail)[:300]}",
            retryable=response.status_code in (429, 502, 503, 504),
        )
    try:
        data = response.json()
    except ValueError:
        data = {"text": response.text[:500]}
    return data if isinstance(data, dict) else {"response": data}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminAction(Action):
    """An admin verb whose body is its parameters (plus the reason), as JSON."""

    verb: ClassVar[str]
    # True when the service answers with an undo request for this verb (see the module docstring).
    service_undo: ClassVar[bool] = False

    @property
    def can_undo(self) -> bool:
        return self.service_undo

    def body(self, params: BaseModel, ctx: ActionContext) -> dict[str, Any]:
        body = params.model_dump(mode="json", exclude_none=True)
        if ctx.reason:
            body["reason"] = ctx.reason[:500]
        return body

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        data = call_admin(ctx, self.verb, self.body(params, ctx))
        if data.get("ok") is False:
            raise ActionFailed(
                f"{self.verb}: service says it failed: {data.get('detail') or data.get('message')}"
            )
        hint = data.get("undo")
        return ActionOutcome(
            True,
            str(data.get("message") or f"{self.verb} done"),
            data={k: data[k] for k in ("changed", "before", "after", "audit_id") if k in data},
            undo_state={"request": hint} if isinstance(hint, dict) else {},
        )

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        request = outcome.undo_state.get("request")
        if not isinstance(request, dict) or not isinstance(request.get("action"), str):
            raise ActionFailed(f"{self.verb}: the service gave no undo for this change")
        body = dict(request.get("body") or {})
        if ctx.reason:
            body["reason"] = f"rollback: {ctx.reason}"[:500]
        data = call_admin(ctx, request["action"], body, key_suffix=":undo")
        return ActionOutcome(True, str(data.get("message") or "undone"), data=data)


class NoBody(_Strict):
    pass


class RestartService(AdminAction):
    name = "restart-service"
    verb = "restart-service"
    description = "Graceful restart of the service: clears leaked memory and connections."
    params_model = NoBody
    reversible = True  # the same version and config come back: nothing to put back
    restarts = True


class ClearCache(AdminAction):
    name = "clear-cache"
    verb = "clear-cache"
    description = "Drop cached entries and the on-disk render cache (both refill from the source of truth)."
    params_model = NoBody
    reversible = True


class ResetConnections(AdminAction):
    name = "reset-connections"
    verb = "reset-connections"
    description = "Close and reopen the DB connection pool, freeing leaked connections."
    params_model = NoBody
    reversible = True


class ScaleParams(_Strict):
    db_pool_size: int | None = Field(None, ge=1, le=10_000)
    replicas: int | None = Field(None, ge=1, le=100)
    memory_limit_bytes: int | None = Field(None, ge=16 * 1024 * 1024)


class ScaleResources(AdminAction):
    name = "scale-resources"
    verb = "scale-resources"
    description = "Raise capacity (DB pool, replicas, memory limit; default one step up). Undo scales back."
    params_model = ScaleParams
    reversible = True
    service_undo = True


class FailoverParams(_Strict):
    channel: Literal["email", "sms"]
    to: Literal["primary", "secondary"] | None = None


class Failover(AdminAction):
    name = "failover"
    verb = "failover"
    description = "Switch the email or SMS provider (default: to the other one). Undo switches back."
    params_model = FailoverParams
    reversible = True
    service_undo = True


class ProviderFailover(Failover):
    name = "provider-failover"
    description = "Provider outage mitigation: move email or SMS traffic to the standby provider."


class MaintenanceParams(_Strict):
    enabled: bool = True


class Maintenance(AdminAction):
    name = "maintenance"
    verb = "maintenance"
    description = "Turn maintenance mode on or off. Undo flips it back."
    params_model = MaintenanceParams
    reversible = True
    service_undo = True


class RotateKeys(AdminAction):
    name = "rotate-keys"
    verb = "rotate-keys"
    description = "Rotate the admin keys (old keys stay valid for the grace period, then expire)."
    params_model = NoBody
    reversible = False

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        """Ed25519: make the new pair here and send only its public half; HMAC: take the new secret.

        The new private key lives in this process's memory only: write it to the key file (the
        audit trail never holds it) before this process restarts, or the old key's grace ends.
        """
        auth = ctx.admin.auth if ctx.admin is not None else None
        body = self.body(params, ctx)
        private: Ed25519PrivateKey | None = None
        if isinstance(auth, AdminAuth) and isinstance(auth.key, Ed25519PrivateKey):
            private = Ed25519PrivateKey.generate()
            body["public_key"] = public_key_text(private.public_key())
        data = call_admin(ctx, self.verb, body)
        new_key = data.get("new_key")
        switched = False
        if isinstance(new_key, dict) and isinstance(auth, AdminAuth):
            # Switch our own signing key at once; the old one stays valid for the grace period.
            if private is not None:
                auth.key = private
                switched = True
            elif isinstance(new_key.get("secret"), str):
                auth.key = HmacKey(new_key["secret"])
                switched = True
            if switched:
                auth.key_id = str(new_key["key_id"])
        # Neither the private key nor an HMAC secret goes into the audit trail.
        return ActionOutcome(
            True,
            str(data.get("message") or "keys rotated"),
            data={
                "new_key_id": new_key.get("key_id") if isinstance(new_key, dict) else None,
                "algorithm": new_key.get("algorithm") if isinstance(new_key, dict) else None,
                "client_switched": switched,
                "grace_seconds": data.get("grace_seconds"),
            },
        )


class RollbackParams(_Strict):
    version: str | None = Field(None, max_length=64)


class RollbackDeployment(AdminAction):
    name = "rollback-deployment"
    verb = "rollback-deployment"
    description = "Roll the deployment back to the previous version."
    params_model = RollbackParams
    reversible = False  # changes the running version; putting it back is a new deploy, not an undo
    service_undo = True


class MitigateMemoryLeak(RestartService):
    name = "mitigate-memory-leak"
    description = "Memory-leak mitigation: a graceful restart before the forecast OOM kill."


class RecoverDbConnections(ResetConnections):
    name = "recover-db-connections"
    description = "DB connection recovery: reset the pool so leaked connections return to it."


ADMIN_ACTIONS: list[type[Action]] = [
    RestartService,
    ClearCache,
    ResetConnections,
    ScaleResources,
    Failover,
    ProviderFailover,
    Maintenance,
    RotateKeys,
    RollbackDeployment,
    MitigateMemoryLeak,
    RecoverDbConnections,
]
