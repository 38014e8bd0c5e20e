"""What the crash and fault tests share: a counting admin server, the real responder process, the report.

Why a rig of our own instead of the demo app: these tests count. The admin server records every call
(verb, Idempotency-Key) and can hold a call open or answer "down" on health, so a test can kill the
responder at an exact point (while a call is on the wire, or while validation is probing) and then
count what reached the service after the restart. The responder is the real ``forewarn respond``
process, configured only through its environment, as in production.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from forewarn.dev.processes import ManagedProcess
from forewarn.settings import Settings

__all__ = ["AdminServer", "responder_env", "start_responder", "wait_for", "write_config"]


@dataclass
class AdminCall:
    verb: str
    key: str
    body: dict[str, Any]
    at: float


@dataclass
class AdminServer:
    """A real HTTP admin API: ``POST /api/admin/<verb>`` and ``GET /api/health/<service>``.

    ``hold_verbs``: calls to these verbs are recorded, then held until ``release`` (or the client
    goes away). ``hold_health``: health probes are held the same way. ``health`` maps a service
    to the status its health endpoint answers (default ``ok``).
    """

    delay_seconds: float = 0.0
    port: int = 0  # a fixed port: a test can point forewarn at it before the server is up
    hold_verbs: set[str] = field(default_factory=set)
    hold_health: bool = False
    health: dict[str, str] = field(default_factory=dict)
    calls: list[AdminCall] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.released = threading.Event()
        self._lock = threading.Lock()
        rig = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                verb = self.path.rsplit("/", 1)[-1]
                with rig._lock:
                    rig.calls.append(
                        AdminCall(verb, self.headers.get("Idempotency-Key", ""), body, time.time())
                    )
                if verb in rig.hold_verbs:
                    rig.released.wait(60)
                time.sleep(rig.delay_seconds)
                undo = {"action": "put-back", "body": {"of": verb}} if verb != "put-back" else None
                rig._reply(self, 200, {"ok": True, "changed": True, "message": f"{verb} done", "undo": undo})

            def do_GET(self) -> None:
                service = self.path.rsplit("/", 1)[-1]
                with rig._lock:
                    rig.probes.append(service)
                if rig.hold_health:
                    rig.released.wait(60)
                status = rig.health.get(service, "ok")
                rig._reply(self, 200 if status == "ok" else 503, {"status": status})

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the caller was killed while we held the call
            pass

    def release(self) -> None:
        self.hold_verbs = set()
        self.hold_health = False
        self.released.set()

    def calls_of(self, verb: str) -> list[AdminCall]:
        with self._lock:
            return [c for c in self.calls if c.verb == verb]

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def write_config(
    path: Path, hook_url: str, *, step: dict[str, Any] | None = None, escalate_to_hook: bool = False
) -> Path:
    """A healing config: ``heal-me`` detections run ``step`` (default: clear a cache), validated by
    health; ``tell-me`` ones match no policy and are routed to the webhook ``hook``. No cool-down or
    rate limits: a second incident for the same problem would really heal twice, so tests see it."""
    policy: dict[str, Any] = {
        "name": "heal-policy",
        "trigger": {"issue_class": "crash_heal"},
        "actions": [step or {"action": "clear-cache"}],
        "validation": {"probes": 1, "within_seconds": 2, "interval_seconds": 0.2, "timeout_seconds": 2},
    }
    if escalate_to_hook:
        policy["escalation"] = [{"after_seconds": 0, "notify": ["hook"]}]
    config = {
        "version": 1,
        "mode": "auto",
        "guards": {"max_trigger_age_seconds": 3600},
        "signatures": [
            {"issue_class": "crash_heal", "reason": "heal-me"},
            {"issue_class": "crash_notify", "reason": "tell-me"},
        ],
        "notifications": {
            "channels": {"hook": {"type": "webhook", "url": hook_url, "timeout_seconds": 2}},
            "routes": [{"channels": ["hook"]}],
        },
        "policies": [policy],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def responder_env(settings: Settings, workdir: Path, config: Path, admin_url: str) -> dict[str, str]:
    """The environment of a ``forewarn respond`` for the test's topics, healing state and admin API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_") or k == "FOREWARN_CACHE_DIR"}
    env.update(
        {
            "FOREWARN_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "FOREWARN_RESPONDER__CONSUMER_GROUP": f"{settings.kafka.consumer_group}-responder",
            "FOREWARN_RESPONDER__TICK_SECONDS": "0.5",
            "FOREWARN_HEALING__MODE": "auto",
            "FOREWARN_HEALING__STATE_DIR": str(workdir / "healing"),
            "FOREWARN_HEALING__CONFIG": str(config),
            "FOREWARN_HEALING__ADMIN_BASE_URL": admin_url,
            "FOREWARN_HEALING__ADMIN_KEY_ID": "test",
            "FOREWARN_HEALING__ADMIN_SECRET": "test-secret-0123456789",
            "FOREWARN_STORE__URL": f"sqlite:///{workdir / 'store.db'}",
            "FOREWARN_LOG_LEVEL": "INFO",
        }
    )
    for name in type(settings.topics).model_fields:
        env[f"FOREWARN_TOPICS__{name.upper()}"] = getattr(settings.topics, name)
    return env


def start_responder(env: dict[str, str], log_path: Path) -> ManagedProcess:
    process = ManagedProcess(
        "responder", [sys.executable, "-m", "forewarn", "respond", "--from-beginning"], log_path, env=env
    )
    process.start()
    return process


def kill_9(process: ManagedProcess) -> None:
    """SIGKILL the process (no handler runs, nothing is flushed or committed) and reap it."""
    assert process.popen is not None
    os.kill(process.popen.pid, signal.SIGKILL)
    process.popen.wait(timeout=10)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, log: ManagedProcess | None = None
) -> float:
    """Poll ``condition`` until true; returns the seconds it took (fails with the log tail if it never is)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            tail = log.tail(40) if log is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
        time.sleep(0.1)
    return time.monotonic() - start
