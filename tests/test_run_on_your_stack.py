"""The README's "Run it on your stack" section, followed as a new user would, with no demo involved.

Why: a team with its own service and Kafka must get value without the MusoBuddy app. This test
starts a broker the way any Kafka would be there (not through the demo), a plain service whose
``/healthz`` answers ``200 ok`` in text (no JSON, no forewarn contract), writes the README's YAML
and env file, and runs the shipped ``deploy/Procfile`` under honcho: the dataflow, the prober, the
log shipper, the responder and the API. It then breaks the service and expects the failure to come
out of the API as a detection and an incident that cites the service's error logs; stopping honcho
must stop every process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import KafkaBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PROCFILE = ROOT / "deploy" / "Procfile"
API_KEY = "reader-key-for-the-stack-test"


class _Service:
    """A stand-in for the user's service: ``/healthz`` says ``ok`` until ``broken`` is set."""

    def __init__(self) -> None:
        self.broken = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                failing = outer.broken.is_set()
                body = b"database unreachable\n" if failing else b"ok\n"
                self.send_response(503 if failing else 200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Service:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Run it on your stack\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README has no '## Run it on your stack' section"
    return match.group(1)


def test_readme_section_names_the_shipped_files() -> None:
    """The section must point at the files this test runs, so following it is what is tested here."""
    section = _readme_section()
    assert "honcho start -f deploy/Procfile -e forewarn.env" in section
    for name in ("forewarn run", "forewarn probe", "forewarn ship-logs", "forewarn respond", "forewarn api"):
        assert name in section
        assert name.split(" ", 1)[1] in PROCFILE.read_text()
    assert (ROOT / "deploy" / "forewarn.env.example").exists()


@pytest.fixture
def stack_dir(tmp_path: Path, kafka_broker: KafkaBroker) -> Iterator[tuple[Path, dict[str, str]]]:
    """The files the README asks for: a YAML config and an env file, in a fresh folder."""
    api_port = _free_port()
    log = tmp_path / "app.log"
    log.write_text("")
    config = {
        "kafka": {"bootstrap_servers": kafka_broker.bootstrap, "consumer_group": "stack-dataflow"},
        "topics": {
            field: f"stack.{value}" for field, value in _default_topics().items()
        },  # your own names, as a shared Kafka needs
        "probe": {"interval_seconds": 1, "targets": []},  # filled below
        "metrics": {"port": 0},
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "healing": {"mode": "dry-run", "state_dir": str(tmp_path / "healing")},
        "responder": {"consumer_group": "stack-responder"},
        "api": {"port": api_port},
    }
    env = {
        "FOREWARN_CONFIG": str(tmp_path / "forewarn.yaml"),
        "FOREWARN_APP_LOG": str(log),
        "FOREWARN_APP_SERVICE": "shop",
        "FOREWARN_API_PORT": str(api_port),
        "FOREWARN_API__READ_KEYS": json.dumps([API_KEY]),
    }
    yield tmp_path, {"config": json.dumps(config), **env}


def _default_topics() -> dict[str, str]:
    from forewarn.settings import TopicSettings

    return TopicSettings().model_dump()


def _get(api: str, path: str) -> Any:
    response = httpx.get(f"{api}{path}", headers={"x-api-key": API_KEY}, timeout=5.0)
    response.raise_for_status()
    return response.json()


def _items(api: str, path: str, service: str) -> list[dict[str, Any]]:
    return [item for item in _get(api, path)["items"] if item["service"] == service]


def _processes_with(config: Path) -> list[int]:
    """Pids of live processes started with this config (read from /proc/<pid>/environ)."""
    needle = f"FOREWARN_CONFIG={config}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def _wait(what: str, check: Any, timeout: float, honcho: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        assert honcho.poll() is None, f"honcho exited with {honcho.returncode} while waiting for {what}"
        try:
            last = check()
        except httpx.HTTPError:
            last = None
        if last:
            return last
        time.sleep(1.0)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def test_procfile_runs_forewarn_against_an_existing_stack(
    stack_dir: tuple[Path, dict[str, str]],
) -> None:
    import yaml

    folder, files = stack_dir
    with _Service() as service:
        config = json.loads(files.pop("config"))
        config["probe"]["targets"] = [{"service": "shop", "url": service.url}]
        (folder / "forewarn.yaml").write_text(yaml.safe_dump(config))
        # Single quotes keep JSON's double quotes (honcho and systemd strip one level of quoting).
        (folder / "forewarn.env").write_text("".join(f"{k}='{v}'\n" for k, v in files.items()))

        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        out = folder / "honcho.out"
        with out.open("w") as sink:
            honcho = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "honcho",
                    "start",
                    "-f",
                    str(PROCFILE),
                    "-e",
                    "forewarn.env",
                    "-d",
                    ".",
                ],
                cwd=folder,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        api = f"http://127.0.0.1:{files['FOREWARN_API_PORT']}"
        try:
            # Healthy first: a plain-text 200 is "ok", the probes reach the store through Kafka.
            healthy = _wait(
                "shop healthy in the API",
                lambda: _get(api, "/v1/services/shop")["health"] == "ok",
                120,
                honcho,
            )
            assert healthy
            time.sleep(5)
            assert not _items(api, "/v1/detections", "shop")

            service.broken.set()
            with Path(files["FOREWARN_APP_LOG"]).open("a") as log:
                for _ in range(20):
                    log.write("ERROR checkout failed: database unreachable after 3 retries\n")
                    log.flush()
                    time.sleep(0.2)

            detections = _wait(
                "a detection on shop", lambda: _items(api, "/v1/detections", "shop"), 90, honcho
            )
            assert any(d["detection_kind"] == "failure" for d in detections), detections
            _wait(
                "shop down in the API", lambda: _get(api, "/v1/services/shop")["health"] == "down", 30, honcho
            )
            cited = _wait(
                "an incident on shop citing its error log",
                lambda: [
                    t
                    for i in _items(api, "/v1/incidents", "shop")
                    for t in i["log_templates"]
                    if "checkout failed" in t["template"]
                ],
                90,
                honcho,
            )
            assert cited[0]["count"] >= 1 and cited[0]["levels"].get("ERROR", 0) >= 1, cited
        finally:
            os.killpg(honcho.pid, signal.SIGINT)
            try:
                honcho.wait(timeout=60)
            finally:
                if honcho.poll() is None:
                    os.killpg(honcho.pid, signal.SIGKILL)
                    honcho.wait()
        log_text = out.read_text()
        # honcho reports each process's exit; every one of the five must have stopped cleanly.
        for name in ("dataflow", "probe", "logs", "respond", "api"):
            assert re.search(rf"system\s+\| {name}\.1 stopped \(rc=0\)", log_text), log_text[-3000:]
        assert not _processes_with(folder / "forewarn.yaml"), "processes left behind"
