"""API keys with two scopes: ``read`` (every GET) and ``admin`` (approve, deny, trigger, kill switch).

Why keys from settings and a constant-time compare: keys arrive through the environment or the ops
config (never in code), and a timing side channel must not leak them. An admin key can also read.
Keys are accepted as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ApiKeys", "Caller", "Scope", "presented_key"]


class Scope(StrEnum):
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the scope granted and a short, non-secret name for audit trails."""

    scope: Scope | None
    name: str


@dataclass(frozen=True)
class ApiKeys:
    read: tuple[str, ...] = ()
    admin: tuple[str, ...] = ()
    allow_anonymous_read: bool = False

    def identify(self, key: str | None) -> Caller:
        """The caller behind ``key``; ``scope`` is None for a missing or unknown key."""
        if key:
            for candidate in self.admin:
                if hmac.compare_digest(candidate.encode(), key.encode()):
                    return Caller(Scope.ADMIN, f"admin-key-{_tag(candidate)}")
            for candidate in self.read:
                if hmac.compare_digest(candidate.encode(), key.encode()):
                    return Caller(Scope.READ, f"read-key-{_tag(candidate)}")
            return Caller(None, "unknown-key")
        if self.allow_anonymous_read:
            return Caller(Scope.READ, "anonymous")
        return Caller(None, "anonymous")


def presented_key(api_key_header: str | None, authorization: str | None) -> str | None:
    """The key a request carries: ``X-API-Key`` first, else the token of ``Authorization: Bearer``."""
    if api_key_header:
        return api_key_header
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _tag(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:8]
