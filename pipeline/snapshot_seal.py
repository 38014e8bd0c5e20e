"""Sealed recovery snapshots: the state ``op.stateful`` hands Bytewax, encrypted with the storage keys.

Why: Bytewax's recovery store (SQLite files under ``pipeline.recovery_dir``) keeps every series'
snapshot: detector and forecaster state, and the log miners with their (redacted) templates and
recent samples. With a storage key configured (``security.storage_keys``) each snapshot is pickled
and sealed with AES-256-GCM (``forewarn.field_crypto``, binary form), bound to its step id, so the
recovery files hold no readable service names, values or log text. Old key ids still open; a resume
snapshot written before a key was configured is read as it is, and a sealed one without its key is
a clear :class:`~forewarn.field_crypto.StorageKeyError` at start-up, never a wrong state.

Why a wrapper around the builder rather than code in each logic: the logics stay plain and testable
without keys, and without a key nothing is wrapped, so the flow pays nothing. Bytewax's builder gets
no key, so a snapshot is bound to its step, not its series: someone who can write the recovery
store could swap two series' states of one step, but cannot read or forge one.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from bytewax.operators import StatefulLogic

from forewarn.field_crypto import PREFIX_BYTES, FieldCipher, StorageKeyError

V = TypeVar("V")
W = TypeVar("W")
S = TypeVar("S")

__all__ = ["SealedLogic", "open_snapshot", "seal_snapshot", "sealed_builder"]


def _context(step_id: str) -> str:
    return f"snapshot:{step_id}"


def seal_snapshot(cipher: FieldCipher, step_id: str, snapshot: object) -> bytes | None:
    """``snapshot`` pickled and sealed; None stays None (a logic with no state yet holds nothing)."""
    if snapshot is None:
        return None
    return cipher.encrypt_bytes(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL), _context(step_id))


def open_snapshot(cipher: FieldCipher | None, step_id: str, resume: Any) -> Any:
    """The plain snapshot from what recovery gave back (sealed or, from before a key, plain)."""
    if not (isinstance(resume, bytes) and resume.startswith(PREFIX_BYTES)):
        return resume
    if cipher is None:
        raise StorageKeyError(
            f"{_context(step_id)}: the recovery store holds sealed snapshots, but no storage key is "
            "configured (security.storage_keys or security.storage_key_file)"
        )
    return pickle.loads(cipher.decrypt_bytes(resume, _context(step_id)))


class SealedLogic(StatefulLogic[V, W, Any], Generic[V, W]):
    """Delegates every call to ``inner``; only ``snapshot`` differs: it returns sealed bytes."""

    def __init__(self, inner: StatefulLogic[V, W, Any], cipher: FieldCipher, step_id: str) -> None:
        self._inner = inner
        self._cipher = cipher
        self._step_id = step_id

    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        return self._inner.on_item(value)

    def on_notify(self) -> tuple[Iterable[W], bool]:
        return self._inner.on_notify()

    def on_eof(self) -> tuple[Iterable[W], bool]:
        return self._inner.on_eof()

    def notify_at(self) -> datetime | None:
        return self._inner.notify_at()

    def snapshot(self) -> bytes | None:
        return seal_snapshot(self._cipher, self._step_id, self._inner.snapshot())


def sealed_builder(
    builder: Callable[[Any], StatefulLogic[V, W, Any]], cipher: FieldCipher | None, step_id: str
) -> Callable[[Any], StatefulLogic[V, W, Any]]:
    """``builder`` for ``op.stateful(step_id, ...)`` with sealed snapshots when ``cipher`` is set.

    Without a cipher the logic is not wrapped; a sealed resume state is still recognised, so
    removing the key by mistake is an error rather than a flow that feeds ciphertext to a model.
    """

    def build(resume: Any) -> StatefulLogic[V, W, Any]:
        logic = builder(open_snapshot(cipher, step_id, resume))
        return logic if cipher is None else SealedLogic(logic, cipher, step_id)

    return build
