"""Persistent executor state in one SQLite file: idempotency keys, action history, breakers, approvals.

Why persisted: the pipeline delivers at least once and the executor may restart; a key that was
claimed before a crash must still be claimed after it, and budgets must not reset because the
process did. SQLite gives atomic claims (``INSERT`` on a primary key) across threads and processes.

Encryption at rest (``forewarn.field_crypto``, when a storage key is configured): the free-text
columns are sealed with AES-256-GCM, each bound to its row: an action's result
(``idempotency.result``: outputs, validation) and its write-ahead plan (``idempotency.plan``: the
trigger, with its reason, and the params), an approval's ``payload`` (the plan, its params and
the incident's reason), an override's ``reason`` and an open escalation's notification
(``ladders.note``: the summary, the trigger's reason and what was done). What the guards query,
count and compare stays plain: keys, times, service and action names, statuses, breaker counts.
Rows written before a key read as they are; ``rekey`` re-seals every row with the current key,
after a rotation.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forewarn.field_crypto import FieldCipher, seal, unseal
from forewarn.sqlite_wal import connect_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, claimed_at REAL NOT NULL, status TEXT NOT NULL, result TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, service TEXT NOT NULL,
    action TEXT NOT NULL, restart INTEGER NOT NULL, ok INTEGER
);
CREATE INDEX IF NOT EXISTS runs_ts ON runs (ts);
CREATE TABLE IF NOT EXISTS breakers (
    action TEXT NOT NULL, service TEXT NOT NULL, failures INTEGER NOT NULL, opened_at REAL,
    PRIMARY KEY (action, service)
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL,
    payload TEXT NOT NULL, decided_by TEXT
);
CREATE TABLE IF NOT EXISTS overrides (service TEXT PRIMARY KEY, set_at REAL NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS notifications_sent (
    channel TEXT NOT NULL, dedup_key TEXT NOT NULL, sent_at REAL NOT NULL, PRIMARY KEY (channel, dedup_key)
);
CREATE TABLE IF NOT EXISTS ladders (
    group_key TEXT PRIMARY KEY, started REAL NOT NULL, policy TEXT NOT NULL, levels TEXT NOT NULL,
    note TEXT NOT NULL
);
"""

# Step statuses that say the step's story is not finished: ``running`` was written before the action
# was called (the write-ahead record; a crash leaves the outcome unknown), ``ran`` after it answered
# and before its validation was recorded. ``HealingExecutor.recover`` finishes both after a restart.
IN_FLIGHT = ("running", "ran")


@dataclass(frozen=True, slots=True)
class InFlight:
    """One step found in flight: its key, how far it got, what it answered (if it did), its plan."""

    key: str
    status: str
    result: dict[str, Any]
    plan: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LadderRow:
    """An open escalation ladder as stored: its group, start, policy name, levels sent, notification."""

    group_key: str
    started: float
    policy: str
    levels: list[int]
    note: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BreakerRow:
    failures: int
    opened_at: float | None


class StateStore:
    """Thread-safe wrapper over one SQLite connection (WAL, so other processes can read)."""

    def __init__(self, path: Path | str, cipher: FieldCipher | None = None) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._lock = threading.Lock()
        self._db = connect_wal(self.path)
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(idempotency)")}
        if "plan" not in columns:  # a state file from before the write-ahead plan: add the column
            self._db.execute("ALTER TABLE idempotency ADD COLUMN plan TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- idempotency -------------------------------------------------------------------------

    def claim(self, key: str, now: float, plan: dict[str, Any] | None = None) -> bool:
        """Atomically claim a key; False if it was claimed before (by anyone, ever).

        ``plan`` (the trigger, policy, step, action and params) is the write-ahead record: it is on
        disk before the action is called, so a restart knows what was in flight.
        """
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO idempotency (key, claimed_at, status, plan) "
                "VALUES (?, ?, 'running', ?)",
                (
                    key,
                    now,
                    self._seal(json.dumps(plan, default=str), "idempotency:plan", key)
                    if plan is not None
                    else None,
                ),
            )
            return cursor.rowcount == 1

    def finish(self, key: str, status: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency SET status = ?, result = ? WHERE key = ?",
                (status, self._seal(json.dumps(result, default=str), "idempotency:result", key), key),
            )

    def claimed(self, key: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            row = self._db.execute("SELECT status, result FROM idempotency WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return str(row[0]), json.loads(self._unseal(row[1], "idempotency:result", key)) if row[1] else {}

    def in_flight(self) -> list[InFlight]:
        """Steps whose story a crash may have cut (status ``running`` or ``ran``), oldest first."""
        marks = ",".join("?" for _ in IN_FLIGHT)
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, status, result, plan FROM idempotency WHERE status IN ({marks}) "
                "ORDER BY claimed_at, key",
                IN_FLIGHT,
            ).fetchall()
        return [
            InFlight(
                key=str(r[0]),
                status=str(r[1]),
                result=json.loads(self._unseal(r[2], "idempotency:result", str(r[0]))) if r[2] else {},
                plan=json.loads(self._unseal(r[3], "idempotency:plan", str(r[0]))) if r[3] else {},
            )
            for r in rows
        ]

    # -- notifications sent (de-duplication that survives a restart) --------------------------

    def notified_at(self, channel: str, dedup_key: str) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sent_at FROM notifications_sent WHERE channel = ? AND dedup_key = ?",
                (channel, dedup_key),
            ).fetchone()
        return float(row[0]) if row is not None else None

    def mark_notified(self, channel: str, dedup_key: str, now: float, keep_seconds: float) -> None:
        """Remember a delivered notification; forget those older than ``keep_seconds`` (bounded table)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO notifications_sent (channel, dedup_key, sent_at) VALUES (?, ?, ?)",
                (channel, dedup_key, now),
            )
            self._db.execute("DELETE FROM notifications_sent WHERE sent_at < ?", (now - keep_seconds,))

    # -- escalation ladders (open ones; a restart keeps climbing them) --------------------------

    def save_ladder(self, row: LadderRow) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO ladders (group_key, started, policy, levels, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    row.group_key,
                    row.started,
                    row.policy,
                    json.dumps(sorted(row.levels)),
                    self._seal(json.dumps(row.note, default=str), "ladders:note", row.group_key),
                ),
            )

    def drop_ladder(self, group_key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM ladders WHERE group_key = ?", (group_key,))

    def ladders(self) -> list[LadderRow]:
        """The open ladders, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT group_key, started, policy, levels, note FROM ladders ORDER BY started, group_key"
            ).fetchall()
        return [
            LadderRow(
                group_key=str(r[0]),
                started=float(r[1]),
                policy=str(r[2]),
                levels=[int(level) for level in json.loads(r[3])],
                note=json.loads(self._unseal(r[4], "ladders:note", str(r[0]))),
            )
            for r in rows
        ]

    # -- run history (rate limits, budgets, cool-downs) ---------------------------------------

    def record_run(self, ts: float, service: str, action: str, restart: bool) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO runs (ts, service, action, restart) VALUES (?, ?, ?, ?)",
                (ts, service, action, int(restart)),
            )
            return int(cursor.lastrowid or 0)

    def set_run_result(self, run_id: int, ok: bool) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET ok = ? WHERE id = ?", (int(ok), run_id))

    def count_runs(
        self,
        since: float,
        *,
        service: str | None = None,
        action: str | None = None,
        restarts_only: bool = False,
    ) -> int:
        sql = "SELECT COUNT(*) FROM runs WHERE ts >= ?"
        args: list[Any] = [since]
        if service is not None:
            sql += " AND service = ?"
            args.append(service)
        if action is not None:
            sql += " AND action = ?"
            args.append(action)
        if restarts_only:
            sql += " AND restart = 1"
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    def last_run(self, service: str, action: str | None = None) -> float | None:
        sql = "SELECT MAX(ts) FROM runs WHERE service = ?"
        args: list[Any] = [service]
        if action is not None:
            sql += " AND action = ?"
            args.append(action)
        with self._lock:
            value = self._db.execute(sql, args).fetchone()[0]
        return float(value) if value is not None else None

    # -- circuit breakers --------------------------------------------------------------------

    def breaker(self, action: str, service: str) -> BreakerRow:
        with self._lock:
            row = self._db.execute(
                "SELECT failures, opened_at FROM breakers WHERE action = ? AND service = ?", (action, service)
            ).fetchone()
        return BreakerRow(0, None) if row is None else BreakerRow(int(row[0]), row[1])

    def set_breaker(self, action: str, service: str, failures: int, opened_at: float | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO breakers (action, service, failures, opened_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (action, service) DO UPDATE SET failures = excluded.failures, "
                "opened_at = excluded.opened_at",
                (action, service, failures, opened_at),
            )

    # -- approvals ---------------------------------------------------------------------------

    def add_approval(self, approval_id: str, created: float, expires: float, payload: dict[str, Any]) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO approvals (id, created_at, expires_at, status, payload) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (
                    approval_id,
                    created,
                    expires,
                    self._seal(json.dumps(payload, default=str), "approvals:payload", approval_id),
                ),
            )
            return cursor.rowcount == 1

    def decide_approval(self, approval_id: str, status: str, by: str) -> bool:
        """Approve or reject a pending request; False if it is not pending (unknown, decided, expired)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE approvals SET status = ?, decided_by = ? WHERE id = ? AND status = 'pending'",
                (status, by, approval_id),
            )
            return cursor.rowcount == 1

    def approvals(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, created_at, expires_at, status, payload, decided_by FROM approvals"
        args: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [
            {
                "id": r[0],
                "created_at": r[1],
                "expires_at": r[2],
                "status": r[3],
                "payload": json.loads(self._unseal(r[4], "approvals:payload", r[0])),
                "decided_by": r[5],
            }
            for r in rows
        ]

    # -- manual override ---------------------------------------------------------------------

    def set_override(self, service: str, on: bool, now: float, reason: str = "") -> None:
        with self._lock:
            if on:
                self._db.execute(
                    "INSERT OR REPLACE INTO overrides (service, set_at, reason) VALUES (?, ?, ?)",
                    (service, now, self._seal(reason, "overrides:reason", service)),
                )
            else:
                self._db.execute("DELETE FROM overrides WHERE service = ?", (service,))

    def override_reason(self, service: str) -> str | None:
        """Why ``service`` is overridden (None when it is not)."""
        with self._lock:
            row = self._db.execute("SELECT reason FROM overrides WHERE service = ?", (service,)).fetchone()
        if row is None:
            return None
        return self._unseal(row[0], "overrides:reason", service) if row[0] else ""

    def overridden(self, service: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM overrides WHERE service = ? OR service = '*'", (service,)
            ).fetchone()
        return row is not None

    # -- encryption at rest ------------------------------------------------------------------

    def _seal(self, text: str, column: str, row_id: str) -> str:
        return seal(self.cipher, text, f"healing:{column}:{row_id}")

    def _unseal(self, value: str, column: str, row_id: str) -> str:
        return unseal(self.cipher, value, f"healing:{column}:{row_id}")

    def rekey(self) -> int:
        """Re-seal every sealed column with the current key (plaintext rows too); returns rows changed.

        One transaction: the state is small (approvals and action results, not telemetry). Run after
        putting a new key first; then the old key can go. Raises ``StorageKeyError`` if a row was
        sealed with a key no longer configured, before anything is written.
        """
        cipher = self.cipher
        if cipher is None:
            return 0
        columns = [
            ("idempotency", "key", "result"),
            ("idempotency", "key", "plan"),
            ("approvals", "id", "payload"),
            ("overrides", "service", "reason"),
            ("ladders", "group_key", "note"),
        ]
        changed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table, id_col, col in columns:
                    rows = self._db.execute(
                        f"SELECT {id_col}, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} != ''"
                    ).fetchall()
                    for row_id, value in rows:
                        if cipher.is_current(value):
                            continue
                        context = f"healing:{table}:{col}:{row_id}"
                        fresh = cipher.encrypt(cipher.decrypt(value, context), context)
                        self._db.execute(f"UPDATE {table} SET {col} = ? WHERE {id_col} = ?", (fresh, row_id))
                        changed += 1
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return changed


__all__ = ["IN_FLIGHT", "BreakerRow", "InFlight", "LadderRow", "StateStore"]
