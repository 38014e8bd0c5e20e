"""Remote write 2.0: symbols, per-series types, native histograms, and the response headers.

Requests are encoded with the receiver's own 2.0 descriptor here, over a real socket; the real sender,
the Prometheus authors' remote-write client (``client_golang/exp``), is ``test_remote_write_v2_client.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cramjam
import httpx
import pytest
from pydantic import SecretStr

from forewarn.collect.receiver import create_receiver
from forewarn.collect.remote_write_v2 import V2Request
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.unit

KEY = "v2-key"
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
V2 = {
    "Authorization": f"Bearer {KEY}",
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
}


def v2_body(*series: tuple[dict[str, str], int, list[tuple[float, int]]]) -> bytes:
    """Each series: its labels, its metadata type (1.0's numbers), its samples."""
    request = V2Request()
    symbols: dict[str, int] = {"": 0}
    request.symbols.append("")

    def ref(text: str) -> int:
        if text not in symbols:
            symbols[text] = len(request.symbols)
            request.symbols.append(text)
        return symbols[text]

    for labels, kind, samples in series:
        ts = request.timeseries.add()
        for name, text in sorted(labels.items()):
            ts.labels_refs.extend([ref(name), ref(text)])
        ts.metadata.type = kind
        for value, stamp in samples:
            ts.samples.add(value=value, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def events_of(publisher: ListPublisher) -> list[dict[str, Any]]:
    return [json.loads(v) for _, _, v in publisher.sent]


def test_symbols_and_types_become_the_events_1_0_gives() -> None:
    publisher = ListPublisher()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)]))
    with serving(create_receiver(settings, publisher)) as url:
        body = v2_body(
            ({"__name__": "orders", "job": "shop"}, 1, [(10.0, NOW_MS)]),  # a counter without _total
            ({"__name__": "queue_items_total", "job": "shop"}, 2, [(3.0, NOW_MS)]),  # a gauge named _total
        )
        response = httpx.post(f"{url}/api/v1/write", content=body, headers=V2)
    assert response.status_code == 204, response.text
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "2"
    assert response.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    events = {e["name"]: e for e in events_of(publisher)}
    assert (events["orders"]["cumulative"], events["queue_items_total"]["cumulative"]) == (True, False), (
        "each series' own type, not the name, decides"
    )
    assert events["orders"]["service"] == "shop" and events["orders"]["labels"] == {"job": "shop"}


def test_a_histogram_s_parts_are_known_from_their_own_types() -> None:
    publisher = ListPublisher()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)]))
    with serving(create_receiver(settings, publisher)) as url:
        for scrape in (1, 2):
            t = NOW_MS + 1000 * scrape
            body = v2_body(
                ({"__name__": "rpc_seconds_count", "job": "api"}, 3, [(10.0 * scrape, t)]),
                ({"__name__": "rpc_seconds_sum", "job": "api"}, 3, [(2.0 * scrape, t)]),
            )
            assert httpx.post(f"{url}/api/v1/write", content=body, headers=V2).status_code == 204
    means = [e["value"] for e in events_of(publisher) if e["name"] == "rpc_seconds_mean"]
    assert means == [pytest.approx(0.2)], "the count and sum paired without a metadata request"


def test_bad_label_references_are_a_clear_400() -> None:
    request = V2Request()
    request.symbols.extend(["", "__name__"])
    request.timeseries.add().labels_refs.extend([1, 7])  # 7: no such symbol
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    publisher = ListPublisher()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)]))
    with serving(create_receiver(settings, publisher)) as url:
        response = httpx.post(f"{url}/api/v1/write", content=body, headers=V2)
    assert response.status_code == 400 and "labels_refs" in response.json()["detail"]
    assert publisher.sent == []
