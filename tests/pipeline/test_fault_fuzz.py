"""10,000 hypothesis-made malformed messages among good ones, through a real ``forewarn run``.

Issue #15: every bad one must land in the dead-letter topic with a reason (counted by id: a letter's
id is derived from the topic, partition and offset it was read at, which the producer learns when
Kafka acknowledges it), every good one must be processed, and the process's memory must stay
bounded. Hypothesis builds the inputs up front (derandomized, so a run is reproducible) and they are
produced in batches, so the test spends its time in the dataflow, not in generation or round trips.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from forewarn.events import DeadLetter
from forewarn.ingest import RawMessage, parse_message
from forewarn.kafka.io import read_topic
from forewarn.settings import IngestSettings, Settings

from ..fault_report import record
from .kafka_process import DataflowProcess, plain_producer, probe, rss_bytes, start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD = 10_000
GOOD_EVERY = 4  # one good event after every 4 bad ones: 2,500 good
NOW = datetime.now(UTC) - timedelta(seconds=60)
GOOD_PROBE: dict[str, Any] = json.loads(probe("auth", NOW, True))
NOT_A_NUMBER = st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.none()))


def _mutated_probe() -> st.SearchStrategy[bytes]:
    """A probe document broken in one way: a field gone, a wrong type, an absurd time, a bad kind."""
    field = st.sampled_from(sorted(k for k in GOOD_PROBE if k not in {"error", "schema_version"}))
    missing = field.map(lambda k: {key: v for key, v in GOOD_PROBE.items() if key != k})
    wrong_type = st.tuples(st.sampled_from(["latency_ms", "ok", "timestamp"]), NOT_A_NUMBER).map(
        lambda kv: {**GOOD_PROBE, kv[0]: kv[1]}
    )
    far_future = st.integers(2100, 9999).map(lambda y: {**GOOD_PROBE, "timestamp": f"{y}-01-01T00:00:00Z"})
    kind = st.text(min_size=1, max_size=12).filter(lambda k: k not in {"probe", "log", "metric"})
    bad_kind = kind.map(lambda k: {**GOOD_PROBE, "kind": k})
    return st.one_of(missing, wrong_type, far_future, bad_kind).map(lambda d: json.dumps(d).encode())


def _malformed() -> st.SearchStrategy[bytes]:
    not_json = st.one_of(st.binary(max_size=120), st.text(max_size=60).map(str.encode))
    json_not_object = st.one_of(
        st.lists(st.integers(), max_size=4), st.integers(), st.text(max_size=20), st.none()
    ).map(lambda v: json.dumps(v).encode())
    too_large = st.integers(65_537, 70_000).map(lambda n: b"x" * n)
    common = st.one_of(not_json, json_not_object, _mutated_probe())
    # Over 64 KiB, 1 in 200: covers the size check without producing hundreds of MB (n == 137, not 0:
    # hypothesis favours the simplest value).
    return st.integers(0, 199).flatmap(lambda n: too_large if n == 137 else common)


def _is_bad(value: bytes) -> bool:
    """The input set is meant to be malformed; ingest itself says which ones a generator got right."""
    raw = RawMessage(value=value, topic="t", key=None, partition=0, offset=0)
    return isinstance(parse_message(raw, IngestSettings()), DeadLetter)


def generate_malformed(count: int) -> list[bytes]:
    """``count`` malformed messages from hypothesis, derandomized (the same set every run)."""
    out: list[bytes] = []

    @settings(
        max_examples=count // 100 + 20,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(_malformed(), min_size=100, max_size=100))
    def collect(batch: list[bytes]) -> None:
        out.extend(value for value in batch if _is_bad(value))

    while len(out) < count:
        collect()
    return out[:count]


def _good(i: int) -> tuple[str, bytes, bytes]:
    """The i-th good event: a probe, a metric sample or a log record, in turn."""
    when = (NOW + timedelta(milliseconds=i)).isoformat()
    kind = i % 3
    if kind == 0:
        return "probes", b"email", probe("email", NOW + timedelta(milliseconds=i), True)
    if kind == 1:
        doc = {
            "kind": "metric",
            "service": "database",
            "name": "db_pool_in_use",
            "value": i % 10,
            "timestamp": when,
        }
        return "metrics", b"database/db_pool_in_use", json.dumps(doc).encode()
    doc = {"kind": "log", "service": "auth", "level": "INFO", "message": f"login ok {i}", "timestamp": when}
    return "logs", b"auth", json.dumps(doc).encode()


class _RssSampler:
    """Samples a process's RSS every 0.2 s in the background; keeps every sample."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append(rss_bytes(self.pid))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(2)
        return self.samples


def _produce(settings_: Settings, bad: list[bytes], first: int = 0) -> tuple[dict[str, int], int]:
    """Interleave ``bad`` with good events: the expected dead-letter ids (to the index in the whole
    list, ``bad`` starting at ``first``) and the number of good events sent."""
    topics = settings_.topics
    names = {"probes": topics.probes, "metrics": topics.metrics, "logs": topics.logs}
    inputs = [topics.probes, topics.logs, topics.metrics]
    producer = plain_producer(settings_)
    futures = []
    good = 0
    for i, value in enumerate(bad):
        topic = inputs[i % 3]
        futures.append((topic, producer.send(topic, key=f"k{i % 7}".encode(), value=value)))
        if i % GOOD_EVERY == GOOD_EVERY - 1:
            name, key, doc = _good(first // GOOD_EVERY + good)
            producer.send(names[name], key=key, value=doc)
            good += 1
    producer.flush()
    producer.close()
    expected: dict[str, int] = {}
    for index, (topic, future) in enumerate(futures):
        meta = future.get(timeout=30)
        expected[
            DeadLetter.make_id({"source_topic": topic, "partition": meta.partition, "offset": meta.offset})
        ] = first + index
    return expected, good


def test_ten_thousand_fuzzed_malformed_messages_all_dead_lettered_good_ones_processed(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    bad = generate_malformed(BAD)
    assert len(bad) == BAD and len(set(bad)) >= 1000  # varied (hypothesis also repeats simple ones)
    with start_dataflow(kafka_settings, tmp_path) as dataflow:
        sampler = _RssSampler(dataflow.proc.pid)
        half = BAD // 2
        expected, good = _produce(kafka_settings, bad[:half])
        _wait_for(dataflow, half, good)
        middle = rss_bytes(dataflow.proc.pid)
        more, more_good = _produce(kafka_settings, bad[half:], half)
        expected.update(more)
        good += more_good
        _wait_for(dataflow, BAD, good)
        end = rss_bytes(dataflow.proc.pid)
        samples = sampler.stop()
        processed = int(dataflow.metric("forewarn_pipeline_events_total"))
        lettered = int(dataflow.metric("forewarn_pipeline_dead_letters_total"))

    records = read_topic(
        kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.dead_letter, timeout=60
    )
    letters = [DeadLetter.model_validate_json(r.value) for r in records]
    ids = Counter(letter.id for letter in letters)
    record(
        "10,000 hypothesis-fuzzed malformed messages among 2,500 good ones",
        events_sent=BAD + good,
        accounted_for=len(set(ids) & set(expected)) + processed,
        duplicates=sum(ids.values()) - len(ids),
        rss_mb={
            "start": _mb(samples[0] if samples else 0),
            "half": _mb(middle),
            "end": _mb(end),
            "peak": _mb(max(samples, default=0)),
        },
    )
    assert lettered == BAD and processed == good
    assert set(ids) == set(expected), f"{len(set(expected) - set(ids))} bad messages have no dead letter"
    assert all(letter.reason for letter in letters)
    by_id = {letter.id: letter for letter in letters}
    assert all(by_id[i].original_size == len(bad[index]) for i, index in expected.items())
    # Bounded: the second 5,000 may not grow the process like the first did (no per-message state).
    assert end - middle <= 64 * 2**20, f"RSS grew {_mb(end - middle)} MB over the second half"


def _wait_for(dataflow: DataflowProcess, letters: int, good: int) -> None:
    assert dataflow.wait_for_metric("forewarn_pipeline_dead_letters_total", letters, timeout=90) == letters
    assert dataflow.wait_for_metric("forewarn_pipeline_events_total", good, timeout=90) == good


def _mb(value: int) -> float:
    return round(value / 2**20, 1)
