"""A real synthetic login: user lookup, PBKDF2 password check, session token issue and verify.

Why real crypto in a demo: a health check that only pings tells nothing about whether users can log
in. This one exercises the same steps as a login (and really costs CPU, so its latency is honest),
and it proves the password check can say no by also trying a wrong password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    status: Status
    latency_ms: float
    detail: str | None = None


class SessionTokens:
    """Stateless signed session tokens: ``user|expiry|nonce`` plus an HMAC-SHA256 tag."""

    def __init__(self, ttl_seconds: float, wall_clock: Callable[[], float]) -> None:
        self._key = secrets.token_bytes(32)
        self.ttl_seconds = ttl_seconds
        self.wall_clock = wall_clock

    def issue(self, user: str) -> str:
        expires = int(self.wall_clock() + self.ttl_seconds)
        body = f"{user}|{expires}|{secrets.token_hex(8)}".encode()
        tag = hmac.new(self._key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(body).decode() + "." + base64.urlsafe_b64encode(tag).decode()

    def verify(self, token: str) -> str | None:
        """The user the token was issued to, or None if forged, malformed or expired."""
        try:
            body_b64, tag_b64 = token.split(".", 1)
            body = base64.urlsafe_b64decode(body_b64)
            tag = base64.urlsafe_b64decode(tag_b64)
            user, expires, _nonce = body.decode().split("|")
        except ValueError:
            return None
        expected = hmac.new(self._key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected) or int(expires) < self.wall_clock():
            return None
        return user


class SyntheticLogin:
    """The test user and the login steps, run on every auth health check."""

    def __init__(
        self,
        user: str,
        iterations: int,
        session_ttl_seconds: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.user = user
        self.iterations = iterations
        self._password = secrets.token_urlsafe(18)
        self._salt = secrets.token_bytes(16)
        self._stored_hash = self._hash(self._password)
        self.tokens = SessionTokens(session_ttl_seconds, wall_clock)
        self.sessions_issued = 0

    def _hash(self, password: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), self._salt, self.iterations)

    def check_password(self, password: str) -> bool:
        return hmac.compare_digest(self._hash(password), self._stored_hash)

    def run(self, db_error: str | None, db_latency_ms: float) -> list[StepResult]:
        """Run the login; ``db_error`` set means the user lookup cannot reach the database."""
        steps: list[StepResult] = []
        if db_error is not None:
            steps.append(StepResult("user_lookup", "down", db_latency_ms, db_error))
            return steps
        steps.append(StepResult("user_lookup", "ok", db_latency_ms, f"found {self.user}"))

        started = time.perf_counter()
        accepted = self.check_password(self._password)
        rejected_wrong = not self.check_password(self._password + "x")
        elapsed = (time.perf_counter() - started) * 1000
        if accepted and rejected_wrong:
            steps.append(StepResult("password_verify", "ok", elapsed, f"pbkdf2-sha256 x{self.iterations}"))
        else:
            detail = "correct password refused" if not accepted else "wrong password accepted"
            steps.append(StepResult("password_verify", "down", elapsed, detail))
            return steps

        started = time.perf_counter()
        token = self.tokens.issue(self.user)
        self.sessions_issued += 1
        steps.append(StepResult("session_issue", "ok", (time.perf_counter() - started) * 1000))

        started = time.perf_counter()
        who = self.tokens.verify(token)
        forged_refused = self.tokens.verify(_forge(token, "admin@musobuddy.test")) is None
        elapsed = (time.perf_counter() - started) * 1000
        if who == self.user and forged_refused:
            steps.append(StepResult("session_verify", "ok", elapsed))
        else:
            steps.append(StepResult("session_verify", "down", elapsed, "session token did not verify"))
        return steps


def _forge(token: str, user: str) -> str:
    """The same token with another user in its body and the original tag: must never verify."""
    body_b64, tag_b64 = token.split(".", 1)
    _, expires, nonce = base64.urlsafe_b64decode(body_b64).decode().split("|")
    forged = base64.urlsafe_b64encode(f"{user}|{expires}|{nonce}".encode()).decode()
    return forged + "." + tag_b64
