"""The demo's stack: a real Kafka broker and forewarn's processes around the MusoBuddy demo app.

Why a class of its own: starting things in the right order, each with its own log file, and
stopping all of them whatever happens is the part of the demo that must never leak a process.
Kafka (KRaft, loopback, a temporary data dir) comes first, then the demo app, then the dataflow
(``forewarn run``), the probe runner, the log shipper, the responder (healing in auto mode) and
the API, each a child in one :class:`ProcessGroup`; :meth:`Stack.stop` ends them in reverse order.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from forewarn.admin_signing import generate_key_pair
from forewarn.dev.broker import LocalKafka, find_free_port
from forewarn.dev.processes import ManagedProcess, ProcessGroup
from forewarn.dev.prometheus_config import write_scrape_config
from forewarn.free_ports import free_ports
from forewarn.kafka.io import ensure_topics
from forewarn.settings import Settings

# The demo API's read key: local, throwaway, printed on screen; never use it for a real deployment.
DEMO_API_READ_KEY = "demo-read-key"


class DemoError(RuntimeError):
    """A part of the stack did not come up; the message says which and where its log is."""


class Stack:
    """The demo's processes; ``components`` gets each one's log path (or URL) as it starts."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        console: Console,
        note: Callable[[str], None],
        components: dict[str, str],
    ) -> None:
        self.settings = settings
        self.workdir = workdir
        self.console = console
        self.note = note
        self.components = components
        self.group = ProcessGroup()
        self.kafka: LocalKafka | None = None
        self.api_url: str | None = None
        # A fresh admin key pair per run, so the published demo pair never opens a running demo.
        self.admin_private_key, self.admin_public_key = generate_key_pair()

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'state.db'}"

    def start_kafka(self) -> str:
        """Start the broker and create forewarn's topics; returns the bootstrap address."""
        kafka = LocalKafka(
            self.workdir / "kafka",
            port=0,
            controller_port=0,
            version=self.settings.kafka.version,
            start_timeout=self.settings.kafka.start_timeout_seconds,
            die_with_parent=True,
        )
        with self.console.status("starting Kafka (first run downloads the jars from Maven Central)"):
            try:
                kafka.start()
            except Exception as exc:
                raise DemoError(f"Kafka did not start: {exc}") from exc
            self.kafka = kafka  # from here on stop() stops it, even if creating the topics fails
            ensure_topics(kafka.bootstrap, self.settings.topics.all())
        self.components["kafka"] = str(kafka.log_path)
        self.note(f"Kafka broker up at {kafka.bootstrap}")
        return kafka.bootstrap

    def start_app(self, extra_env: dict[str, str] | None = None) -> str:
        """Start the MusoBuddy demo app and wait for its health endpoint; returns its base URL.

        ``extra_env`` configures the app (``MUSOBUDDY_*``: seed, load cycle) for suites that need it.
        """
        port = find_free_port()
        app_log = self.workdir / "musobuddy-app.jsonl"
        self.components["app_log"] = str(app_log)
        from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID

        # The app gets only this run's public admin key; the responder signs with the private half.
        keys_env = {"MUSOBUDDY_ADMIN__KEYS": json.dumps({DEMO_ADMIN_KEY_ID: self.admin_public_key})}
        process = self._spawn(
            "demo-app",
            ["demo-app", "--host", "127.0.0.1", "--port", str(port), "--log-file", str(app_log)],
            {**_child_env(), **keys_env, **(extra_env or {})},
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with self.console.status(f"starting the MusoBuddy demo app on {base_url}"):
            while time.monotonic() < deadline:
                if not process.alive():
                    raise DemoError(f"the demo app exited; see {process.log_path}:\n{process.tail()}")
                try:
                    if httpx.get(f"{base_url}/api/health/overall", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise DemoError(f"the demo app did not answer within 30 s; see {process.log_path}")
        self.note(f"MusoBuddy demo app up at {base_url}")
        return base_url

    def start_pipeline(self, bootstrap: str, base_url: str, *, responder: bool = True) -> None:
        """The dataflow, probes, log shipper, responder and API, plus a prometheus.yml listing them.

        ``responder=False`` leaves the responder out, for a suite that starts one per run with
        :meth:`start_responder` (its own healing mode, state and consumer group each time).
        """
        env = _child_env(bootstrap, base_url)
        # Known metrics ports (not 0), so the run's prometheus.yml can list every /metrics endpoint.
        ports = dict(zip(("dataflow", "probe", "respond"), free_ports(3, "127.0.0.1"), strict=True))
        self._spawn("dataflow", ["run", "--metrics-port", str(ports["dataflow"]), "--from-beginning"], env)
        interval = str(self.settings.demo.probe_interval_seconds)
        self._spawn("probe", ["probe", "--interval", interval, "--metrics-port", str(ports["probe"])], env)
        app_log = self.components["app_log"]
        self._spawn(
            "ship-logs",
            ["ship-logs", app_log, "--service", "musobuddy", "--service-field", "service", "--from-start"],
            env,
        )
        if responder:
            respond_args = ["respond", "--from-beginning", "--metrics-port", str(ports["respond"])]
            self._spawn("respond", respond_args, self._responder_env(env, base_url))
        self.api_url = f"http://127.0.0.1:{find_free_port()}"
        api_env = {**env, "FOREWARN_API__READ_KEYS": json.dumps([DEMO_API_READ_KEY])}
        port = self.api_url.rsplit(":", 1)[1]
        self._spawn("api", ["api", "--port", port, "--store-url", self.store_url], api_env)
        self.components["api"] = self.api_url
        targets = {name: f"http://127.0.0.1:{number}/metrics" for name, number in ports.items()}
        targets |= {"api": f"{self.api_url}/metrics", "app": f"{base_url}/metrics"}
        config = write_scrape_config(self.workdir / "prometheus.yml", targets)
        self.components["prometheus_config"] = str(config)
        self.note(
            f"dataflow, probes, log shipper, responder (healing: auto) and API ({self.api_url}) started"
        )

    def start_responder(
        self, bootstrap: str, base_url: str, name: str, mode: str, state_dir: Path
    ) -> ManagedProcess:
        """A responder of its own for one run: healing ``mode``, fresh state, reading only new records.

        A new consumer group without ``--from-beginning`` starts at the topics' end, so it never acts
        on an earlier run's detections; a fresh state dir means no earlier cooldown or dedup applies.
        """
        env = self._responder_env(_child_env(bootstrap, base_url), base_url)
        env["FOREWARN_HEALING__MODE"] = mode
        env["FOREWARN_HEALING__STATE_DIR"] = str(state_dir)
        env["FOREWARN_RESPONDER__CONSUMER_GROUP"] = f"forewarn-{name}"
        self.components["audit_log"] = str(state_dir / "audit.jsonl")
        return self._spawn(name, ["respond"], env)

    def stop_process(self, process: ManagedProcess) -> None:
        """Stop one child early (a per-run responder); the others keep running."""
        process.stop()
        self.group.discard(process)

    def inject(self, base_url: str, fault: str, params: dict[str, Any]) -> None:
        """Start ``fault`` through the demo app's fault API."""
        response = httpx.post(f"{base_url}/api/faults/{fault}", json=params, timeout=5)
        if response.status_code >= 400:
            raise DemoError(f"injecting {fault} failed: {response.status_code} {response.text}")

    def check_alive(self) -> None:
        """Raise if any child has exited: a demo with a dead part would only show nonsense."""
        for process in self.group:
            if not process.alive():
                raise DemoError(
                    f"{process.name} exited with code {process.exit_code()}; "
                    f"see {process.log_path}:\n{process.tail()}"
                )

    def stop(self) -> None:
        """Every child in reverse order, then the broker."""
        self.group.stop_all()
        if self.kafka is not None:
            self.kafka.stop()

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
        log = self.workdir / f"{name}.log"
        process = self.group.start(ManagedProcess(name, [sys.executable, "-m", "forewarn", *args], log, env))
        self.components[name] = str(log)
        return process

    def _responder_env(self, env: dict[str, str], base_url: str) -> dict[str, str]:
        """Healing in auto mode against the demo app, signing with this run's private admin key."""
        from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID

        healing = {
            "FOREWARN_HEALING__MODE": "auto",
            "FOREWARN_HEALING__ADMIN_BASE_URL": base_url,
            "FOREWARN_HEALING__ADMIN_KEY_ID": DEMO_ADMIN_KEY_ID,
            "FOREWARN_HEALING__ADMIN_PRIVATE_KEY": self.admin_private_key,
            "FOREWARN_HEALING__STATE_DIR": str(self.workdir / "healing"),
            # The responder reads operator requests (approve, deny, trigger) from the API's store.
            "FOREWARN_STORE__URL": self.store_url,
        }
        self.components["audit_log"] = str(self.workdir / "healing" / "audit.jsonl")
        return {**env, **healing}


def _child_env(bootstrap: str | None = None, base_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if bootstrap:
        env["FOREWARN_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    if base_url:
        env["FOREWARN_PROBE__BASE_URL"] = base_url
    env["PYTHONUNBUFFERED"] = "1"
    return env
