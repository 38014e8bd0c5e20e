"""Admin keys with rotation grace periods (the per-key rate limit is ``forewarn.rate_limit``).

Why a grace period: rotating a key must not cut off the healing executor mid-incident. After a
rotation the new key works at once and every older key keeps working for ``grace_seconds`` (both
valid), then stops.

Why the ring holds verifying keys: an Ed25519 key is only its public half here, so the app can
check a request but never make one. An HMAC key (older clients) is the shared secret itself; the
ring keeps the two apart and the algorithm follows the stored key, never the request.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from forewarn.admin_signing import HmacKey, VerifyingKey, key_algorithm, parse_verifying_key


@dataclass
class AdminKey:
    key_id: str
    key: VerifyingKey
    created_at: float
    expires_at: float | None = None

    def valid_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


class KeyRing:
    """The admin keys the service accepts; times are wall-clock epoch seconds."""

    def __init__(self, keys: dict[str, str], now: float) -> None:
        self._keys = {
            key_id: AdminKey(key_id, parse_verifying_key(text, f"admin key {key_id!r}"), now)
            for key_id, text in keys.items()
        }
        self._lock = threading.Lock()

    def key_for(self, key_id: str, now: float) -> VerifyingKey | None:
        with self._lock:
            key = self._keys.get(key_id)
            return key.key if key is not None and key.valid_at(now) else None

    def has_hmac_keys(self, now: float) -> bool:
        """True while a valid key is an HMAC secret (a deployment that has not moved to Ed25519)."""
        with self._lock:
            return any(isinstance(k.key, HmacKey) and k.valid_at(now) for k in self._keys.values())

    def rotate(
        self, now: float, grace_seconds: float, new_key: VerifyingKey
    ) -> tuple[AdminKey, list[AdminKey]]:
        """Add ``new_key``; every key valid now expires after the grace period (or keeps an earlier end)."""
        with self._lock:
            retiring = []
            for key in self._keys.values():
                if key.valid_at(now):
                    end = now + grace_seconds
                    key.expires_at = end if key.expires_at is None else min(key.expires_at, end)
                    retiring.append(key)
            new_id = f"key-{secrets.token_hex(4)}"
            while new_id in self._keys:
                new_id = f"key-{secrets.token_hex(4)}"
            new = AdminKey(new_id, new_key, now)
            self._keys[new_id] = new
            # Forget keys long expired so the ring does not grow without bound.
            for key_id in [
                k for k, v in self._keys.items() if v.expires_at is not None and v.expires_at < now - 86400
            ]:
                del self._keys[key_id]
            return new, retiring

    def describe(self, now: float) -> list[dict[str, object]]:
        with self._lock:
            return [
                {
                    "key_id": key.key_id,
                    "algorithm": key_algorithm(key.key),
                    "valid": key.valid_at(now),
                    "expires_in_seconds": None if key.expires_at is None else round(key.expires_at - now, 3),
                }
                for key in self._keys.values()
            ]
