"""Probes work on any health endpoint: plain 200 OK, headers, bearer auth, a private CA, mutual TLS.

Why over real HTTPS: a CA bundle or a client certificate that is read but not used would pass any
test double. Here uvicorn serves with a certificate from a CA the test makes and requires a client
certificate from that CA, so each option is needed for the probe to pass.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr

from forewarn.collect.probe import ProbeRunner, make_client, read_health
from forewarn.events import ProbeResult
from forewarn.settings import ProbeSettings, ProbeTarget
from tests.tls import Pki, make_pki

TOKEN = "probe-token-123"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("code", "body", "ok", "status"),
    [
        (200, b"OK", True, "ok"),
        (204, b"", True, "ok"),
        (200, b'{"uptime_seconds": 12}', True, "ok"),
        (503, b"Service Unavailable", False, "down"),
        (500, b"", False, "down"),
        (200, b'{"status": "down"}', False, "down"),  # a status, when given, still rules
        (200, b'{"status": "purple"}', False, "error"),  # and an unknown one is still an error
    ],
)
def test_auto_mode_grades_by_the_http_code_when_the_body_says_nothing(
    code: int, body: bytes, ok: bool, status: str
) -> None:
    reading = read_health(code, body, mode="auto")
    assert (reading.ok, reading.status) == (ok, status)


@pytest.mark.unit
def test_json_mode_is_kept_for_the_base_url_convention() -> None:
    assert not read_health(200, b"OK", mode="json").ok
    targets = ProbeSettings(base_url="http://127.0.0.1:1").resolved_targets()
    assert {t.body for t in targets} == {"json"}
    assert ProbeTarget(service="web", url="http://127.0.0.1:1/healthz").body == "auto"


@pytest.mark.unit
def test_the_bearer_token_is_a_secret_sent_as_a_header() -> None:
    target = ProbeTarget(service="web", url="https://x/healthz", bearer_token=SecretStr(TOKEN))
    assert TOKEN not in repr(target) and TOKEN not in target.model_dump_json()
    assert target.request_headers()["authorization"] == f"Bearer {TOKEN}"


def _secure_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("OK")

    @app.get("/private/healthz")
    async def private(request: Request) -> PlainTextResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return PlainTextResponse("unauthorized", status_code=401)
        if request.headers.get("x-probe") != "forewarn":
            return PlainTextResponse("missing x-probe", status_code=400)
        return PlainTextResponse("OK")

    return app


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def https_server(pki: Pki) -> Iterator[str]:
    """uvicorn over TLS with the test CA's server certificate, requiring a client certificate."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _secure_app(),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=str(pki.server_cert),
        ssl_keyfile=str(pki.server_key),
        ssl_ca_certs=str(pki.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "test HTTPS server did not start"
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _probe(target: ProbeTarget) -> ProbeResult:
    async def go() -> ProbeResult:
        settings = ProbeSettings(timeout_seconds=5, retries=0)
        async with make_client(settings.timeout_seconds) as client:
            runner = ProbeRunner(settings, client, targets=[target])
            try:
                return await runner.probe(target)
            finally:
                await runner.aclose()

    return asyncio.run(go())


def _target(url: str, pki: Pki, **extra: object) -> ProbeTarget:
    fields: dict[str, object] = {
        "service": "web",
        "url": url,
        "ca_bundle": pki.ca_cert,
        "client_cert": pki.client_cert,
        "client_key": pki.client_key,
    }
    return ProbeTarget.model_validate({**fields, **extra})


@pytest.mark.integration
def test_plain_healthz_over_mutual_tls_is_healthy(https_server: str, pki: Pki) -> None:
    result = _probe(_target(f"{https_server}/healthz", pki))
    assert result.ok and result.status == "ok" and result.status_code == 200, result.error


@pytest.mark.integration
def test_bearer_token_and_headers_reach_the_endpoint(https_server: str, pki: Pki) -> None:
    url = f"{https_server}/private/healthz"
    good = _probe(_target(url, pki, bearer_token=TOKEN, headers={"X-Probe": "forewarn"}))
    assert good.ok, good.error
    no_token = _probe(_target(url, pki, headers={"X-Probe": "forewarn"}))
    assert not no_token.ok and no_token.status_code == 401 and no_token.status == "down"
    assert no_token.error is not None and TOKEN not in no_token.error


@pytest.mark.integration
def test_each_tls_option_is_needed(https_server: str, pki: Pki, tmp_path: Path) -> None:
    url = f"{https_server}/healthz"
    system_trust = _probe(_target(url, pki, ca_bundle=None))
    assert not system_trust.ok and system_trust.status_code is None
    assert system_trust.error is not None and "CERTIFICATE_VERIFY_FAILED" in system_trust.error
    no_client_cert = _probe(_target(url, pki, client_cert=None, client_key=None))
    assert not no_client_cert.ok and no_client_cert.status_code is None
    other = make_pki(tmp_path / "other")  # a client certificate from a CA the server does not trust
    stranger = _probe(_target(url, pki, client_cert=other.client_cert, client_key=other.client_key))
    assert not stranger.ok and stranger.status_code is None
