"""API keys with two scopes: ``read`` (every GET) and ``admin`` (approve, deny, trigger, kill switch).

Why only hashes are kept: a key is accepted as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``
and looked up by the SHA-256 of what was sent, compared in constant time, so neither the process
nor its config has to hold a key that works: settings (and the keys file) may give ``sha256:<hex>``
(``forewarn keys hash`` prints it) instead of the key, and a plain key from settings is hashed as it
is loaded. SHA-256 and not a slow password hash, because API keys are random and long (``forewarn
keys new`` makes 256-bit ones): there is nothing to guess from the digest, and a slow hash would cost
every request. An admin key can also read.

Why a keys file: keys change without a restart. ``api.keys_file`` (YAML: ``read: [...]``,
``admin: [...]``) is looked at on each request (one ``stat``) and re-read when it changed; a file
that no longer parses keeps the keys it had (logged), so a typo does not lock everyone out, while a
removed file revokes its keys.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

__all__ = ["ApiKeys", "Caller", "KeyFileError", "Scope", "key_digest", "presented_key"]

log = logging.getLogger(__name__)

HASH_PREFIX = "sha256:"
_HEX = re.compile(r"^[0-9a-f]{64}$")


class Scope(StrEnum):
    READ = "read"
    ADMIN = "admin"


class KeyFileError(ValueError):
    """An API keys file that cannot be used (not YAML, wrong shape, a malformed ``sha256:`` entry)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the scope granted and a short, non-secret name for audit trails."""

    scope: Scope | None
    name: str


def key_digest(entry: str) -> str:
    """The hex SHA-256 a configured entry stands for: ``sha256:<hex>`` as given, a plain key hashed."""
    text = entry.strip()
    if text.startswith(HASH_PREFIX):
        digest = text[len(HASH_PREFIX) :].lower()
        if not _HEX.match(digest):
            raise KeyFileError(f"{HASH_PREFIX}... must be 64 hex digits (got {len(digest)} characters)")
        return digest
    return hashlib.sha256(text.encode()).hexdigest()


def _digests(entries: Iterable[str]) -> tuple[str, ...]:
    return tuple(key_digest(e) for e in entries if e.strip())


def read_keys_file(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(read digests, admin digests) from a YAML keys file; raises :class:`KeyFileError`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KeyFileError(f"{path}: not YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or set(data) - {"read", "admin"}:
        raise KeyFileError(f"{path}: expected a mapping with 'read' and/or 'admin' lists")
    found: list[tuple[str, ...]] = []
    for scope in ("read", "admin"):
        entries = data.get(scope) or []
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise KeyFileError(f"{path}: '{scope}' must be a list of strings")
        try:
            found.append(_digests(entries))
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {scope}: {exc}") from None
    return found[0], found[1]


class ApiKeys:
    """The keys the API accepts, as SHA-256 digests: from settings, plus a keys file re-read on change."""

    def __init__(
        self,
        read: Iterable[str] = (),
        admin: Iterable[str] = (),
        allow_anonymous_read: bool = False,
        keys_file: Path | None = None,
    ) -> None:
        self._read = _digests(read)
        self._admin = _digests(admin)
        self.allow_anonymous_read = allow_anonymous_read
        self.keys_file = keys_file
        self._file_read: tuple[str, ...] = ()
        self._file_admin: tuple[str, ...] = ()
        self._file_stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        if keys_file is not None:
            # At start a bad file is an error (nothing to fall back to); later it keeps the last keys.
            self._file_read, self._file_admin = read_keys_file(keys_file)
            self._file_stamp = _stamp(keys_file)

    @property
    def configured(self) -> bool:
        self._refresh()
        return bool(self._read or self._admin or self._file_read or self._file_admin)

    def _refresh(self) -> None:
        if self.keys_file is None:
            return
        stamp = _stamp(self.keys_file)
        if stamp == self._file_stamp:
            return
        with self._lock:
            if stamp == self._file_stamp:
                return
            if stamp is None:
                log.warning("API keys file %s is gone: its keys are revoked", self.keys_file)
                self._file_read, self._file_admin = (), ()
            else:
                try:
                    self._file_read, self._file_admin = read_keys_file(self.keys_file)
                except (KeyFileError, OSError) as exc:
                    log.error("API keys file not reloaded, the previous keys stay in force: %s", exc)
                else:
                    log.info(
                        "API keys reloaded from %s: %d read, %d admin",
                        self.keys_file,
                        len(self._file_read),
                        len(self._file_admin),
                    )
            self._file_stamp = stamp

    def identify(self, key: str | None) -> Caller:
        """The caller behind ``key``; ``scope`` is None for a missing or unknown key."""
        if key:
            self._refresh()
            digest = hashlib.sha256(key.encode()).hexdigest()
            if _known(digest, self._admin + self._file_admin):
                return Caller(Scope.ADMIN, f"admin-key-{digest[:8]}")
            if _known(digest, self._read + self._file_read):
                return Caller(Scope.READ, f"read-key-{digest[:8]}")
            return Caller(None, "unknown-key")
        if self.allow_anonymous_read:
            return Caller(Scope.READ, "anonymous")
        return Caller(None, "anonymous")


def _known(digest: str, candidates: tuple[str, ...]) -> bool:
    # Every candidate is compared (no early exit), each in constant time.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(candidate, digest)
    return found


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file: inode (an atomic replace), mtime in ns and size; None if missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def presented_key(api_key_header: str | None, authorization: str | None) -> str | None:
    """The key a request carries: ``X-API-Key`` first, else the token of ``Authorization: Bearer``."""
    if api_key_header:
        return api_key_header
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
