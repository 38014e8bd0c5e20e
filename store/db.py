"""The state store: idempotent upserts and the queries the API and reports need.

Why SQLAlchemy Core (not the ORM): the store is a handful of tables written by one sink and read by
the API; plain ``insert ... on conflict`` statements say exactly what idempotency means, on SQLite
(the embedded default, in WAL mode so the API reads while the sink writes) and PostgreSQL alike.
A re-delivered message (Kafka is at-least-once) hits the same primary key: it updates the row only
when it is at least as new (``updated``), so replays never add rows and never roll state back.

Encryption at rest (``forewarn.field_crypto``, when ``security.storage_keys`` is set): the ``payload``
column of every table and the control requests' ``payload``/``result`` are sealed, because that is
where free text lives (probe errors and details from the target, detection reasons, incident reports
with log samples and evidence, action params and outputs, operator parameters). The columns queries
filter and sort on (id, service, times, status, severity, action, series, metric, probe ok/latency)
stay plain: they name things and count them, and an encrypted index could not be queried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select

from forewarn.field_crypto import (
    FieldCipher,
    StorageKeyError,
    cipher_from_settings,
    seal,
    sealed_key_id,
    unseal,
)
from forewarn.settings import Settings, cache_dir
from forewarn.store.control import ControlRequests
from forewarn.store.records import Kind, Row
from forewarn.store.tables import TABLES, metadata, topic_state
from forewarn.store.tables import control_requests as control_table

__all__ = ["Page", "Store", "TopicState", "create_tables", "default_url", "open_store"]

Clock = Callable[[], float]


def default_url() -> str:
    """SQLite in the cache dir: survives restarts of the API and the sink, shared by both."""
    path = cache_dir() / "state.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: the stored JSON payloads, newest first, and the total that matched."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class TopicState:
    topic: str
    messages: int
    rejected: int
    last_offset: int | None
    last_event_ts: float | None
    last_received_ts: float | None


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, in-memory SQLite one shared connection."""
    if url.startswith("sqlite"):
        memory = url in {"sqlite://", "sqlite:///:memory:"}
        if not memory:
            Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if memory else None,
        )
        if not memory:
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


_CREATE_RACE = ("already exists", "duplicate", "database is locked")


def create_tables(engine: Engine, attempts: int = 8) -> None:
    """Create the missing tables, tolerating another process doing the same at the same moment.

    Why: ``forewarn api`` and ``forewarn respond`` both open the store and start together (one Procfile);
    ``create_all`` checks, then creates, so the slower one can find a table created in between ("table
    probes already exists" on SQLite; DuplicateTable or a pg_type unique violation on PostgreSQL). On
    SQLite, a reader whose transaction must become a writer after another one wrote gets "database is
    locked" at once, without waiting out the busy timeout (SQLite's deadlock rule). A second pass sees
    the tables and skips them.
    """
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError as exc:
            text = str(exc.orig).lower()
            if attempt == attempts - 1 or not any(race in text for race in _CREATE_RACE):
                raise
            time.sleep(0.05 * (attempt + 1))


class Store:
    """Read and write materialised state. Thread-safe (one engine, a connection per call)."""

    def __init__(
        self, engine: Engine, *, clock: Clock = time.time, cipher: FieldCipher | None = None
    ) -> None:
        self.engine = engine
        self._clock = clock
        self.cipher = cipher
        create_tables(engine)
        # Operator requests for the healing executor's process (approve, deny, manual trigger).
        self.control = ControlRequests(engine, clock, cipher)

    def _payload_in(self, kind: Kind, record_id: str, payload: Mapping[str, Any]) -> str:
        text = json.dumps(payload, default=str, sort_keys=True)
        return seal(self.cipher, text, f"{TABLES[kind].name}:payload:{record_id}")

    def _payload_out(self, kind: Kind, record_id: str, stored: str) -> dict[str, Any]:
        text = unseal(self.cipher, stored, f"{TABLES[kind].name}:payload:{record_id}")
        loaded: dict[str, Any] = json.loads(text)
        return loaded

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ---- writes -------------------------------------------------------------------------------

    def upsert(self, kind: Kind, records: Iterable[tuple[Row, Mapping[str, Any]]]) -> int:
        """Insert or update rows by id; returns how many rows were given. Idempotent."""
        rows = [
            {
                "id": view.id,
                "service": view.service,
                "ts": _epoch(view.timestamp),
                "updated": _epoch(view.updated),
                "payload": self._payload_in(kind, view.id, payload),
                **view.index,
            }
            for view, payload in records
        ]
        if not rows:
            return 0
        # Duplicates inside one batch would make one statement touch a row twice (PostgreSQL refuses).
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            kept = newest.get(row["id"])
            if kept is None or row["updated"] >= kept["updated"]:
                newest[row["id"]] = row
        with self.engine.begin() as conn:
            self._upsert_rows(conn, kind, list(newest.values()))
        return len(rows)

    def _upsert_rows(self, conn: Connection, kind: Kind, rows: list[dict[str, Any]]) -> None:
        table = TABLES[kind]
        dialect = sqlite if self.dialect == "sqlite" else postgresql if self.dialect == "postgresql" else None
        if dialect is None:
            self._upsert_portable(conn, kind, rows)
            return
        stmt = dialect.insert(table).values(rows)
        if kind in (Kind.PROBE, Kind.DETECTION):
            # Facts about one moment: the first delivery is the truth.
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
            return
        columns = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "id"}
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"], set_=columns, where=stmt.excluded.updated >= table.c.updated
            )
        )

    def _upsert_portable(self, conn: Connection, kind: Kind, rows: list[dict[str, Any]]) -> None:
        table = TABLES[kind]
        for row in rows:
            existing = conn.execute(select(table.c.updated).where(table.c.id == row["id"])).first()
            if existing is None:
                conn.execute(table.insert().values(row))
            elif kind not in (Kind.PROBE, Kind.DETECTION) and row["updated"] >= existing[0]:
                conn.execute(table.update().where(table.c.id == row["id"]).values(row))

    def record_topic(
        self,
        topic: str,
        *,
        messages: int,
        rejected: int,
        last_offset: int | None,
        last_event_ts: float | None,
    ) -> None:
        """Add a batch's counts to what the sink has seen on ``topic`` (for meta-monitoring)."""
        now = self._clock()
        with self.engine.begin() as conn:
            row = conn.execute(select(topic_state).where(topic_state.c.topic == topic)).first()
            if row is None:
                conn.execute(
                    topic_state.insert().values(
                        topic=topic,
                        messages=messages,
                        rejected=rejected,
                        last_offset=last_offset,
                        last_event_ts=last_event_ts,
                        last_received_ts=now,
                    )
                )
                return
            conn.execute(
                topic_state.update()
                .where(topic_state.c.topic == topic)
                .values(
                    messages=row.messages + messages,
                    rejected=row.rejected + rejected,
                    last_offset=last_offset if last_offset is not None else row.last_offset,
                    last_event_ts=max(
                        (t for t in (row.last_event_ts, last_event_ts) if t is not None), default=None
                    ),
                    last_received_ts=now,
                )
            )

    def purge(self, retention_seconds: float) -> dict[str, int]:
        """Delete rows older than the retention (by last update); returns rows deleted per kind."""
        cutoff = self._clock() - retention_seconds
        deleted: dict[str, int] = {}
        with self.engine.begin() as conn:
            for kind, table in TABLES.items():
                result = conn.execute(table.delete().where(table.c.updated < cutoff))
                deleted[kind.value] = int(result.rowcount or 0)
        return deleted

    # ---- reads --------------------------------------------------------------------------------

    def page(
        self,
        kind: Kind,
        *,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        offset: int = 0,
        latest_per: Sequence[str] = (),
    ) -> Page:
        """Rows newest first. A filter value that is a list/tuple matches any of its items;
        ``latest_per`` keeps only the newest row per group of columns."""
        table = TABLES[kind]
        conditions = []
        if service is not None:
            conditions.append(table.c.service == service)
        if since is not None:
            conditions.append(table.c.ts >= _epoch(since))
        if until is not None:
            conditions.append(table.c.ts < _epoch(until))
        for column, value in (filters or {}).items():
            if isinstance(value, list | tuple | set | frozenset):
                conditions.append(table.c[column].in_(list(value)))
            elif value is not None:
                conditions.append(table.c[column] == value)
        base: Select[Any] = select(table.c.payload, table.c.ts, table.c.id).where(*conditions)
        if latest_per:
            groups = [table.c[c] for c in latest_per]
            newest = select(*groups, func.max(table.c.ts).label("ts")).where(*conditions).group_by(*groups)
            keys = tuple_(*groups, table.c.ts)
            base = base.where(keys.in_(newest))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
            rows = conn.execute(
                base.order_by(table.c.ts.desc(), table.c.id).limit(limit).offset(offset)
            ).all()
        items = [self._payload_out(kind, r.id, r.payload) for r in rows]
        return Page(items=items, total=int(total), limit=limit, offset=offset)

    def get(self, kind: Kind, record_id: str) -> dict[str, Any] | None:
        table = TABLES[kind]
        with self.engine.connect() as conn:
            row = conn.execute(select(table.c.payload).where(table.c.id == record_id)).first()
        return None if row is None else self._payload_out(kind, record_id, row.payload)

    # ---- encryption at rest -------------------------------------------------------------------

    def rekey(self, batch: int = 500) -> dict[str, int]:
        """Seal every stored value with the current key (plaintext rows too); returns rows changed per table.

        Why a command and not on read: reads never write, so rotating a key is an explicit step an
        operator runs (and can repeat: rows already sealed with the current key are skipped), after
        which the old key can be removed. Each batch is its own transaction, so a long rekey does not
        hold the writers back; the ``updated`` order is left alone (the content did not change).
        """
        if self.cipher is None:
            raise StorageKeyError("rekey needs a storage key (security.storage_keys or storage_key_file)")
        cipher = self.cipher
        changed: dict[str, int] = {}
        targets = [(t, ("payload",)) for t in TABLES.values()] + [(control_table, ("payload", "result"))]
        for table, columns in targets:
            count = 0
            last = ""
            while True:
                with self.engine.begin() as conn:
                    rows = conn.execute(
                        select(table.c.id, *(table.c[c] for c in columns))
                        .where(table.c.id > last)
                        .order_by(table.c.id)
                        .limit(batch)
                    ).all()
                    for row in rows:
                        values = {}
                        for column in columns:
                            stored = getattr(row, column)
                            if stored is None or cipher.is_current(stored):
                                continue
                            context = f"{table.name}:{column}:{row.id}"
                            values[column] = cipher.encrypt(cipher.decrypt(stored, context), context)
                        if values:
                            conn.execute(table.update().where(table.c.id == row.id).values(**values))
                            count += 1
                if not rows:
                    break
                last = rows[-1].id
            changed[table.name] = count
        return changed

    def key_usage(self) -> dict[str, dict[str, int]]:
        """Rows per table by the key that sealed them (``plain`` for plaintext): what a rekey left."""
        usage: dict[str, dict[str, int]] = {}
        targets = [(t, ("payload",)) for t in TABLES.values()] + [(control_table, ("payload", "result"))]
        with self.engine.connect() as conn:
            for table, columns in targets:
                counts: dict[str, int] = {}
                for column in columns:
                    for (stored,) in conn.execute(select(table.c[column])):
                        if stored is None:
                            continue
                        name = sealed_key_id(stored) or "plain"
                        counts[name] = counts.get(name, 0) + 1
                usage[table.name] = counts
        return usage

    def services(self) -> list[str]:
        """Every service any table mentions."""
        names: set[str] = set()
        with self.engine.connect() as conn:
            for table in TABLES.values():
                names.update(r[0] for r in conn.execute(select(table.c.service).distinct()))
        return sorted(names)

    def probe_samples(
        self, *, service: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[tuple[str, float, bool, float]]:
        """(service, epoch ts, ok, latency_ms) in time order: the SLO calculations' input."""
        table = TABLES[Kind.PROBE]
        query = select(table.c.service, table.c.ts, table.c.ok, table.c.latency_ms)
        if service is not None:
            query = query.where(table.c.service == service)
        if since is not None:
            query = query.where(table.c.ts >= since)
        if until is not None:
            query = query.where(table.c.ts < until)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.ts)).all()
        return [(r.service, float(r.ts), bool(r.ok), float(r.latency_ms)) for r in rows]

    def count(self, kind: Kind, **filters: Any) -> int:
        table = TABLES[kind]
        conditions = [table.c[k] == v for k, v in filters.items()]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one())

    def distinct_series(self, kind: Kind, *columns: str) -> int:
        table = TABLES[kind]
        groups = select(*(table.c[c] for c in ("service", *columns))).distinct().subquery()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(groups)).scalar_one())

    def topics(self) -> list[TopicState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(topic_state).order_by(topic_state.c.topic)).all()
        return [
            TopicState(
                topic=r.topic,
                messages=int(r.messages),
                rejected=int(r.rejected),
                last_offset=r.last_offset,
                last_event_ts=r.last_event_ts,
                last_received_ts=r.last_received_ts,
            )
            for r in rows
        ]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def open_store(settings: Settings | None = None, *, clock: Clock = time.time) -> Store:
    """The store named by settings (``store.url``, SQLite in the cache dir by default), sealing
    sensitive columns with ``security``'s storage keys when there are any."""
    url = (settings.store.url if settings else None) or default_url()
    cipher = cipher_from_settings(settings.security) if settings else None
    return Store(make_engine(url), clock=clock, cipher=cipher)
