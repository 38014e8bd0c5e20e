"""A real Prometheus server (tests, the chaos suite): Debian's package, installed on first use, free port.

Why install from the test: ``./run test`` must pass on a fresh machine of this kind with nothing
installed by hand, and Prometheus is a Debian package, not a pip one. Installing is idempotent (it
only runs when the binary is missing) and serialised with a lock file so parallel runs do not fight
over apt. The server binds 127.0.0.1 on a free port with a temp config and data dir, and is stopped
by its own pid.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


class PrometheusUnavailable(RuntimeError):
    """The binary is missing and could not be installed (not root, no apt, no network)."""


def ensure_installed(
    timeout: float = 600.0, *, binary: str = PROMETHEUS, package: str = "prometheus"
) -> Path:
    """The ``prometheus`` binary (or ``binary`` of Debian's ``package``), installing the package first
    when it is missing."""
    found = shutil.which(binary)
    if found:
        return Path(found)
    if not shutil.which("apt-get") or os.geteuid() != 0:
        raise PrometheusUnavailable(f"{binary} is not installed and apt-get as root is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open("/tmp/forewarn-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which(binary):
            for command in (
                ["apt-get", "update"],
                ["apt-get", "install", "-y", "--no-install-recommends", package],
            ):
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=timeout, check=False
                )
                if done.returncode != 0:
                    raise PrometheusUnavailable(
                        f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                    )
    found = shutil.which(binary)
    if not found:
        raise PrometheusUnavailable(f"apt installed {package} but {binary} is not on PATH")
    return Path(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """``prometheus`` scraping ``targets`` every ``interval`` seconds, with optional rule files."""

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        targets: list[str],
        *,
        job: str = "forewarn",
        interval_seconds: int = 1,
        rule_files: list[Path] | None = None,
        flags: list[str] | None = None,
    ) -> None:
        self.binary = binary
        self.flags = list(flags or [])  # more command-line flags (``--enable-feature=...``)
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        rules = "".join(f"  - {path}\n" for path in rule_files or [])
        self.config = (
            "global:\n"
            f"  scrape_interval: {interval_seconds}s\n"
            f"  evaluation_interval: {interval_seconds}s\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n"
            f"  - job_name: {job}\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 60.0) -> None:
        config = self.workdir / "prometheus.yml"
        config.write_text(self.config)
        (self.workdir / "data").mkdir(exist_ok=True)
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [
                        str(self.binary),
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--storage.tsdb.retention.time=1h",
                        "--log.level=warn",
                        *self.flags,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            self.stop()
        raise RuntimeError(f"prometheus did not become ready; log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of ``/api/v1/query`` (status, data or error), whatever the HTTP status."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10.0)
        body: dict[str, Any] = response.json()
        return body

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> dict[str, Any]:
        """The JSON answer of ``/api/v1/query_range``: ``expr`` at every ``step`` in [start, end]."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        response = httpx.get(f"{self.url}/api/v1/query_range", params=params, timeout=30.0)
        body: dict[str, Any] = response.json()
        return body

    def get(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}{path}", timeout=10.0).json()
        return body
