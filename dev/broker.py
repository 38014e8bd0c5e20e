"""A real, local Apache Kafka broker (KRaft, one node, loopback only) for the demo and the tests.

Why a real broker and not a mock: forewarn's claims (ordering per key, dead letters, lag, recovery)
are claims about Kafka; only Kafka can check them. Why run the JVM directly from Maven jars instead
of a container or the Kafka tarball: Java and Maven Central are what a fresh machine of this
project has. The broker runs as a child process in its own session with a pid file in its data dir,
so ``forewarn kafka down`` (another process) can stop exactly this broker and nothing else.

Data dir layout::

    server.properties   generated broker config        kafka.log     the broker's log4j2 log
    log4j2.properties   log config                     kafka.out     JVM stdout/stderr
    kafka.pid           pid of the running broker      broker.json   ports of the last start
    kraft/              the formatted log directory (topics, offsets, cluster metadata)
    secure-keystore.pem the server key and certificate of the optional TLS listener

Besides the PLAINTEXT listener every tool and test uses, a :class:`SecureListener` adds one with TLS,
and SASL (SCRAM-SHA-512/256 and PLAIN users) when it names users: what forewarn's clients need to be
tested against with their security settings on.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from forewarn.dev.kafka_jars import ProgressCallback, ensure_kafka_jars
from forewarn.free_ports import free_ports
from forewarn.settings import Settings, cache_dir

__all__ = [
    "BrokerError",
    "BrokerStartError",
    "BrokerStatus",
    "LocalKafka",
    "SecureListener",
    "broker_properties",
    "find_free_port",
    "log4j2_properties",
]

HOST = "127.0.0.1"
NODE_ID = 1
_MAIN_CLASS = "kafka.Kafka"
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """Base class for local-broker failures."""


class BrokerStartError(BrokerError):
    """The broker did not come up; the message names the log file to read."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``forewarn kafka status`` reports."""

    running: bool  # a broker process from this data dir is alive
    answering: bool  # it answered a metadata request
    pid: int | None
    bootstrap: str
    log_path: Path

    @property
    def healthy(self) -> bool:
        return self.running and self.answering


_SAFE_CREDENTIAL = re.compile(r"^[A-Za-z0-9._-]+$")
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


@dataclass(frozen=True)
class SecureListener:
    """A second client listener: TLS always, SASL (SASL_SSL) when ``users`` are given.

    ``cert_file``/``key_file``: the server's PEM certificate (chain) and its unencrypted key.
    ``ca_file``: a CA to check client certificates with; they are then requested (mutual TLS when a
    client sends one, still optional). ``users`` (name -> password) are created at format time for
    SCRAM-SHA-512 and SCRAM-SHA-256 (so only in a fresh data dir) and declared for PLAIN.
    """

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None
    users: Mapping[str, str] = field(default_factory=dict)
    port: int = 0  # 0 = a free port

    def __post_init__(self) -> None:
        for name, password in self.users.items():
            # They go into a JAAS line and a StorageTool argument, both with their own quoting.
            if not (_SAFE_CREDENTIAL.match(name) and _SAFE_CREDENTIAL.match(password)):
                raise ValueError(f"SASL user {name!r}: names and passwords may use only A-Z a-z 0-9 . _ -")

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.users else "SSL"

    def properties(self, port: int, keystore: Path) -> dict[str, str]:
        """The listener's broker config (on top of :func:`broker_properties`'s)."""
        prefix = "listener.name.secure."
        lines = {
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.location": str(keystore),
        }
        if self.ca_file is not None:
            lines[f"{prefix}ssl.truststore.type"] = "PEM"
            lines[f"{prefix}ssl.truststore.location"] = str(self.ca_file)
            lines[f"{prefix}ssl.client.auth"] = "requested"
        if self.users:
            lines[f"{prefix}sasl.enabled.mechanisms"] = ",".join([*SCRAM_MECHANISMS, "PLAIN"])
            for mechanism in SCRAM_MECHANISMS:
                lines[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
            plain_users = " ".join(f'user_{name}="{password}"' for name, password in self.users.items())
            lines[f"{prefix}plain.sasl.jaas.config"] = (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            )
        return lines

    def format_arguments(self) -> list[str]:
        """``StorageTool format`` arguments that create the SCRAM users."""
        return [
            f"--add-scram={mechanism}=[name={name},password={password}]"
            for name, password in self.users.items()
            for mechanism in SCRAM_MECHANISMS
        ]


def find_free_port() -> int:
    """A port free a moment ago, outside the kernel's ephemeral range (see ``forewarn.free_ports``)."""
    return free_ports(1, HOST)[0]


def broker_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    num_partitions: int = 3,
    auto_create_topics: bool = True,
    secure: SecureListener | None = None,
    secure_port: int | None = None,
    keystore: Path | None = None,
) -> str:
    """Config for a combined broker+controller tuned for a fast start and a small footprint.

    A static voter (``controller.quorum.voters``) rather than a dynamic quorum: the data dir can be
    restarted on other ports, since no endpoint is frozen into the metadata log.
    """
    if port == controller_port:
        raise ValueError(f"broker and controller ports must differ (both {port})")
    for name, value in (("port", port), ("controller_port", controller_port)):
        if not 1 <= value <= 65535:
            raise ValueError(f"{name} must be in 1..65535, got {value}")
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    listeners = f"PLAINTEXT://{HOST}:{port}"
    protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if secure is not None:
        if secure_port is None or keystore is None or secure_port in (port, controller_port):
            raise ValueError(f"a secure listener needs its own port and a keystore (port {secure_port})")
        listeners += f",SECURE://{HOST}:{secure_port}"
        protocols += f",SECURE:{secure.protocol}"
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"{listeners},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": listeners,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": protocols,
        "log.dirs": str(log_dir),
        "num.partitions": str(num_partitions),
        "auto.create.topics.enable": "true" if auto_create_topics else "false",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if secure is not None and secure_port is not None and keystore is not None:
        lines.update(secure.properties(secure_port, keystore))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def log4j2_properties(log_file: Path) -> str:
    """Everything to one file in the data dir; request logging kept quiet."""
    return (
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {log_file}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
        "logger.request.name = kafka.request.logger\n"
        "logger.request.level = WARN\n"
        "logger.state.name = state.change.logger\n"
        "logger.state.level = WARN\n"
    )


def _pid_alive(pid: int) -> bool:
    """True for a live, non-zombie process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Field 3 is the state; the command name in field 2 may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the broker if the process that owns it dies (no orphan brokers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalKafka:
    """One KRaft broker+controller bound to 127.0.0.1, owned through its data dir.

    ``start()`` downloads the jars if needed, formats the data dir on first use, launches the JVM
    and returns once the broker answers a metadata request. ``stop()`` sends SIGTERM to the pid in
    the pid file (never anything found by name), waits, then SIGKILLs. Use ``port=0`` /
    ``controller_port=0`` for free ports. As a context manager it starts and stops the broker.

    ``die_with_parent=True`` (tests, the demo) makes the kernel SIGTERM the broker if this process
    dies (Linux ``PR_SET_PDEATHSIG``; it fires when the *thread* that called ``start()`` ends, so
    call it from a long-lived thread); the CLI's ``kafka up`` uses False so the broker outlives it.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 9092,
        controller_port: int = 9093,
        version: str = "4.1.0",
        heap: str = "512m",
        start_timeout: float = 90.0,
        java: str = "java",
        jars_root: Path | None = None,
        die_with_parent: bool = False,
        jvm_options: Sequence[str] = (),
        fast_start: bool = True,
        class_data_sharing: bool = True,
        on_progress: ProgressCallback | None = None,
        readiness_check: Callable[[str, float], None] | None = None,
        secure: SecureListener | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.version = version
        self.heap = heap
        self.start_timeout = start_timeout
        self.java = java
        self.jars_root = jars_root
        self.die_with_parent = die_with_parent
        self.jvm_options = tuple(jvm_options)
        self.fast_start = fast_start
        self.class_data_sharing = class_data_sharing
        self.on_progress = on_progress
        self._readiness_check = readiness_check
        self.secure = secure
        self._auto_secure_port = secure is not None and secure.port == 0
        self.secure_port = secure.port if secure is not None else None
        # Ports asked as 0 are picked now and re-picked if another process takes them before the
        # JVM binds (other test sessions pick free ports on this machine at the same time).
        self._auto_port = port == 0
        self._auto_controller_port = controller_port == 0
        self.port = port
        self.controller_port = controller_port
        self._pick_free_ports()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this run's part of kafka.log starts

    def _pick_free_ports(self) -> None:
        """Fresh ports for the listeners asked for as 0: distinct, and apart from the ones given."""
        asked = {
            "port": self._auto_port,
            "controller_port": self._auto_controller_port,
            "secure_port": self._auto_secure_port,
        }
        auto = [name for name, zero in asked.items() if zero]
        given = {getattr(self, name) for name, zero in asked.items() if not zero}
        picked = [p for p in free_ports(len(auto) + len(given), HOST) if p not in given]
        for name, port in zip(auto, picked, strict=False):
            setattr(self, name, port)

    def _busy_port(self) -> str | None:
        ports = [("broker", self.port), ("controller", self.controller_port)]
        if self.secure_port is not None:
            ports.append(("secure listener", self.secure_port))
        for name, port in ports:
            if _port_open(port, timeout=0.2):
                return (
                    f"{name} port {HOST}:{port} is already in use by another process; "
                    "choose another port (or 0 for a free one)"
                )
        return None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> LocalKafka:
        """Ports, version and data dir from ``settings.kafka``; keyword overrides win."""
        kafka = settings.kafka
        first = kafka.bootstrap_servers.split(",")[0].strip()
        host, _, port_text = first.rpartition(":")
        if host not in {HOST, "localhost"}:
            raise BrokerError(
                f"the local broker binds {HOST} only; FOREWARN_KAFKA__BOOTSTRAP_SERVERS={first} is remote"
            )
        options: dict[str, object] = {
            "port": int(port_text),
            "controller_port": kafka.controller_port,
            "version": kafka.version,
            "start_timeout": kafka.start_timeout_seconds,
        }
        options.update(overrides)
        data_dir = options.pop("data_dir", None) or kafka.data_dir or cache_dir() / "kafka-data"
        return cls(Path(str(data_dir)), **options)  # type: ignore[arg-type]

    # -- paths ---------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """The TLS (or TLS + SASL) listener's address; only with a :class:`SecureListener`."""
        if self.secure_port is None:
            raise BrokerError("this broker has no secure listener")
        return f"{HOST}:{self.secure_port}"

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "secure-keystore.pem"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def stdout_path(self) -> Path:
        return self.data_dir / "kafka.out"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def kraft_dir(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "broker.json"

    # -- lifecycle -----------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of this data dir's broker if it is alive and really is our broker."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        cmdline = _cmdline(pid)
        # Guard against pid reuse: the process must be a Kafka main class using our config.
        if _MAIN_CLASS not in cmdline or str(self.properties_path) not in cmdline:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def adopt_recorded_ports(self) -> bool:
        """Use the ports of the last start in this data dir (for ``status``/``down`` without flags)."""
        try:
            state = json.loads(self.state_path.read_text())
            self.port, self.controller_port = int(state["port"]), int(state["controller_port"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True

    def start(self) -> None:
        """Start (or adopt an already running broker of this data dir) and wait until it answers."""
        running = self.pid()
        if running is not None:
            self.adopt_recorded_ports()
            self._wait_ready(running)
            return
        if shutil.which(self.java) is None:
            raise BrokerStartError(
                f"Java ({self.java!r}) is not on PATH; Kafka {self.version} needs Java 17+ "
                "(Debian: apt-get install openjdk-17-jre-headless)"
            )
        libs = ensure_kafka_jars(self.version, root=self.jars_root, on_progress=self.on_progress)
        attempts = 3
        for attempt in range(1, attempts + 1):
            auto = self._auto_port or self._auto_controller_port or self._auto_secure_port
            retry = auto and attempt < attempts
            busy = self._busy_port()
            if busy is None:
                try:
                    self._launch(libs)
                    return
                except BrokerStartError as exc:
                    if not (retry and "Address already in use" in str(exc)):
                        raise
            elif not retry:
                raise BrokerStartError(busy)
            self._pick_free_ports()

    def _launch(self, libs: Path) -> None:
        """Write the config, format on first use, spawn the JVM and wait until it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        if self.secure is not None:
            # Kafka's PEM keystore is one file: the private key, then the certificate chain.
            key, cert = self.secure.key_file.read_text(), self.secure.cert_file.read_text()
            self.keystore_path.write_text(key.rstrip("\n") + "\n" + cert)
            self.keystore_path.chmod(0o600)
        self.properties_path.write_text(
            broker_properties(
                port=self.port,
                controller_port=self.controller_port,
                log_dir=self.kraft_dir,
                secure=self.secure,
                secure_port=self.secure_port,
                keystore=self.keystore_path,
            )
        )
        if self.secure is not None:
            self.properties_path.chmod(0o600)  # PLAIN users' passwords are in it
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(log4j2_properties(self.log_path))
        classpath = f"{libs}/*"
        if not (self.kraft_dir / "meta.properties").is_file():
            self._format(libs, log4j)
        cds_options, cds_pending = self._cds_options(libs)
        command = [
            self.java,
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            # C1 only: a local broker's start time matters more than its peak throughput (~2x faster).
            *(["-XX:TieredStopAtLevel=1"] if self.fast_start else []),
            *cds_options,
            *self.jvm_options,
            "-cp",
            classpath,
            _MAIN_CLASS,
            str(self.properties_path),
        ]
        with self.stdout_path.open("ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in a terminal goes to us, not straight to the JVM
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        self.state_path.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "controller_port": self.controller_port,
                    "secure_port": self.secure_port,
                    "version": self.version,
                    "cds_pending": str(cds_pending) if cds_pending else None,
                }
            )
        )
        try:
            self._wait_ready(self._proc.pid)
        except BaseException:
            self.stop()
            raise

    def _format(self, libs: Path, log4j: Path) -> None:
        """``StorageTool format`` with a fresh cluster id; only ever on an empty data dir."""
        cluster_id = _random_cluster_id()
        archive = self._cds_archive(libs) if self.class_data_sharing else None
        shared = [f"-XX:SharedArchiveFile={archive}"] if archive is not None and archive.is_file() else []
        result = subprocess.run(
            [
                self.java,
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                *shared,  # the broker's class archive also speeds up this short-lived JVM
                f"-Dlog4j2.configurationFile={log4j}",
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(self.properties_path),
                *(self.secure.format_arguments() if self.secure is not None else []),
            ],
            capture_output=True,
            text=True,
            timeout=self.start_timeout,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting {self.kraft_dir} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}".rstrip()
            )

    def _wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        check = self._readiness_check or _metadata_check
        last_error = "the broker port never opened"
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise BrokerStartError(
                    f"the Kafka broker (pid {pid}) exited during start-up; see {self.log_path} "
                    f"and {self.stdout_path}\n{self._log_tail()}"
                )
            if _port_open(self.port):
                try:
                    check(self.bootstrap, min(5.0, max(0.5, deadline - time.monotonic())))
                    return
                except Exception as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise BrokerStartError(
            f"the Kafka broker at {self.bootstrap} did not answer within {self.start_timeout:.0f}s "
            f"({last_error}); see {self.log_path}\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 12) -> str:
        """This run's JVM output, then its broker-log errors and exception headers (no frames)."""
        texts = []
        with contextlib.suppress(OSError):
            out = self.stdout_path.read_text(errors="replace").splitlines()[-lines:]
            if out:
                texts.append(f"--- {self.stdout_path.name} ---\n" + "\n".join(out))
        with contextlib.suppress(OSError):
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                log = handle.read().decode(errors="replace").splitlines()
            errors = list(dict.fromkeys(line for line in log if _is_error_line(line)))
            if errors or log:
                texts.append(f"--- {self.log_path.name} ---\n" + "\n".join((errors or log)[-lines:]))
        return "\n".join(texts)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop this data dir's broker; True if one was running. SIGKILL after ``timeout``."""
        pid = self._proc.pid if self._proc is not None and self._proc.poll() is None else self.pid()
        stopped = graceful = False
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            graceful = self._wait_exit(pid, timeout)
            if not graceful:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, 10.0)
            stopped = True
            self._finish_cds_archive(graceful)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)  # reap our child so no zombie stays behind
            self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()
        return stopped

    # -- class-data sharing: the JVM maps Kafka's parsed classes from an archive (~30% faster start)
    def _cds_archive(self, libs: Path) -> Path | None:
        """One archive per (download of the jars, java binary); None when java cannot be found.

        The JVM silently ignores an archive built from other jars or another JVM build, so the key
        changes whenever either does, instead of keeping a useless archive forever.
        """
        executable = shutil.which(self.java)
        if executable is None:
            return None
        real = Path(executable).resolve()
        marker = libs.parent / ".complete"
        downloaded = marker.stat().st_mtime_ns if marker.exists() else 0
        key = hashlib.sha256(f"{real}:{real.stat().st_mtime_ns}:{downloaded}".encode()).hexdigest()[:12]
        return libs.parent / f"cds-{key}.jsa"

    def _cds_options(self, libs: Path) -> tuple[list[str], Path | None]:
        """Use the archive if it exists; otherwise ask this run to write one when it exits."""
        archive = self._cds_archive(libs) if self.class_data_sharing else None
        if archive is None:
            return [], None
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"], None
        for stale in archive.parent.glob("cds-*.partial"):  # left by brokers killed while dumping
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink()
        pending = archive.with_name(f"{archive.stem}.{uuid.uuid4().hex[:8]}.partial")
        # The dump lists every class it skips as a warning; that is noise in kafka.out.
        return [f"-XX:ArchiveClassesAtExit={pending}", "-Xlog:cds=off"], pending

    def _finish_cds_archive(self, graceful: bool) -> None:
        """After a clean exit the JVM has written the archive: publish it atomically for next time."""
        try:
            pending_text = json.loads(self.state_path.read_text()).get("cds_pending")
        except (OSError, ValueError, AttributeError):
            return
        if not pending_text:
            return
        pending = Path(pending_text)
        final = pending.with_name(pending.name.split(".", 1)[0] + ".jsa")
        with contextlib.suppress(OSError):
            if graceful and pending.is_file() and pending.stat().st_size > 0 and not final.exists():
                os.replace(pending, final)
            else:
                pending.unlink(missing_ok=True)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.1)
            if not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return not _pid_alive(pid)

    def status(self, timeout: float = 5.0) -> BrokerStatus:
        pid = self.pid()
        answering = False
        if pid is not None and _port_open(self.port):
            try:
                (self._readiness_check or _metadata_check)(self.bootstrap, timeout)
                answering = True
            except Exception:
                answering = False
        return BrokerStatus(
            running=pid is not None,
            answering=answering,
            pid=pid,
            bootstrap=self.bootstrap,
            log_path=self.log_path,
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka(data_dir={str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"


_EXCEPTION_HEADER = re.compile(r"^(Caused by: )?[\w.$]+(Exception|Error)\b")


def _is_error_line(line: str) -> bool:
    """Log lines worth showing when start fails: ERROR/FATAL records and exception headers."""
    return " ERROR " in line or " FATAL " in line or bool(_EXCEPTION_HEADER.match(line))


def _random_cluster_id() -> str:
    """Same format as ``kafka-storage random-uuid``: URL-safe base64 of 16 bytes, no padding, and
    (like Kafka's ``Uuid.randomUuid``) never starting with "-", which a command line reads as a flag."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _metadata_check(bootstrap: str, timeout: float) -> None:
    """Raise unless the broker lists itself in a metadata response (i.e. it is unfenced)."""
    from forewarn.kafka.io import wait_until_ready

    wait_until_ready(bootstrap, timeout)
