"""The Prometheus authors' remote-write client sends remote write 2.0 to ``forewarn receive``.

Real sender, real socket: ``tests/receive/rw2_sender`` is a small Go program over
``github.com/prometheus/client_golang/exp/api/remote`` (the client the Prometheus authors publish for the
2.0 spec), which encodes the request, compresses it, sets the 2.0 headers, and treats a 2xx without the
spec's written-counts headers as a failure. Prometheus 2.42, this machine's server, sends 1.0 only. The
program is built once per machine with the Go toolchain into forewarn's cache, keyed by its sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from forewarn.collect.receiver import create_receiver
from forewarn.settings import ReceiverSettings, Settings, cache_dir

from .running import ListPublisher, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "rw2-client-key"
SOURCES = Path(__file__).with_name("rw2_sender")


def rw2_sender() -> Path:
    """The sender's binary, built with ``go`` on first use; the test fails (not skips) without Go."""
    go = shutil.which("go") or next((g for g in ("/usr/local/go/bin/go",) if Path(g).is_file()), None)
    if go is None:
        pytest.fail("the Go toolchain is required to build the remote write 2.0 client (go on PATH)")
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((SOURCES / name).read_bytes())
    target = cache_dir() / "rw2-sender" / f"rw2-sender-{digest.hexdigest()[:16]}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        built = subprocess.run(
            [go, "build", "-mod=readonly", "-o", str(partial), "."],
            cwd=SOURCES,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if built.returncode != 0:
            pytest.fail(f"go build of the remote write 2.0 client failed:\n{built.stderr[-3000:]}")
        partial.replace(target)
    return target


def test_the_prometheus_remote_write_client_sends_2_0() -> None:
    sender = rw2_sender()
    start_ms = int(datetime.now(UTC).timestamp() * 1000)
    publisher = ListPublisher()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)]))
    with serving(create_receiver(settings, publisher)) as url:
        sent = subprocess.run(
            [str(sender), url, KEY, str(start_ms)], capture_output=True, text=True, timeout=120
        )
    assert sent.returncode == 0, sent.stderr
    # the client read the spec's headers back: every request's samples and histogram written
    assert [json.loads(line) for line in sent.stdout.splitlines()] == [
        {"samples": 2, "histograms": 2, "exemplars": 0}
    ] * 3
    events = [json.loads(v) for _, _, v in publisher.sent]

    def named(name: str) -> list[dict[str, object]]:
        return [e for e in events if e["name"] == name]

    requests, queue = named("app_requests_total"), named("app_queue_depth")
    assert [(e["value"], e["cumulative"]) for e in requests] == [(100.0, True), (200.0, True), (300.0, True)]
    assert [(e["value"], e["cumulative"]) for e in queue] == [(6.0, False), (7.0, False), (8.0, False)]
    assert requests[0]["service"] == "checkout"
    assert requests[0]["labels"] == {"instance": "app-0:8080", "job": "checkout"}
    # the native histogram: 98 requests in (0.125, 0.25] s and 2 in (0.25, 0.5] s a scrape
    p99s = [e["value"] for e in named("app_native_seconds_p99")]
    assert p99s == [pytest.approx(0.375)] * 2, "the second and third scrapes' intervals"
    assert [e["value"] for e in named("app_native_seconds_mean")] == [pytest.approx(0.204)] * 2
    assert all(e["cumulative"] for e in named("app_native_seconds_count"))
    # custom buckets (a classic histogram converted): 98 of each 100 within 0.25 s, 2 in (0.25, 0.5]
    assert [e["value"] for e in named("app_classic_seconds_p99")] == [pytest.approx(0.375)] * 2
