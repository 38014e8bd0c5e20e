"""The sink loop with an in-memory consumer double (real-broker behaviour: test_sink_kafka.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind
from forewarn.store.sink import StoreSink
from tests.api.factories import T0, detection

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Msg:
    topic: str
    offset: int
    value: bytes | None


class ListConsumer:
    def __init__(self, batches: list[list[Msg]]) -> None:
        self.batches = batches
        self.commits = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Mapping[Any, list[Any]]:
        return {"tp": self.batches.pop(0)} if self.batches else {}

    def commit(self, offsets: Any = None, timeout_ms: int | None = None) -> None:
        self.commits += 1

    def close(self) -> None:
        pass


def test_commits_after_each_written_batch_and_survives_garbage() -> None:
    store = Store(make_engine("sqlite://"))
    good = json.dumps(detection("auth", T0)).encode()
    consumer = ListConsumer(
        [
            [Msg("d", 0, good), Msg("d", 1, None), Msg("d", 2, b"\xff")],
            [Msg("d", 3, good), Msg("other", 0, b"{}")],
        ]
    )
    sink = StoreSink(store, consumer, {"d": Kind.DETECTION})
    assert sink.poll_once() == 3 and consumer.commits == 1
    assert sink.poll_once() == 2 and consumer.commits == 2
    assert sink.poll_once() == 0 and consumer.commits == 2  # nothing new: nothing to commit
    assert store.count(Kind.DETECTION) == 1
    assert sink.stats.rejected["detection"] == 2 and "d@2" in (sink.stats.last_error or "")
    state = {t.topic: t for t in store.topics()}
    assert state["d"].messages == 4 and state["d"].rejected == 2 and state["d"].last_offset == 3
    assert state["other"].messages == 1  # counted for meta-monitoring, not stored


def test_retention_purge_runs_on_its_interval() -> None:
    wall = [T0.timestamp() + 10 * 86400]
    store = Store(make_engine("sqlite://"), clock=lambda: wall[0])
    old = json.dumps(detection("auth", T0)).encode()
    recent = json.dumps(detection("auth", T0 + timedelta(days=9, hours=23))).encode()
    consumer = ListConsumer([[Msg("d", 0, old), Msg("d", 1, recent)]])
    mono = [0.0]
    sink = StoreSink(
        store,
        consumer,
        {"d": Kind.DETECTION},
        retention_seconds=86400,
        purge_every_seconds=60,
        clock=lambda: mono[0],
    )
    sink.poll_once()
    assert store.count(Kind.DETECTION) == 2  # the purge interval has not passed yet
    mono[0] = 61.0
    sink.poll_once()
    assert store.count(Kind.DETECTION) == 1
