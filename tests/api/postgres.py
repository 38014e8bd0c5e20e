"""A real PostgreSQL server for tests: Debian's package, installed on first use, on a free port.

Why a throwaway cluster per session: the store must behave the same on PostgreSQL as on SQLite
(upsert conflicts, last-writer-wins, tuple IN), and only a real server proves it. The cluster lives
in a temp dir, listens on 127.0.0.1 on a free port with trust auth, runs as the ``postgres`` system
user when we are root (PostgreSQL refuses to run as root), and is stopped by its own pid.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def ensure_installed(timeout: float = 600.0) -> Path:
    """The directory holding initdb/postgres, installing Debian's ``postgresql`` when missing."""
    found = _bin_dir()
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        raise PostgresUnavailable("PostgreSQL is not installed and apt-get as root is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open("/tmp/forewarn-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _bin_dir() is None:
            for command in (
                ["apt-get", "update"],
                ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
            ):
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=timeout, check=False
                )
                if done.returncode != 0:
                    raise PostgresUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    found = _bin_dir()
    if found is None:
        raise PostgresUnavailable("apt installed postgresql but initdb is missing")
    return found


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        # Not under pytest's tmp dir: that is private to root (0700) and the server runs as postgres.
        self.workdir = Path(tempfile.mkdtemp(prefix="forewarn-postgres-"))
        self.data = self.workdir / "data"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://forewarn@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, user="postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "forewarn",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        log = open(self.workdir / "postgres.log", "ab")  # noqa: SIM115  (kept open for the child's life)
        self._process = subprocess.Popen(
            _as_postgres(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.workdir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                ready = subprocess.run(
                    [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                )
                if ready.returncode == 0:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"postgres did not start: {(self.workdir / 'postgres.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            return
        if self._process.poll() is None:
            self._process.terminate()  # runuser forwards SIGTERM: a "smart" shutdown
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
