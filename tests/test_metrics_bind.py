"""`metrics.bind_address` decides where /metrics listens, so a Prometheus on another host can scrape it."""

from __future__ import annotations

import socket

import httpx
import pytest
from pydantic import ValidationError
from rich.console import Console

from forewarn.commands.probe import _serve_metrics
from forewarn.settings import MetricsSettings, Settings

pytestmark = pytest.mark.integration


def test_the_probe_metrics_listen_on_the_configured_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_METRICS__BIND_ADDRESS", "127.0.0.2")  # another loopback "host"
    address = Settings().metrics.bind_address
    served = _serve_metrics(Console(quiet=True), 0, address)
    assert served is not None
    server, _metrics = served
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.2"
        body = httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=5).text
        assert "forewarn_probe" in body
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # not on the default address
    finally:
        server.shutdown()
        server.server_close()


def test_the_old_key_names_its_replacement() -> None:
    with pytest.raises(ValidationError, match=r"metrics\.host is now metrics\.bind_address"):
        MetricsSettings.model_validate({"host": "0.0.0.0"})
