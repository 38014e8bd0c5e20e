"""forewarn.admin_signing: what is signed, what breaks a signature, freshness and replay.

Every check runs for both schemes: Ed25519 (the server holds a public key) and HMAC (the older
shared secret); a request signed under one never passes under the other.
"""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from forewarn.admin_signing import (
    HEADER_KEY_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    AdminAuth,
    AdminKeyError,
    BadSignature,
    HmacKey,
    MissingSignature,
    NonceCache,
    ReplayedRequest,
    SigningKey,
    StaleRequest,
    UnknownKey,
    VerifyingKey,
    generate_key_pair,
    parse_signing_key,
    parse_verifying_key,
    private_key_text,
    public_key_text,
    request_target,
    sign,
    verify,
)

pytestmark = pytest.mark.unit

SECRET = "a-test-secret-that-is-long-enough"
PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = 1_800_000_000.0
BODY = b'{"enabled": true}'
PATH = "/api/admin/maintenance"


@pytest.fixture(params=["ed25519", "hmac"])
def pair(request: pytest.FixtureRequest) -> tuple[SigningKey, dict[str, VerifyingKey]]:
    """(the key the client signs with, the keys the server holds)."""
    if request.param == "ed25519":
        return PRIVATE, {"ops": PRIVATE.public_key()}
    return HmacKey(SECRET), {"ops": HmacKey(SECRET)}


def signed(key: SigningKey, body: bytes = BODY, path: str = PATH) -> dict[str, str]:
    return sign("POST", path, body, "ops", key, NOW, "nonce-1")


def test_round_trip(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, keys = pair
    headers = signed(key)
    assert set(headers) == {HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE}
    assert headers[HEADER_TIMESTAMP] == str(int(NOW))
    assert len(headers[HEADER_SIGNATURE]) == (64 if isinstance(key, HmacKey) else 128)
    key_id, nonce, stamp = verify("POST", PATH, BODY, headers, keys, NOW)
    assert (key_id, nonce, stamp) == ("ops", "nonce-1", int(NOW))


def test_signature_covers_each_part(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, _ = pair
    assert signed(key) == signed(key)  # both schemes are deterministic (Ed25519 by design)
    base = signed(key)[HEADER_SIGNATURE]
    variants = [
        sign("POST", PATH, b'{"enabled": false}', "ops", key, NOW, "nonce-1"),
        sign("PUT", PATH, BODY, "ops", key, NOW, "nonce-1"),
        sign("POST", "/api/admin/failover", BODY, "ops", key, NOW, "nonce-1"),
        sign("POST", PATH, BODY, "ops", key, NOW + 1, "nonce-1"),
        sign("POST", PATH, BODY, "ops", key, NOW, "nonce-2"),
    ]
    assert all(v[HEADER_SIGNATURE] != base for v in variants)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", PATH, b'{"enabled": false}'),  # tampered body
        ("POST", "/api/admin/restart-service", BODY),  # other path
        ("DELETE", PATH, BODY),  # other method
        ("POST", PATH + "?x=1", BODY),  # added query
    ],
)
def test_tampering_breaks_the_signature(
    pair: tuple[SigningKey, dict[str, VerifyingKey]], method: str, path: str, body: bytes
) -> None:
    key, keys = pair
    with pytest.raises(BadSignature):
        verify(method, path, body, signed(key), keys, NOW)


def test_wrong_key_and_unknown_key(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, keys = pair
    other: dict[str, VerifyingKey] = {
        "ops": HmacKey("another-secret-xxxxx")
        if isinstance(key, HmacKey)
        else Ed25519PrivateKey.generate().public_key()
    }
    with pytest.raises(BadSignature):
        verify("POST", PATH, BODY, signed(key), other, NOW)
    with pytest.raises(UnknownKey, match="unknown or expired admin key id 'ops'"):
        verify("POST", PATH, BODY, signed(key), {"other": keys["ops"]}, NOW)


def test_a_signature_never_crosses_schemes() -> None:
    """The server's stored key picks the scheme: HMAC keyed with the public key bytes is refused."""
    public = public_key_text(PRIVATE.public_key())
    forged = sign("POST", PATH, BODY, "ops", HmacKey(public), NOW, "nonce-1")
    with pytest.raises(BadSignature):
        verify("POST", PATH, BODY, forged, {"ops": PRIVATE.public_key()}, NOW)
    with pytest.raises(BadSignature):  # and an Ed25519 signature is no HMAC of anything stored
        verify("POST", PATH, BODY, signed(PRIVATE), {"ops": HmacKey(SECRET)}, NOW)
    garbage = {**signed(PRIVATE), HEADER_SIGNATURE: "zz" * 64}
    with pytest.raises(BadSignature):
        verify("POST", PATH, BODY, garbage, {"ops": PRIVATE.public_key()}, NOW)


def test_freshness_window_is_300_seconds_both_ways(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, keys = pair
    verify("POST", PATH, BODY, signed(key), keys, NOW + 300)
    verify("POST", PATH, BODY, signed(key), keys, NOW - 300)
    with pytest.raises(StaleRequest, match="301 s old"):
        verify("POST", PATH, BODY, signed(key), keys, NOW + 301)
    with pytest.raises(StaleRequest, match="in the future"):
        verify("POST", PATH, BODY, signed(key), keys, NOW - 301)


def test_missing_or_malformed_headers(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, keys = pair
    headers = signed(key)
    del headers[HEADER_NONCE]
    with pytest.raises(MissingSignature, match=HEADER_NONCE):
        verify("POST", PATH, BODY, headers, keys, NOW)
    headers = {**signed(key), HEADER_TIMESTAMP: "yesterday"}
    with pytest.raises(StaleRequest, match="integer epoch seconds"):
        verify("POST", PATH, BODY, headers, keys, NOW)


def test_headers_are_case_insensitive(pair: tuple[SigningKey, dict[str, VerifyingKey]]) -> None:
    key, keys = pair
    verify("POST", PATH, BODY, {k.lower(): v for k, v in signed(key).items()}, keys, NOW)


def test_key_texts_round_trip_and_refuse_the_wrong_half() -> None:
    private, public = generate_key_pair()
    signing = parse_signing_key(private)
    verifying = parse_verifying_key(public)
    assert public_key_text(signing.public_key()) == public
    assert private_key_text(signing) == private
    assert isinstance(verifying, type(signing.public_key()))
    with pytest.raises(AdminKeyError, match="private key"):
        parse_verifying_key(private)  # the server must never be given the private half
    with pytest.raises(AdminKeyError, match="ed25519-private"):
        parse_signing_key(public)
    with pytest.raises(AdminKeyError, match="32 raw bytes"):
        parse_verifying_key("ed25519:AAAA")
    with pytest.raises(AdminKeyError, match="at least 16"):
        parse_verifying_key("short")
    assert parse_verifying_key("hmac:" + SECRET) == parse_verifying_key(SECRET) == HmacKey(SECRET)
    assert SECRET not in repr(HmacKey(SECRET))


def test_nonce_cache_refuses_replays_within_its_window() -> None:
    cache = NonceCache(ttl_seconds=600)
    cache.check_and_add("ops", "n1", NOW)
    cache.check_and_add("other-key", "n1", NOW)  # nonces are per key
    with pytest.raises(ReplayedRequest):
        cache.check_and_add("ops", "n1", NOW + 599)
    assert ReplayedRequest.status_code == 409
    cache.check_and_add("ops", "n1", NOW + 1300)  # long forgotten: the timestamp check refuses it anyway


def test_nonce_cache_is_bounded() -> None:
    cache = NonceCache(ttl_seconds=600, max_entries=3)
    for i in range(10):
        cache.check_and_add("ops", f"n{i}", NOW)
    assert len(cache._seen) <= 3


def test_admin_auth_signs_every_request_with_a_fresh_nonce(
    pair: tuple[SigningKey, dict[str, VerifyingKey]],
) -> None:
    key, keys = pair
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        verify(request.method, request_target(request), request.content, request.headers, keys, NOW)
        return httpx.Response(200, json={"ok": True})

    auth = AdminAuth("ops", key, clock=lambda: NOW)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth, base_url="http://target") as client:
        assert client.post("/api/admin/failover", json={"channel": "email"}).status_code == 200
        assert client.get("/api/admin/audit", params={"since_id": 3}).status_code == 200
    assert seen[0].headers[HEADER_NONCE] != seen[1].headers[HEADER_NONCE]
    assert request_target(seen[1]) == "/api/admin/audit?since_id=3"
