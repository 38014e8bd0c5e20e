"""Field-level encryption at rest: AES-256-GCM with a key ring (newest key encrypts, every key decrypts).

Why AES-GCM (``cryptography``'s ``AESGCM``) and not Fernet: both are authenticated, but GCM takes
*associated data*, and we bind every ciphertext to where it lives (``table:column:row id``, or the
audit record's ``seq``). A sealed value copied into another row or another audit line then fails to
decrypt instead of passing as that row's data; Fernet cannot express that. GCM is also smaller (28
bytes of nonce and tag against Fernet's 57 plus padding) and uses a 256-bit key where Fernet's AES is
128-bit. Why not SQLCipher: it needs a patched SQLite build and covers SQLite only, while the store
also runs on PostgreSQL; columns sealed in Python work on both.

A sealed value is text: ``fwenc1:<key id>:<base64url(12-byte nonce || ciphertext || tag)>``. The key
id is the first 8 hex digits of the SHA-256 of the key, so it names the key without revealing it
and needs no configuration. Values without the prefix are plaintext written before a key was
configured and are read as they are. A value sealed with a key that is not configured, or that fails
authentication, raises :class:`StorageKeyError` naming the key id: never garbage.

Binary values (recovery snapshots) have a binary form, ``b"fwenc1b:<key id>:" + nonce + ciphertext
+ tag``: no base64, because a snapshot is written every few seconds per series and is never read by
a person or stored in a text column.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from forewarn.settings import SecuritySettings

__all__ = [
    "PREFIX",
    "PREFIX_BYTES",
    "FieldCipher",
    "StorageKeyError",
    "cipher_from_settings",
    "generate_key",
    "is_sealed",
    "key_id",
    "parse_keys",
    "read_key_file",
    "seal",
    "sealed_key_id",
    "unseal",
]

PREFIX = "fwenc1:"
PREFIX_BYTES = b"fwenc1b:"
KEY_BYTES = 32
NONCE_BYTES = 12


class StorageKeyError(ValueError):
    """A storage key that is malformed or missing, or a sealed value that cannot be opened."""


def key_id(key: bytes) -> str:
    """The short public name of a key: 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def generate_key() -> str:
    """A fresh 256-bit key as URL-safe base64 (what ``forewarn keys storage-key`` prints)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode_key(text: str, where: str) -> bytes:
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise StorageKeyError(f"{where}: not base64 (make one with `forewarn keys storage-key`)") from None
    if len(key) != KEY_BYTES:
        raise StorageKeyError(
            f"{where}: a storage key is {KEY_BYTES} bytes of base64, this one decodes to {len(key)}"
        )
    return key


def parse_keys(texts: Iterable[str], where: str = "security.storage_keys") -> list[bytes]:
    """Decode base64 keys, in order; a malformed one is an error that names its position."""
    return [_decode_key(text, f"{where}[{i}]") for i, text in enumerate(texts)]


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file: one per line, newest first; blank lines and ``#`` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StorageKeyError(f"{path}: cannot read the storage key file ({exc.strerror})") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The key id a sealed value names (None for plaintext)."""
    if not is_sealed(value):
        return None
    return value[len(PREFIX) :].split(":", 1)[0]


class FieldCipher:
    """A key ring: ``keys[0]`` seals, any key opens what it sealed (found by the key id in the value)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise StorageKeyError("a cipher needs at least one storage key")
        self._by_id: dict[str, AESGCM] = {}
        for key in keys:
            if len(key) != KEY_BYTES:
                raise StorageKeyError(f"a storage key is {KEY_BYTES} bytes, got {len(key)}")
            self._by_id.setdefault(key_id(key), AESGCM(key))
        self.current_id = key_id(keys[0])
        self._current = self._by_id[self.current_id]
        self._current_id_bytes = self.current_id.encode("ascii")

    @classmethod
    def from_texts(cls, texts: Iterable[str], where: str = "security.storage_keys") -> FieldCipher:
        return cls(parse_keys(texts, where))

    @property
    def key_ids(self) -> list[str]:
        return list(self._by_id)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        body = self._current.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{PREFIX}{self.current_id}:{base64.urlsafe_b64encode(nonce + body).decode()}"

    def decrypt(self, value: str, context: str) -> str:
        """Open a sealed value; plaintext (no prefix) comes back unchanged."""
        if not is_sealed(value):
            return value
        kid, _, data = value[len(PREFIX) :].partition(":")
        aead = self._by_id.get(kid)
        if aead is None:
            raise StorageKeyError(
                f"{context}: sealed with storage key {kid}, which is not configured "
                f"(configured: {', '.join(self._by_id)}); add it to security.storage_keys"
            )
        try:
            raw = base64.urlsafe_b64decode(data)
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (binascii.Error, ValueError, InvalidTag):
            raise StorageKeyError(
                f"{context}: authentication failed with storage key {kid}: the value was altered "
                "or moved from another row"
            ) from None
        return plain.decode("utf-8")

    def encrypt_bytes(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        body = self._current.encrypt(nonce, plaintext, context.encode("utf-8"))
        return b"".join((PREFIX_BYTES, self._current_id_bytes, b":", nonce, body))

    def decrypt_bytes(self, value: bytes, context: str) -> bytes:
        """Open a value sealed by :meth:`encrypt_bytes`; anything else is an error (never passed on)."""
        if not value.startswith(PREFIX_BYTES):
            raise StorageKeyError(f"{context}: not a sealed binary value")
        start = len(PREFIX_BYTES)
        kid = value[start : start + 8].decode("ascii", "replace")
        aead = self._by_id.get(kid)
        if aead is None:
            raise StorageKeyError(
                f"{context}: sealed with storage key {kid}, which is not configured "
                f"(configured: {', '.join(self._by_id)}); add it to security.storage_keys"
            )
        raw = value[start + 9 :]
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (ValueError, InvalidTag):
            raise StorageKeyError(
                f"{context}: authentication failed with storage key {kid}: the value was altered "
                "or moved from elsewhere"
            ) from None

    def is_current(self, value: str) -> bool:
        """True if ``value`` is sealed with the key that seals now (nothing for ``rekey`` to do)."""
        return sealed_key_id(value) == self.current_id


def seal(cipher: FieldCipher | None, plaintext: str, context: str) -> str:
    """``plaintext`` sealed, or unchanged when no key is configured (plain storage, as before keys)."""
    return plaintext if cipher is None else cipher.encrypt(plaintext, context)


def unseal(cipher: FieldCipher | None, value: str, context: str) -> str:
    """The plaintext of a stored value; a sealed one without a configured key is a clear error."""
    if cipher is not None:
        return cipher.decrypt(value, context)
    if is_sealed(value):
        raise StorageKeyError(
            f"{context}: sealed with storage key {sealed_key_id(value)}, but no storage key is "
            "configured (security.storage_keys or security.storage_key_file)"
        )
    return value


def cipher_from_settings(security: SecuritySettings) -> FieldCipher | None:
    """The key ring of ``security.storage_keys`` then ``security.storage_key_file``; None if neither."""
    texts = [k.get_secret_value() for k in security.storage_keys]
    where = "security.storage_keys"
    keys = parse_keys(texts, where)
    if security.storage_key_file is not None:
        path = security.storage_key_file
        keys += parse_keys(read_key_file(path), str(path))
    return FieldCipher(keys) if keys else None
