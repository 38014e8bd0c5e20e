"""``webhook``: POST a signed JSON request to any URL (a runbook service, a chat-ops bot, a CI job).

The receiver checks two headers, the scheme of Stripe's and Slack's webhooks:

* ``X-Forewarn-Timestamp``: integer epoch seconds;
* ``X-Forewarn-Signature``: ``v1=`` + hex HMAC-SHA256 over ``<timestamp>.<raw body bytes>`` with the
  shared secret, so a changed body or a replay outside the skew window fails (:func:`verify`);

and ``Idempotency-Key`` (the step's key: the same incident, action and step) to drop a re-delivery.
The secret is named by the step (``secret: ops``) and held in settings
(``healing.actions.webhook_secrets``, an environment variable in practice), never in the policy YAML.

Explicitly irreversible: what the receiver does is unknown here. A step may give ``undo_url``; a
rollback then POSTs the same envelope there with ``"rollback": true`` (its own idempotency key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.errors import ActionFailed

HEADER_TIMESTAMP = "X-Forewarn-Timestamp"
HEADER_SIGNATURE = "X-Forewarn-Signature"
HEADER_IDEMPOTENCY = "Idempotency-Key"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float, skew: float = 300.0) -> bool:
    """What a receiver written in Python runs: a fresh timestamp and a matching signature."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    return abs(now - stamp) <= skew and hmac.compare_digest(sign(secret, stamp, body), signature)


class WebhookParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=1)  # a name in healing.actions.webhook_secrets
    payload: dict[str, Any] = Field(default_factory=dict)  # sent as "params" in the envelope
    headers: dict[str, str] = Field(default_factory=dict)
    method: Literal["POST", "PUT"] = "POST"
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    undo_url: str | None = Field(None, pattern=r"^https?://")


class SignedWebhook(Action):
    name = "webhook"
    description = "Send a signed (HMAC-SHA256) JSON request to a URL; the receiver does the work."
    params_model = WebhookParams
    reversible = False  # the receiver's effect is unknown; undo_url is the receiver's own undo

    @property
    def can_undo(self) -> bool:
        return True  # only when the step gives an undo_url (then undo_state is set)

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, WebhookParams)
        answer = self._send(params, params.url, ctx, rollback=False)
        return ActionOutcome(
            True,
            f"{params.url} answered {answer['status']}",
            data=answer,
            undo_state={"url": params.undo_url} if params.undo_url else {},
        )

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        assert isinstance(params, WebhookParams)
        url = outcome.undo_state.get("url")
        if not isinstance(url, str):
            raise ActionFailed("webhook: this step gave no undo_url")
        answer = self._send(params, url, ctx, rollback=True)
        return ActionOutcome(True, f"undo: {url} answered {answer['status']}", data=answer)

    def _send(self, params: WebhookParams, url: str, ctx: ActionContext, *, rollback: bool) -> dict[str, Any]:
        secret = ctx.settings.webhook_secrets.get(params.secret)
        if secret is None or not secret.get_secret_value():
            known = ", ".join(sorted(ctx.settings.webhook_secrets)) or "none"
            raise ActionFailed(
                f"webhook: no secret {params.secret!r} in healing.actions.webhook_secrets (set: {known})"
            )
        key = ctx.idempotency_key + (":undo" if rollback else "")
        envelope = {
            "service": ctx.service,
            "reason": ctx.reason,
            "idempotency_key": key,
            "rollback": rollback,
            "params": params.payload,
        }
        body = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(time.time())  # wall time, not the executor clock: the receiver checks it against its own
        headers = {
            **params.headers,
            "Content-Type": "application/json",
            HEADER_TIMESTAMP: str(stamp),
            HEADER_SIGNATURE: sign(secret.get_secret_value(), stamp, body),
            HEADER_IDEMPOTENCY: key,
        }
        client = ctx.http or httpx.Client()
        try:
            response = client.request(
                params.method, url, content=body, headers=headers, timeout=params.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise ActionFailed(
                f"webhook: {url} unreachable ({type(exc).__name__}: {exc})", retryable=True
            ) from exc
        finally:
            if ctx.http is None:
                client.close()
        if response.status_code >= 300:
            raise ActionFailed(
                f"webhook: {url} answered {response.status_code}: {ctx.redact(response.text[:300])}",
                retryable=response.status_code in (429, 502, 503, 504),
            )
        return {"status": response.status_code, "response": ctx.redact(response.text[:500])}


__all__ = ["HEADER_IDEMPOTENCY", "HEADER_SIGNATURE", "HEADER_TIMESTAMP", "SignedWebhook", "sign", "verify"]
