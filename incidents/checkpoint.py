"""The responder's incident state on disk, written before each offset commit.

Why: the grouper lives in memory. After a ``kill -9`` the messages since the last commit come again,
and new detections of incidents opened before the crash keep arriving. Without its open incidents a
restarted responder would open a second incident for the same problem, with a new id, and so a new
idempotency key: a second heal and a second notification. The consume loop flushes what a batch
caused, then saves this snapshot, then commits, so after a crash the snapshot is at least as new as
the committed offsets and every re-delivered detection is recognised. The snapshot holds detection
reasons and log templates, so it is sealed with the storage key when one is configured.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from forewarn.field_crypto import FieldCipher, seal, unseal
from forewarn.incidents.grouping import IncidentGrouper
from forewarn.sqlite_wal import connect_wal

__all__ = ["GrouperCheckpoint"]


class GrouperCheckpoint:
    """One row in a SQLite file (atomic replace: a crash mid-write leaves the previous snapshot)."""

    _CONTEXT = "incidents:grouper:1"

    def __init__(self, path: Path | str, cipher: FieldCipher | None = None) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._lock = threading.Lock()
        self._db = connect_wal(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS grouper (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT)"
        )
        self._last = ""

    def save(self, grouper: IncidentGrouper) -> bool:
        """Write the grouper's snapshot if it changed since the last save; True when written."""
        body = json.dumps(grouper.snapshot(), separators=(",", ":"))
        if body == self._last:
            return False
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO grouper (id, body) VALUES (1, ?)",
                (seal(self.cipher, body, self._CONTEXT),),
            )
        self._last = body
        return True

    def restore(self, grouper: IncidentGrouper) -> int:
        """Load the last snapshot into ``grouper``; returns how many open incidents it brought back."""
        with self._lock:
            row = self._db.execute("SELECT body FROM grouper WHERE id = 1").fetchone()
        if row is None:
            return 0
        body = unseal(self.cipher, row[0], self._CONTEXT)
        snapshot: dict[str, Any] = json.loads(body)
        grouper.restore(snapshot)
        self._last = body
        return len(grouper.open_incidents)

    def close(self) -> None:
        with self._lock:
            self._db.close()
