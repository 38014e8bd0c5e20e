"""One way to open a process's own SQLite state file: WAL, autocommit, shared across its threads.

Why shared: the healing state and the responder's checkpoint both keep small, crash-safe state in
SQLite and need the same settings: WAL so a reader (``forewarn heal``, a test) never blocks the
writer, a 30 s busy timeout for a second process, and one connection used by several threads behind
the owner's lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect_wal"]


def connect_wal(path: Path) -> sqlite3.Connection:
    """Open (creating its folder) ``path`` in WAL mode; the caller serialises use with its own lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db
