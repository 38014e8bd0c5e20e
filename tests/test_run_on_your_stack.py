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

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
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
    for name in (
        "forewarn run",
        "forewarn probe",
        "forewarn ship-logs",
        "forewarn receive",
        "forewarn respond",
        "forewarn api",
    ):
        assert name in section
        assert name.split(" ", 1)[1] in PROCFILE.read_text()
    assert (ROOT / "deploy" / "forewarn.env.example").exists()


def test_the_sections_config_files_pass_their_checks(tmp_path: Path) -> None:
    """The YAML a reader copies from the section is valid as written (only the paths are moved here)."""
    from typer.testing import CliRunner

    from forewarn.cli import app

    settings_yaml, healing_yaml = re.findall(r"```yaml\n(.*?)```", _readme_section(), flags=re.S)
    healing = tmp_path / "healing.yaml"
    healing.write_text(healing_yaml)
    config = tmp_path / "forewarn.yaml"
    config.write_text(settings_yaml.replace("/etc/forewarn/healing.yaml", str(healing)))
    runner = CliRunner()
    checked = runner.invoke(app, ["config", "check", str(config)])
    assert checked.exit_code == 0 and checked.output.startswith("ok:"), checked.output
    policies = runner.invoke(app, ["heal", "check-config", str(healing)])
    assert policies.exit_code == 0 and "1 policies" in policies.output, policies.output


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


@contextlib.contextmanager
def _honcho(folder: Path, config: dict[str, Any], env_file: dict[str, str]) -> Iterator[HonchoRun]:
    """Write the README's two files into ``folder``, run ``honcho start`` on the shipped Procfile, and on
    exit stop it with Ctrl-C and check that every process stopped cleanly and none is left behind."""
    import yaml

    (folder / "forewarn.yaml").write_text(yaml.safe_dump(config))
    # Single quotes keep JSON's double quotes (honcho and systemd strip one level of quoting).
    (folder / "forewarn.env").write_text("".join(f"{k}='{v}'\n" for k, v in env_file.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = folder / "honcho.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE), "-e", "forewarn.env", "-d", "."],
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        yield HonchoRun(proc, out)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    log_text = out.read_text()
    # honcho reports each process's exit; every one of the Procfile's must have stopped cleanly.
    for name in _procfile_names():
        assert re.search(rf"system\s+\| {name}\.1 stopped \(rc=0\)", log_text), log_text[-3000:]
    assert not _processes_with(folder / "forewarn.yaml"), "processes left behind"


@dataclass
class HonchoRun:
    proc: subprocess.Popen[str]
    out: Path


def _procfile_names() -> list[str]:
    lines = PROCFILE.read_text().splitlines()
    return [line.split(":", 1)[0] for line in lines if line.strip() and not line.startswith("#")]


def test_procfile_runs_forewarn_against_an_existing_stack(
    stack_dir: tuple[Path, dict[str, str]],
) -> None:
    folder, files = stack_dir
    with _Service() as service:
        config = json.loads(files.pop("config"))
        config["probe"]["targets"] = [{"service": "shop", "url": service.url}]
        api = f"http://127.0.0.1:{files['FOREWARN_API_PORT']}"
        with _honcho(folder, config, files) as run:
            honcho = run.proc
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


HOOK_SECRET = "whsec-stack-test-0123456789"
HEALING = """\
version: 1
mode: auto
signatures:
  - {issue_class: memory_leak, series: "memory"}
policies:
  - name: checkout-errors-runbook
    description: Alertmanager says checkout fails; the runbook service restarts it.
    trigger: {sources: [detection, incident], services: [checkout], min_severity: warning}
    actions:
      - action: webhook
        params: {url: "HOOK/hooks/restart", secret: ops, payload: {target: checkout}}
"""


def test_done_means_prometheus_alertmanager_and_a_signed_webhook_through_the_procfile(
    stack_dir: tuple[Path, dict[str, str]],
) -> None:
    """Issue 13's "Done means", in one run of the README's Procfile against a broker the demo did not start.

    A real Prometheus 2.42 scrapes a leaking ``memory_usage`` and remote-writes it to ``forewarn
    receive``; the dataflow must forecast its exhaustion before it is full. A real Alertmanager 0.25
    posts a firing alert to the receiver's webhook; it must become an incident in the API, and the
    healing policy for it (mode auto) must call a webhook action whose receiver, a real HTTP server with
    its own HMAC code, accepts the signature.
    """
    from forewarn.dev.prometheus_server import PrometheusServer
    from tests.healing.test_http_actions import Server, signed_hook_answer
    from tests.receive.running import metrics_target, real_binaries
    from tests.receive.test_alertmanager_incident import KEY as ALERTMANAGER_KEY
    from tests.receive.test_alertmanager_incident import alertmanager
    from tests.receive.test_prometheus_leak import KEY as PROMETHEUS_KEY
    from tests.receive.test_prometheus_leak import LeakingGauge, prometheus_config

    prometheus_binary, alertmanager_binary = real_binaries(alertmanager=True)
    assert alertmanager_binary is not None
    from prometheus_client import CollectorRegistry

    folder, files = stack_dir
    config = json.loads(files.pop("config"))
    receiver_port = _free_port()
    hooks = Server(signed_hook_answer(HOOK_SECRET))
    registry = CollectorRegistry()
    gauge = LeakingGauge(start=0.30, rate=0.012)  # full ~58 s after it starts
    (folder / "healing.yaml").write_text(HEALING.replace("HOOK", hooks.url))
    config["receiver"] = {"port": receiver_port}
    config["healing"]["mode"] = "auto"
    config["healing"]["config"] = str(folder / "healing.yaml")
    files["FOREWARN_RECEIVER__KEYS"] = json.dumps([PROMETHEUS_KEY, ALERTMANAGER_KEY])
    files["FOREWARN_HEALING__ACTIONS__WEBHOOK_SECRETS"] = json.dumps({"ops": HOOK_SECRET})
    api = f"http://127.0.0.1:{files['FOREWARN_API_PORT']}"
    receiver = f"http://127.0.0.1:{receiver_port}"
    try:
        with _Service() as service, metrics_target(registry) as target:
            config["probe"]["targets"] = [{"service": "shop", "url": service.url}]
            with _honcho(folder, config, files) as run:
                _wait(
                    "the receiver", lambda: httpx.get(f"{receiver}/healthz").status_code == 200, 60, run.proc
                )
                registry.register(gauge)
                gauge.started = time.time()
                prometheus = PrometheusServer(prometheus_binary, folder / "prometheus", [])
                prometheus.workdir.mkdir()
                prometheus.config = prometheus_config(target, receiver)
                prometheus.start()
                try:
                    with alertmanager(
                        alertmanager_binary, folder / "am", f"{receiver}/alertmanager/webhook"
                    ) as am:
                        fired = {
                            "labels": {
                                "alertname": "CheckoutErrors",
                                "service": "checkout",
                                "severity": "critical",
                            },
                            "annotations": {"summary": "checkout fails 0.9 of its requests"},
                        }
                        httpx.post(f"http://{am}/api/v2/alerts", json=[fired], timeout=5).raise_for_status()
                        [incident] = _wait(
                            "an incident on checkout from the alert",
                            lambda: _items(api, "/v1/incidents", "checkout"),
                            60,
                            run.proc,
                        )
                        calls = _wait(
                            "a signed webhook call accepted by its receiver",
                            lambda: [r for r in hooks.requests if r["status"] == 202],
                            30,
                            run.proc,
                        )
                        series = f'leaky/memory_usage{{instance="{target}",job="leaky",pod="leaky-0"}}'
                        warnings = _wait(
                            "an exhaustion forecast of the leak",
                            lambda: [
                                d
                                for d in _items(api, "/v1/detections", "leaky")
                                if d["detection_kind"] == "exhaustion_forecast" and d["series"] == series
                            ],
                            80,
                            run.proc,
                        )
                finally:
                    prometheus.stop()
    finally:
        hooks.close()
    assert incident["severity"] == "critical"
    assert any("checkout fails 0.9" in d["reason"] for d in incident["detections"]), incident
    assert all(r["status"] == 202 for r in hooks.requests), "a call the receiver refused"
    call = calls[0]
    assert call["path"] == "/hooks/restart" and call["headers"]["Idempotency-Key"].startswith(incident["id"])
    assert json.loads(call["body"])["service"] == "checkout"
    warned_at = datetime.fromisoformat(warnings[0]["timestamp"]).timestamp()
    assert warned_at < gauge.full_at(), "warned only after the gauge was full"
    print(
        f"leak warned {gauge.full_at() - warned_at:.0f} s before full; webhook calls: {len(hooks.requests)}"
    )
