"""Operator requests for the healing executor, queued in the state store for the process that owns it.

Why a table rather than an executor in every process: the executor's in-memory state (rate limits,
budgets, escalation ladders) must live in one process, the responder (``forewarn respond``). The API
and ``forewarn heal approve/reject`` only *ask*: they write a request here, and the responder's tick
applies it through its executor (every guard still applies) and writes the outcome back. The id makes
a request idempotent: submitting the same id again returns the first request, never a second one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from forewarn.field_crypto import FieldCipher, seal, unseal
from forewarn.store.tables import control_requests

__all__ = ["ControlRequests", "RequestStatus", "Verb"]

Verb = Literal["approve", "deny", "trigger"]
RequestStatus = Literal["pending", "applied", "refused"]
_table = control_requests


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _as_dict(row: Row[Any], cipher: FieldCipher | None) -> dict[str, Any]:
    def opened(column: str) -> Any:
        return json.loads(unseal(cipher, getattr(row, column), f"{_table.name}:{column}:{row.id}"))

    return {
        "id": row.id,
        "verb": row.verb,
        "target": row.target,
        "actor": row.actor,
        "payload": opened("payload"),
        "status": row.status,
        "result": None if row.result is None else opened("result"),
        "created_at": _iso(row.created),
        "updated_at": _iso(row.updated),
    }


class ControlRequests:
    """The ``control_requests`` table: submit (idempotent by id), list pending, finish once, read."""

    def __init__(
        self, engine: Engine, clock: Callable[[], float] = time.time, cipher: FieldCipher | None = None
    ) -> None:
        self.engine = engine
        self._clock = clock
        # Operator parameters and outcomes are sealed (the verb, target and actor stay queryable).
        self._cipher = cipher

    def _sealed(self, request_id: str, column: str, value: Mapping[str, Any]) -> str:
        text = json.dumps(dict(value), default=str, sort_keys=True)
        return seal(self._cipher, text, f"{_table.name}:{column}:{request_id}")

    def submit(
        self, request_id: str, verb: Verb, target: str, actor: str, payload: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Queue a request; returns (the stored request, whether this call created it)."""
        now = self._clock()
        row = {
            "id": request_id,
            "verb": verb,
            "target": target,
            "actor": actor,
            "payload": self._sealed(request_id, "payload", payload),
            "status": "pending",
            "result": None,
            "created": now,
            "updated": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(_table.insert().values(row))
            created = True
        except IntegrityError:  # the same id again: a retry, the first request stands
            created = False
        found = self.get(request_id)
        assert found is not None
        return found, created

    def get(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_table).where(_table.c.id == request_id)).first()
        return None if row is None else _as_dict(row, self._cipher)

    def pending(self, limit: int = 50) -> list[dict[str, Any]]:
        """The oldest pending requests first: they are applied in the order operators made them."""
        query = select(_table).where(_table.c.status == "pending").order_by(_table.c.created, _table.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [_as_dict(r, self._cipher) for r in rows]

    def finish(self, request_id: str, status: RequestStatus, result: Mapping[str, Any]) -> bool:
        """Record the outcome of a pending request; False if it was not pending (finished already)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                _table.update()
                .where(_table.c.id == request_id, _table.c.status == "pending")
                .values(
                    status=status,
                    result=self._sealed(request_id, "result", result),
                    updated=self._clock(),
                )
            )
        return bool(done.rowcount)
