"""Signed admin requests: Ed25519 (the default) or HMAC-SHA256 (kept for existing deployments).

Why sign requests instead of sending a bearer token: a healing system acts on production, so a
captured request must be useless. The signature covers the method, the path (with query), a SHA-256
of the body, a timestamp and a one-time nonce, under a key named by a key id:

* a changed body, path or method breaks the signature                         -> 401
* a timestamp more than ``max_skew_seconds`` (300) from the server's clock    -> 401 (stale)
* a key id the server does not know (or whose rotation grace period ended)    -> 401
* a nonce the server has already seen within the skew window                  -> 409 (replay)

Why Ed25519: with HMAC the server must hold the same secret the executor signs with, so anyone who
reads the admin server's config (or memory, or backups) can forge healing requests. With Ed25519
the executor keeps the private key and the server stores only public keys: nothing on the server
opens its own admin API. Why HMAC is still accepted: targets that adopted this protocol verify
HMAC today; dropping it would break their admin calls on upgrade. They move key by key (add an
Ed25519 public key next to the old secret, switch the executor, remove the secret), and a key
listed as HMAC stays HMAC. The *server* picks the algorithm from the key it stores for the key id,
never from the request, so a request cannot downgrade a key, nor pass a public key off as an HMAC
secret (the JWT "alg" confusion).

The string that is signed (UTF-8, lines joined by ``\\n``)::

    FOREWARN-ED25519   (or FOREWARN-HMAC-SHA256 for an HMAC key)
    <METHOD upper-case>
    <path, plus ?query when there is one, exactly as sent>
    <hex sha256 of the raw body bytes (of b"" when there is none)>
    <timestamp: integer epoch seconds>
    <nonce>
    <key id>

and the signature header is the lowercase hex of the Ed25519 signature (64 bytes) or of the
HMAC-SHA256 (32 bytes). The scheme line separates the two domains: one signature never verifies
under the other scheme. Key texts: a public key is ``ed25519:<base64url of its 32 raw bytes>``, a
private key ``ed25519-private:<base64url of its 32 raw bytes>`` (or a PKCS#8 PEM in a key file);
``forewarn keys admin`` makes a pair. :class:`AdminAuth` signs every request an ``httpx`` client
sends (including retries, each with a fresh nonce).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from forewarn.settings import HealingSettings

HEADER_KEY_ID = "X-Forewarn-Key-Id"
HEADER_TIMESTAMP = "X-Forewarn-Timestamp"
HEADER_NONCE = "X-Forewarn-Nonce"
HEADER_SIGNATURE = "X-Forewarn-Signature"
SCHEME_ED25519 = "FOREWARN-ED25519"
SCHEME_HMAC = "FOREWARN-HMAC-SHA256"
PUBLIC_PREFIX = "ed25519:"
PRIVATE_PREFIX = "ed25519-private:"
HMAC_PREFIX = "hmac:"
MIN_HMAC_SECRET_LENGTH = 16
DEFAULT_MAX_SKEW_SECONDS = 300.0
MAX_NONCE_LENGTH = 128


@dataclass(frozen=True)
class HmacKey:
    """A shared HMAC secret (the legacy scheme); its repr never shows the secret."""

    secret: str = field(repr=False)


SigningKey = Ed25519PrivateKey | HmacKey
VerifyingKey = Ed25519PublicKey | HmacKey


class AdminKeyError(ValueError):
    """An admin key text that cannot be parsed; the message says which form is expected."""


def _raw32(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise AdminKeyError(
            f"{where}: expected base64url of 32 raw bytes (make a pair with `forewarn keys admin`)"
        )
    return raw


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def private_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return PRIVATE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def generate_key_pair() -> tuple[str, str]:
    """A fresh (private key text, public key text) pair."""
    private = Ed25519PrivateKey.generate()
    return private_key_text(private), public_key_text(private.public_key())


def parse_verifying_key(text: str, where: str = "admin key") -> VerifyingKey:
    """What an admin server stores for a key id: ``ed25519:<b64>`` (a public key) or an HMAC secret.

    An HMAC secret is ``hmac:<secret>`` or, as configs written before Ed25519 have it, the bare
    secret (at least 16 characters). A private key here is refused: the server must not hold one.
    """
    text = text.strip()
    if text.startswith(PRIVATE_PREFIX) or text.startswith("-----BEGIN"):
        raise AdminKeyError(f"{where}: this is a private key; the server takes the public key (ed25519:...)")
    if text.startswith(PUBLIC_PREFIX):
        return Ed25519PublicKey.from_public_bytes(_raw32(text[len(PUBLIC_PREFIX) :], where))
    secret = text.removeprefix(HMAC_PREFIX)
    if len(secret) < MIN_HMAC_SECRET_LENGTH:
        raise AdminKeyError(f"{where}: an HMAC secret must be at least {MIN_HMAC_SECRET_LENGTH} characters")
    return HmacKey(secret)


def parse_signing_key(text: str, where: str = "admin private key") -> Ed25519PrivateKey:
    """An Ed25519 private key from ``ed25519-private:<b64>`` or an unencrypted PKCS#8 PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise AdminKeyError(f"{where}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AdminKeyError(f"{where}: the PEM key is not Ed25519")
        return key
    if not text.startswith(PRIVATE_PREFIX):
        raise AdminKeyError(f"{where}: expected ed25519-private:<base64url> or a PEM private key")
    return Ed25519PrivateKey.from_private_bytes(_raw32(text[len(PRIVATE_PREFIX) :], where))


def signing_key_from_settings(healing: HealingSettings) -> SigningKey | None:
    """The admin signing key of ``healing`` settings: Ed25519 (key or key file) or the HMAC secret.

    A key file holds a PKCS#8 PEM or ``ed25519-private:<b64>`` lines (newest first, ``#`` comments
    skipped); the first key signs. Errors name the setting, never the key.
    """
    text = healing.admin_private_key.get_secret_value()
    if text:
        return parse_signing_key(text, "healing.admin_private_key")
    path = healing.admin_private_key_file
    if path is not None:
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AdminKeyError(f"{path}: cannot read the admin private key file ({exc.strerror})") from None
        if "-----BEGIN" not in content:
            lines = [
                ln.strip() for ln in content.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
            ]
            content = lines[0] if lines else ""
        return parse_signing_key(content, str(path))
    secret = healing.admin_secret.get_secret_value()
    return HmacKey(secret) if secret else None


def key_algorithm(key: SigningKey | VerifyingKey) -> str:
    return "hmac-sha256" if isinstance(key, HmacKey) else "ed25519"


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


def canonical_request(
    method: str, path: str, body: bytes, timestamp: str, nonce: str, key_id: str, scheme: str = SCHEME_ED25519
) -> bytes:
    return "\n".join(
        [scheme, method.upper(), path, hashlib.sha256(body).hexdigest(), timestamp, nonce, key_id]
    ).encode()


def _scheme(key: SigningKey | VerifyingKey) -> str:
    return SCHEME_HMAC if isinstance(key, HmacKey) else SCHEME_ED25519


def signature(key: SigningKey, canonical: bytes) -> str:
    if isinstance(key, HmacKey):
        return hmac.new(key.secret.encode(), canonical, hashlib.sha256).hexdigest()
    return key.sign(canonical).hex()


def signature_matches(key: VerifyingKey, canonical: bytes, given: str) -> bool:
    if isinstance(key, HmacKey):
        return hmac.compare_digest(signature(key, canonical), given.lower())
    try:
        key.verify(bytes.fromhex(given), canonical)
    except (ValueError, InvalidSignature):
        return False
    return True


def sign(
    method: str,
    path: str,
    body: bytes,
    key_id: str,
    key: SigningKey,
    timestamp: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers that authenticate one request (timestamp defaults to now, nonce to random)."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    once = nonce if nonce is not None else secrets.token_hex(16)
    canonical = canonical_request(method, path, body, stamp, once, key_id, _scheme(key))
    return {
        HEADER_KEY_ID: key_id,
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: once,
        HEADER_SIGNATURE: signature(key, canonical),
    }


def verify(
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    key_for: Callable[[str], VerifyingKey | None] | Mapping[str, VerifyingKey],
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
    lookup = key_for.get if isinstance(key_for, Mapping) else key_for
    key = lookup(key_id)
    if key is None:
        raise UnknownKey(f"unknown or expired admin key id {key_id[:64]!r}")
    canonical = canonical_request(method, path, body, stamp, nonce, key_id, _scheme(key))
    if not signature_matches(key, canonical, given):
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

    def __init__(self, key_id: str, key: SigningKey, clock: Callable[[], float] = time.time) -> None:
        self.key_id = key_id
        self.key = key
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign(
                request.method,
                request_target(request),
                request.content,
                self.key_id,
                self.key,
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
    "AdminKeyError",
    "BadSignature",
    "HmacKey",
    "MissingSignature",
    "NonceCache",
    "ReplayedRequest",
    "SignatureError",
    "SigningKey",
    "StaleRequest",
    "UnknownKey",
    "VerifyingKey",
    "canonical_request",
    "generate_key_pair",
    "key_algorithm",
    "parse_signing_key",
    "parse_verifying_key",
    "private_key_text",
    "public_key_text",
    "sign",
    "signing_key_from_settings",
    "verify",
]
