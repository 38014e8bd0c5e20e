"""The signed admin API: ``POST /api/admin/{action}``, ``GET /api/admin/audit``, ``GET /api/admin/keys``.

Why checks run in this order: the body size first (413, ``forewarn.body_limit`` on the whole app,
before a byte is read), then the signature (401: nothing else is said to an unauthenticated
caller, not even whether the action exists), then replay (409), then the per-key rate limit (429
with Retry-After), then the parameters (422) and the action itself. Every POST is audited,
accepted or refused; reads of the audit trail are not, so they do not drown it.

Retries are safe: a POST carrying ``Idempotency-Key`` that already succeeded for the same key id,
action and body gets the first answer again (header ``Idempotent-Replayed: true``) instead of
running twice; the healer sends one per incident step, so at-least-once delivery acts once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from forewarn.admin_signing import HEADER_KEY_ID, NonceCache, SignatureError, verify
from forewarn.musobuddy.admin_actions import ACTIONS, ActionContext, ActionRefused
from forewarn.musobuddy.admin_guard import KeyRing
from forewarn.musobuddy.audit import AuditTrail
from forewarn.rate_limit import RateLimiter, retry_after_header

IDEMPOTENCY_HEADER = "Idempotency-Key"
REASON_HEADER = "X-Forewarn-Reason"
MAX_IDEMPOTENCY_KEY_LENGTH = 200


class IdempotencyCache:
    """The answers of recent successful admin calls, by (key id, Idempotency-Key); bounded."""

    def __init__(self, max_entries: int = 5000) -> None:
        self.max_entries = max_entries
        self._answers: OrderedDict[tuple[str, str], tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: tuple[str, str], fingerprint: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._answers[key] = (fingerprint, payload)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)


@dataclass
class AdminState:
    keyring: KeyRing
    limiter: RateLimiter
    nonces: NonceCache
    audit: AuditTrail
    context: ActionContext
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)


def add_admin_routes(app: FastAPI) -> None:
    from forewarn.musobuddy.app import MusoBuddy

    muso = app.state.musobuddy
    assert isinstance(muso, MusoBuddy)
    admin_cfg = muso.config.admin
    keyring = KeyRing(admin_cfg.keys, muso.wall_clock())
    state = AdminState(
        keyring=keyring,
        limiter=RateLimiter(admin_cfg.rate_limit_per_minute, admin_cfg.rate_limit_burst),
        nonces=NonceCache(ttl_seconds=2 * admin_cfg.max_skew_seconds),
        audit=AuditTrail(muso.log, admin_cfg.audit_max_records),
        context=ActionContext(muso.config, muso.simulation, keyring, muso.wall_clock),
    )
    app.state.admin = state

    def target(request: Request) -> str:
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")

    async def authenticate(request: Request, action: str, audited: bool) -> str:
        now = muso.wall_clock()
        body = await request.body()  # over the app's BodyLimit: 413 before it is read whole
        claimed = (request.headers.get(HEADER_KEY_ID) or "")[:64] or None
        client = request.client.host if request.client else None

        def refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
            if audited:
                state.audit.record(
                    now=now,
                    key_id=claimed,
                    action=action,
                    method=request.method,
                    path=target(request),
                    status_code=status,
                    outcome="rejected",
                    reason=detail,
                    client=client,
                )
            return HTTPException(status, detail, headers=headers)

        try:
            key_id, nonce, _ = verify(
                request.method,
                target(request),
                body,
                request.headers,
                lambda kid: keyring.key_for(kid, now),
                now,
                admin_cfg.max_skew_seconds,
            )
            state.nonces.check_and_add(key_id, nonce, now)
        except SignatureError as exc:
            raise refuse(exc.status_code, str(exc)) from exc
        wait = state.limiter.acquire(key_id, now)
        if wait is not None:
            raise refuse(
                429,
                f"rate limit for key {key_id!r} exceeded ({admin_cfg.rate_limit_per_minute:g}/min, "
                f"burst {admin_cfg.rate_limit_burst}); retry in {wait:.1f} s",
                {"Retry-After": retry_after_header(wait)},
            )
        return key_id

    @app.post(
        "/api/admin/{action}",
        summary="Run an admin action (signed; see forewarn.admin_signing)",
    )
    async def run_action(action: str, request: Request) -> JSONResponse:
        key_id = await authenticate(request, action, audited=True)
        now = muso.wall_clock()
        client = request.client.host if request.client else None

        def audit(status: int, outcome: str, reason: str | None = None, **extra: Any) -> dict[str, Any]:
            return state.audit.record(
                now=now,
                key_id=key_id,
                action=action,
                method="POST",
                path=target(request),
                status_code=status,
                outcome=outcome,
                reason=reason,
                client=client,
                **extra,
            )

        if action not in ACTIONS:
            detail = f"unknown admin action {action!r}; known: {', '.join(ACTIONS)}"
            audit(404, "rejected", detail)
            raise HTTPException(404, detail)
        model, run = ACTIONS[action]
        body = await request.body()
        idem = request.headers.get(IDEMPOTENCY_HEADER)
        fingerprint = hashlib.sha256(action.encode() + b"\n" + body).hexdigest()
        if idem is not None:
            if not 0 < len(idem) <= MAX_IDEMPOTENCY_KEY_LENGTH:
                detail = f"{IDEMPOTENCY_HEADER} must be 1..{MAX_IDEMPOTENCY_KEY_LENGTH} characters"
                audit(422, "rejected", detail)
                raise HTTPException(422, detail)
            earlier = state.idempotency.get((key_id, idem))
            if earlier is not None:
                if earlier[0] != fingerprint:
                    detail = f"{IDEMPOTENCY_HEADER} {idem[:60]!r} was already used for a different request"
                    audit(422, "rejected", detail)
                    raise HTTPException(422, detail)
                audit(200, "deduplicated", f"{IDEMPOTENCY_HEADER} {idem[:60]!r} already done")
                return JSONResponse(earlier[1], headers={"Idempotent-Replayed": "true"})
        try:
            params = model.model_validate_json(body if body.strip() else b"{}")
        except ValidationError as exc:
            errors = [
                {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False)
            ]
            audit(422, "rejected", f"invalid parameters: {errors}")
            raise HTTPException(422, errors) from exc
        try:
            outcome = run(state.context, params)
        except ActionRefused as exc:
            audit(exc.status_code, "refused", exc.detail)
            raise HTTPException(exc.status_code, exc.detail) from exc
        status = 503 if outcome.failure else 200
        entry = audit(
            status,
            "failed" if outcome.failure else "ok",
            outcome.failure or params.reason or request.headers.get(REASON_HEADER),
            before=outcome.before,
            after=outcome.after,
        )
        payload: dict[str, Any] = {
            "action": action,
            "ok": outcome.failure is None,
            "changed": outcome.changed,
            "before": outcome.before,
            "after": outcome.after,
            "undo": outcome.undo,
            "message": outcome.message,
            "audit_id": entry["id"],
            "at": entry["at"],
            **outcome.extra,
        }
        if outcome.failure:
            payload["detail"] = outcome.failure
        elif idem is not None:
            state.idempotency.put((key_id, idem), fingerprint, payload)
        return JSONResponse(payload, status_code=status)

    @app.get("/api/admin/audit", summary="The service-side audit trail (signed), oldest first")
    async def read_audit(
        request: Request,
        since_id: Annotated[int, Query(ge=0, description="Only records with a larger id.")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        await authenticate(request, "read-audit", audited=False)
        return {"records": state.audit.records(since_id, limit)}

    @app.get("/api/admin/keys", summary="Admin key ids and their validity (signed; never secrets)")
    async def read_keys(request: Request) -> dict[str, Any]:
        await authenticate(request, "read-keys", audited=False)
        return {"keys": keyring.describe(muso.wall_clock())}
