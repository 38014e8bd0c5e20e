"""The service-side audit trail of admin calls, accepted or refused.

Why the target keeps its own: the healer's audit says what it meant to do; this one says what the
service actually received and did (or refused, and why), so the two can be reconciled. Bounded in
memory; every record is also written to the app log (logger ``musobuddy.admin``) for shipping.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from forewarn.musobuddy.applog import AppLog


class AuditTrail:
    def __init__(self, log: AppLog, max_records: int) -> None:
        self.log = log
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(
        self,
        *,
        now: float,
        key_id: str | None,
        action: str,
        method: str,
        path: str,
        status_code: int,
        outcome: str,
        reason: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            entry: dict[str, Any] = {
                "id": next(self._ids),
                "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                "key_id": key_id,
                "action": action,
                "method": method,
                "path": path,
                "status_code": status_code,
                "outcome": outcome,
                "reason": reason,
                "before": before,
                "after": after,
                "client": client,
            }
            self._records.append(entry)
        level = "INFO" if outcome == "ok" else "WARNING"
        self.log.log(
            level,
            "musobuddy.admin",
            f"admin {action} by {key_id or 'unknown key'}: {outcome} ({status_code})"
            + (f": {reason}" if reason else ""),
            action=action,
            key_id=key_id,
            status_code=status_code,
            audit_id=entry["id"],
        )
        return entry

    def records(self, since_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            # Oldest first, so a reader pages forward with since_id = the last id it saw.
            return [r for r in self._records if r["id"] > since_id][:limit]
