"""HMAC-SHA256 request signing for admin APIs (the demo app's, or any target that adopts it).

Why sign requests instead of sending a bearer token: a healing system acts on production, so a
captured request must be useless. The signature covers the method, the path (with query), a SHA-256
of the body, a timestamp and a one-time nonce, under a shared secret named by a key id:

* a changed body, path or method breaks the signature                         -> 401
* a timestamp more than ``max_skew_seconds`` (300) from the server's clock    -> 401 (stale)
* a key id the server does not know (or whose rotation grace period ended)    -> 401
* a nonce the server has already seen within the skew window                  -> 409 (replay)

The string that is signed (UTF-8, lines joined by ``\\n``)::

    FOREWARN-HMAC-SHA256
    <METHOD upper-case>
    <path, plus ?query when there is one, exactly as sent>
    <hex sha256 of the raw body bytes (of b"" when there is none)>
    <timestamp: integer epoch seconds>
    <nonce>
    <key id>

and the signature header is the lowercase hex HMAC-SHA256 of it. :class:`AdminAuth` signs every
request an ``httpx`` client sends (including retries, each with a fresh nonce).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping

import httpx

HEADER_KEY_ID = "X-Forewarn-Key-Id"
HEADER_TIMESTAMP = "X-Forewarn-Timestamp"
HEADER_NONCE = "X-Forewarn-Nonce"
HEADER_SIGNATURE = "X-Forewarn-Signature"
SCHEME = "FOREWARN-HMAC-SHA256"
DEFAULT_MAX_SKEW_SECONDS = 300.0
MAX_NONCE_LENGTH = 128


class SignatureError(Exception):
    """A request whose signature cannot be accepted; ``status_code`` is the HTTP answer."""

    status_code = 401


class MissingSignature(SignatureError):
    pass


class StaleRequest(SignatureError):
    pass


class UnknownKey(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


class ReplayedRequest(SignatureError):
    status_code = 409


def canonical_request(method: str, path: str, body: bytes, timestamp: str, nonce: str, key_id: str) -> bytes:
    return "\n".join(
        [SCHEME, method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce, key_id]
    ).encode()


def signature(secret: str, canonical: bytes) -> str:
    return hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def sign(
    method: str,
    path: str,
    body: bytes,
    key_id: str,
    secret: str,
    timestamp: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers that authenticate one request (timestamp defaults to now, nonce to random)."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    once = nonce if nonce is not None else secrets.token_hex(16)
    canonical = canonical_request(method, path, body, stamp, once, key_id)
    return {
        HEADER_KEY_ID: key_id,
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: once,
        HEADER_SIGNATURE: signature(secret, canonical),
    }


def verify(
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    secret_for: Callable[[str], str | None] | Mapping[str, str],
    now: float,
    max_skew_seconds: float = DEFAULT_MAX_SKEW_SECONDS,
) -> tuple[str, str, int]:
    """Check one request's signature and freshness; returns (key_id, nonce, timestamp).

    Replay protection needs memory, so it is not done here: feed the returned nonce to a
    :class:`NonceCache`. Raises a :class:`SignatureError` subclass with a message fit for ``detail``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    values = {}
    for name in (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE):
        value = lowered.get(name.lower())
        if not value:
            raise MissingSignature(f"missing header {name}: admin requests must be signed")
        values[name] = value
    key_id, stamp, nonce, given = (
        values[HEADER_KEY_ID],
        values[HEADER_TIMESTAMP],
        values[HEADER_NONCE],
        values[HEADER_SIGNATURE],
    )
    if not stamp.isdigit():
        raise StaleRequest(f"{HEADER_TIMESTAMP} must be integer epoch seconds, got {stamp[:40]!r}")
    if len(nonce) > MAX_NONCE_LENGTH:
        raise MissingSignature(f"{HEADER_NONCE} is longer than {MAX_NONCE_LENGTH} characters")
    skew = now - int(stamp)
    if abs(skew) > max_skew_seconds:
        raise StaleRequest(
            f"request timestamp is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'}; "
            f"allowed skew is {max_skew_seconds:.0f} s"
        )
    lookup = secret_for.get if isinstance(secret_for, Mapping) else secret_for
    secret = lookup(key_id)
    if secret is None:
        raise UnknownKey(f"unknown or expired admin key id {key_id[:64]!r}")
    expected = signature(secret, canonical_request(method, path, body, stamp, nonce, key_id))
    if not hmac.compare_digest(expected, given.lower()):
        raise BadSignature("signature does not match the request (method, path, body, timestamp, nonce, key)")
    return key_id, nonce, int(stamp)


class NonceCache:
    """Remembers nonces for the skew window, so a captured request cannot be sent again.

    Entries older than ``ttl_seconds`` are forgotten (a request that old is refused as stale anyway).
    Bounded: beyond ``max_entries`` the oldest are dropped, which only matters under a flood of
    validly signed requests, i.e. from someone who holds a key.
    """

    def __init__(self, ttl_seconds: float = 2 * DEFAULT_MAX_SKEW_SECONDS, max_entries: int = 100_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_add(self, key_id: str, nonce: str, now: float) -> None:
        """Raise :class:`ReplayedRequest` if seen; otherwise remember it."""
        with self._lock:
            while self._seen:
                oldest_key, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self.ttl_seconds and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest_key]
            if (key_id, nonce) in self._seen:
                raise ReplayedRequest(f"nonce {nonce[:40]!r} was already used: replayed request refused")
            self._seen[(key_id, nonce)] = now


class AdminAuth(httpx.Auth):
    """httpx auth that signs every request with an admin key; use as ``httpx.Client(auth=AdminAuth(...))``."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.key_id = key_id
        self.secret = secret
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign(
                request.method,
                request_target(request),
                request.content,
                self.key_id,
                self.secret,
                self.clock(),
            )
        )
        yield request


def request_target(request: httpx.Request) -> str:
    """Path plus query, as the server sees it."""
    query = request.url.query.decode("ascii")
    return request.url.path + (f"?{query}" if query else "")


__all__ = [
    "HEADER_KEY_ID",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "AdminAuth",
    "BadSignature",
    "MissingSignature",
    "NonceCache",
    "ReplayedRequest",
    "SignatureError",
    "StaleRequest",
    "UnknownKey",
    "canonical_request",
    "sign",
    "verify",
]
