"""forewarn.admin_signing: what is signed, what breaks a signature, freshness and replay."""

from __future__ import annotations

import httpx
import pytest

from forewarn.admin_signing import (
    HEADER_KEY_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    AdminAuth,
    BadSignature,
    MissingSignature,
    NonceCache,
    ReplayedRequest,
    StaleRequest,
    UnknownKey,
    request_target,
    sign,
    verify,
)

pytestmark = pytest.mark.unit

SECRET = "a-test-secret-that-is-long-enough"
KEYS = {"ops": SECRET}
NOW = 1_800_000_000.0


def signed(body: bytes = b'{"enabled": true}', path: str = "/api/admin/maintenance") -> dict[str, str]:
    return sign("POST", path, body, "ops", SECRET, NOW, "nonce-1")


def test_round_trip() -> None:
    headers = signed()
    assert set(headers) == {HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE}
    assert headers[HEADER_TIMESTAMP] == str(int(NOW))
    assert len(headers[HEADER_SIGNATURE]) == 64
    key_id, nonce, stamp = verify("POST", "/api/admin/maintenance", b'{"enabled": true}', headers, KEYS, NOW)
    assert (key_id, nonce, stamp) == ("ops", "nonce-1", int(NOW))


def test_signature_is_deterministic_and_covers_each_part() -> None:
    assert signed() == signed()
    base = signed()[HEADER_SIGNATURE]
    assert (
        sign("POST", "/api/admin/maintenance", b'{"enabled": false}', "ops", SECRET, NOW, "nonce-1")[
            HEADER_SIGNATURE
        ]
        != base
    )
    assert (
        sign("PUT", "/api/admin/maintenance", b'{"enabled": true}', "ops", SECRET, NOW, "nonce-1")[
            HEADER_SIGNATURE
        ]
        != base
    )
    assert (
        sign("POST", "/api/admin/failover", b'{"enabled": true}', "ops", SECRET, NOW, "nonce-1")[
            HEADER_SIGNATURE
        ]
        != base
    )
    assert (
        sign("POST", "/api/admin/maintenance", b'{"enabled": true}', "ops", SECRET, NOW + 1, "nonce-1")[
            HEADER_SIGNATURE
        ]
        != base
    )
    assert (
        sign("POST", "/api/admin/maintenance", b'{"enabled": true}', "ops", SECRET, NOW, "nonce-2")[
            HEADER_SIGNATURE
        ]
        != base
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/admin/maintenance", b'{"enabled": false}'),  # tampered body
        ("POST", "/api/admin/restart-service", b'{"enabled": true}'),  # other path
        ("DELETE", "/api/admin/maintenance", b'{"enabled": true}'),  # other method
        ("POST", "/api/admin/maintenance?x=1", b'{"enabled": true}'),  # added query
    ],
)
def test_tampering_breaks_the_signature(method: str, path: str, body: bytes) -> None:
    with pytest.raises(BadSignature):
        verify(method, path, body, signed(), KEYS, NOW)


def test_wrong_secret_and_unknown_key() -> None:
    with pytest.raises(BadSignature):
        verify(
            "POST",
            "/api/admin/maintenance",
            b'{"enabled": true}',
            signed(),
            {"ops": "another-secret-xxxxx"},
            NOW,
        )
    with pytest.raises(UnknownKey, match="unknown or expired admin key id 'ops'"):
        verify("POST", "/api/admin/maintenance", b'{"enabled": true}', signed(), {"other": SECRET}, NOW)


def test_freshness_window_is_300_seconds_both_ways() -> None:
    body = b'{"enabled": true}'
    verify("POST", "/api/admin/maintenance", body, signed(), KEYS, NOW + 300)
    verify("POST", "/api/admin/maintenance", body, signed(), KEYS, NOW - 300)
    with pytest.raises(StaleRequest, match="301 s old"):
        verify("POST", "/api/admin/maintenance", body, signed(), KEYS, NOW + 301)
    with pytest.raises(StaleRequest, match="in the future"):
        verify("POST", "/api/admin/maintenance", body, signed(), KEYS, NOW - 301)


def test_missing_or_malformed_headers() -> None:
    headers = signed()
    del headers[HEADER_NONCE]
    with pytest.raises(MissingSignature, match=HEADER_NONCE):
        verify("POST", "/api/admin/maintenance", b'{"enabled": true}', headers, KEYS, NOW)
    headers = {**signed(), HEADER_TIMESTAMP: "yesterday"}
    with pytest.raises(StaleRequest, match="integer epoch seconds"):
        verify("POST", "/api/admin/maintenance", b'{"enabled": true}', headers, KEYS, NOW)


def test_headers_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in signed().items()}
    verify("POST", "/api/admin/maintenance", b'{"enabled": true}', headers, KEYS, NOW)


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


def test_admin_auth_signs_every_request_with_a_fresh_nonce() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        verify(request.method, request_target(request), request.content, request.headers, KEYS, NOW)
        return httpx.Response(200, json={"ok": True})

    auth = AdminAuth("ops", SECRET, clock=lambda: NOW)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth, base_url="http://target") as client:
        assert client.post("/api/admin/failover", json={"channel": "email"}).status_code == 200
        assert client.get("/api/admin/audit", params={"since_id": 3}).status_code == 200
    assert seen[0].headers[HEADER_NONCE] != seen[1].headers[HEADER_NONCE]
    assert request_target(seen[1]) == "/api/admin/audit?since_id=3"
