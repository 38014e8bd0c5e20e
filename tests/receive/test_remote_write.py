"""Prometheus remote_write: the wire decoding, the mapping to metric events, and the HTTP door's guards.

The real sender is tested in ``test_prometheus_leak.py`` (Prometheus 2.42 remote-writing to
``forewarn receive``); here requests are encoded with the same descriptor and cramjam's snappy, over a
real socket, to pin each rule down.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import cramjam
import httpx
import pytest
from pydantic import SecretStr

from forewarn.collect.converted import NameFilter
from forewarn.collect.receiver import create_receiver
from forewarn.collect.remote_write import (
    WriteRequest,
    WriteRequestError,
    decode_write_request,
    samples_from_write_request,
)
from forewarn.events import MetricSample
from forewarn.kafka.publisher import PublisherStats
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.unit

KEY = "push-key-for-tests"
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus' stale marker


def write_request(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> bytes:
    request = WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name, text in sorted(labels.items()):
            ts.labels.add(name=name, value=text)
        for value, stamp in samples:
            ts.samples.add(value=value, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def convert(body: bytes, **options: object) -> tuple[list[MetricSample], dict[str, int]]:
    decoded = decode_write_request(body, max_decoded_bytes=1 << 20)
    converted = samples_from_write_request(
        decoded,
        service_labels=["service", "job"],
        default_service="unlabelled",
        **options,  # type: ignore[arg-type]
    )
    samples = [e for e in converted.events if isinstance(e, MetricSample)]
    return samples, dict(converted.dropped)


def test_samples_keep_name_labels_value_and_time_and_take_the_service_from_a_label() -> None:
    labels = {"__name__": "memory_usage", "job": "checkout", "instance": "10.0.0.7:9100", "pod": "checkout-1"}
    samples, dropped = convert(write_request((labels, [(0.42, NOW_MS), (0.43, NOW_MS + 1000)])))
    assert dropped == {}
    assert [(s.service, s.name, s.value) for s in samples] == [
        ("checkout", "memory_usage", 0.42),
        ("checkout", "memory_usage", 0.43),
    ]
    assert samples[0].labels == {"job": "checkout", "instance": "10.0.0.7:9100", "pod": "checkout-1"}
    assert samples[1].timestamp == datetime.fromtimestamp((NOW_MS + 1000) / 1000, tz=UTC)
    assert samples[0].key() == "checkout/memory_usage"


def test_the_service_label_wins_over_job_and_odd_characters_are_tamed() -> None:
    both = {"__name__": "job:requests:rate5m", "job": "node", "service": "web/api"}
    none = {"__name__": "up"}
    samples, _ = convert(write_request((both, [(1.0, NOW_MS)]), (none, [(1.0, NOW_MS)])))
    assert [(s.service, s.name) for s in samples] == [
        ("web_api", "job_requests_rate5m"),
        ("unlabelled", "up"),
    ]


def test_unusable_samples_are_dropped_by_reason_and_the_rest_kept() -> None:
    body = write_request(
        ({"job": "a"}, [(1.0, NOW_MS)]),  # no __name__
        ({"__name__": "x" * 65, "job": "a"}, [(1.0, NOW_MS)]),  # longer than a forewarn name
        ({"__name__": "g", "job": "a"}, [(STALE_NAN, NOW_MS), (float("inf"), NOW_MS), (2.0, NOW_MS)]),
        ({"__name__": "g", "job": "a"}, [(3.0, 1000)]),  # 1970: outside the event schema's range
    )
    samples, dropped = convert(body)
    assert [s.value for s in samples] == [2.0]
    assert dropped == {"no_name": 1, "bad_name": 1, "not_finite": 2, "bad_timestamp": 1}


def test_a_name_filter_keeps_only_matching_metrics() -> None:
    body = write_request(
        ({"__name__": "memory_usage", "job": "a"}, [(1.0, NOW_MS)]),
        ({"__name__": "go_gc_duration_seconds", "job": "a"}, [(1.0, NOW_MS), (2.0, NOW_MS)]),
    )
    samples, dropped = convert(body, keep=NameFilter([r"memory_.*", "disk_usage"]))
    assert [s.name for s in samples] == ["memory_usage"] and dropped == {"filtered": 2}


def test_bodies_that_are_not_snappy_protobuf_or_inflate_too_far_are_refused() -> None:
    with pytest.raises(WriteRequestError, match="not snappy"):
        decode_write_request(b"\x05plain", max_decoded_bytes=1 << 20)
    with pytest.raises(WriteRequestError, match=r"not a prometheus\.WriteRequest"):
        decode_write_request(bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), max_decoded_bytes=1 << 20)
    bomb = bytes(cramjam.snappy.compress_raw(b"\0" * 100_000))
    assert len(bomb) < 10_000
    with pytest.raises(OverflowError, match="100000 bytes"):
        decode_write_request(bomb, max_decoded_bytes=50_000)


@pytest.fixture
def receiver() -> Iterator[tuple[str, ListPublisher]]:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)], max_body_bytes=4096))
    publisher = ListPublisher()
    with serving(create_receiver(settings, publisher)) as url:
        yield url, publisher


HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "Authorization": f"Bearer {KEY}",
}


def test_a_push_lands_on_the_metrics_topic_keyed_by_series(receiver: tuple[str, ListPublisher]) -> None:
    url, publisher = receiver
    body = write_request(({"__name__": "disk_usage", "job": "db", "mount": "/var"}, [(0.5, NOW_MS)]))
    response = httpx.post(f"{url}/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 204, response.text
    [(topic, key, value)] = publisher.sent
    assert (topic, key) == (Settings().topics.metrics, "db/disk_usage")
    event = json.loads(value)
    assert (event["kind"], event["value"], event["labels"]) == ("metric", 0.5, {"job": "db", "mount": "/var"})
    metrics = httpx.get(f"{url}/metrics").text
    assert 'forewarn_receiver_events_total{source="remote_write"} 1.0' in metrics


def test_the_door_refuses_clearly(receiver: tuple[str, ListPublisher]) -> None:
    url, publisher = receiver
    body = write_request(({"__name__": "disk_usage"}, [(0.5, NOW_MS)]))
    anonymous = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    cases = [
        (anonymous, body, 401, "key"),
        ({**HEADERS, "Authorization": "Bearer wrong"}, body, 401, "key"),
        ({**HEADERS, "Content-Encoding": "gzip"}, body, 415, "snappy"),
        (
            {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"},
            body,
            415,
            "(1.0) and io.prometheus.write.v2.Request (2.0)",
        ),
        (HEADERS, b"\x05garbage", 400, "not snappy"),
        (HEADERS, b"\0" * 5000, 413, "4096"),
    ]
    for headers, content, status, words in cases:
        response = httpx.post(f"{url}/api/v1/write", content=content, headers=headers)
        assert response.status_code == status, (status, response.text)
        assert words in response.json()["detail"]
    assert publisher.sent == []
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    v1 = {**HEADERS, "Content-Type": 'application/x-protobuf; proto="prometheus.WriteRequest"'}
    assert httpx.post(f"{url}/api/v1/write", content=body, headers=v1).status_code == 204, "1.0, named"


def test_no_keys_configured_refuses_every_push_and_says_why() -> None:
    with serving(create_receiver(Settings(), ListPublisher())) as url:
        response = httpx.post(f"{url}/api/v1/write", content=b"", headers=HEADERS)
    assert response.status_code == 401 and "FOREWARN_RECEIVER__KEYS" in response.json()["detail"]


class BackedUpPublisher(ListPublisher):
    """A publisher whose buffer holds ``waiting`` unsent events, as KafkaPublisher reports them."""

    def __init__(self, waiting: int) -> None:
        super().__init__()
        self.waiting = waiting

    def stats(self) -> PublisherStats:
        return PublisherStats(buffered=self.waiting, in_flight=0, delivered=0, dropped=0, connected=False)


@pytest.mark.parametrize(("waiting", "status"), [(8, 204), (9, 503)])
def test_a_push_that_would_overflow_the_kafka_buffer_is_refused_for_a_retry(
    waiting: int, status: int
) -> None:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)], buffer_size=10))
    publisher = BackedUpPublisher(waiting)
    body = write_request(({"__name__": "disk_usage", "job": "db"}, [(0.5, NOW_MS), (0.6, NOW_MS + 1)]))
    with serving(create_receiver(settings, publisher)) as url:
        response = httpx.post(f"{url}/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == status
    if status == 503:
        assert response.headers["retry-after"] == "5" and "retry" in response.json()["detail"]
        assert publisher.sent == []
    else:
        assert len(publisher.sent) == 2
