"""Run the dataflow as a service: topics, metrics endpoint, Bytewax execution, clean shutdown.

Why processes for scaling: Bytewax worker *threads* share one GIL, and we measured two threads to
be slower than one on this workload; worker *processes* run in parallel. ``workers > 1`` therefore
starts that many child processes, each with one worker and its own ``/metrics`` endpoint: by
default independent shards (``forewarn run --shard I/N``, each over its own partitions, nothing
exchanged), or with ``pipeline.scale_out: cluster`` the members of one Bytewax cluster
(``--process-id I --addresses ...``, every series routed to its member). The parent only supervises
them and stops them in bounded time (see ``supervisor.py``).

Stopping: SIGINT or SIGTERM ends the input (see ``heartbeat.py``): the flow drains what it holds,
its sinks flush, consumers close, and the process exits 0. A second signal forces it out. A member
catches the signal before it even waits for the broker, so an early stop is not lost either.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

from forewarn.free_ports import free_ports
from forewarn.pipeline import supervisor
from forewarn.pipeline.recovery_stores import default_store_root, prune_stale_stores
from forewarn.settings import Settings

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

__all__ = ["RunOptions", "recovery_directory", "run", "run_cluster", "run_process"]


@dataclass(frozen=True)
class RunOptions:
    """What ``forewarn run`` was asked to do, on top of settings."""

    workers: int = 1
    from_beginning: bool | None = None  # None: settings.pipeline.start_from
    recovery_dir: Path | None = None
    metrics_port: int | None = None  # None: settings.metrics.port; 0: a free port
    process_id: int | None = None  # set in a cluster member started by run_cluster
    addresses: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None  # (index, count): an independent process over its partitions

    @property
    def member(self) -> str:
        """How this process is named in its log lines: empty when it runs the whole flow alone."""
        if self.process_id is not None:
            return f" (process {self.process_id})"
        if self.shard is not None:
            return f" (shard {self.shard[0]}/{self.shard[1]})"
        return ""


class _GracefulStop:
    """SIGINT/SIGTERM set ``event`` (the flow's input ends and it drains); a second one forces."""

    def __init__(self, announce: Callable[[str], None]) -> None:
        self.event = threading.Event()
        self._announce = announce

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt(f"signal {signum} again")
        self._announce(f"stopping on {signal.Signals(signum).name} (again to force)")
        self.event.set()


def _interrupted(error: BaseException) -> bool:
    """True when a Bytewax error was caused by a KeyboardInterrupt raised inside a step."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _given_store(settings: Settings, options: RunOptions) -> Path | None:
    """The recovery store asked for (``--recovery-dir``, else ``pipeline.recovery_dir``), if any."""
    return options.recovery_dir or settings.pipeline.recovery_dir


def recovery_directory(
    settings: Settings, options: RunOptions, members: int, cluster_id: str | None = None
) -> Path | None:
    """The recovery store's directory: given, or by default one in the cache named for this flow.

    Why the default key holds the Kafka cluster's id, the input topics and the member count: the
    snapshots hold input offsets, which mean nothing on another cluster (the demo formats a new
    broker each run) or other topics, and Bytewax fixes a store's partitions at creation. A member
    started by hand (``--process-id``, maybe on another host) gets no default: the members of a
    cluster must agree on where their store is, so it must be given. A shard's store is its own
    (its key names the shard), so shards started by hand get one too. ``cluster_id``: the id the
    caller's own wait for the broker returned; None waits for the broker here to learn it.
    """
    given = _given_store(settings, options)
    if given is not None or not settings.pipeline.recovery or options.process_id is not None:
        return given
    if cluster_id is None:
        from forewarn.kafka.io import wait_until_ready

        cluster_id = wait_until_ready(settings.kafka, timeout=settings.kafka.start_timeout_seconds)
    scale = str(members) if options.shard is None else f"shard {options.shard[0]}/{options.shard[1]}"
    key = "\n".join([cluster_id, *sorted(settings.topics.inputs()), scale])
    return default_store_root() / hashlib.sha256(key.encode()).hexdigest()[:16]


def prune_default_stores(
    settings: Settings, options: RunOptions, directory: Path | None, announce: Callable[[str], None]
) -> None:
    """With a default store, remove the stale ones beside it (``recovery_stores.py``) and say so."""
    if directory is None or _given_store(settings, options) is not None:
        return
    days = settings.pipeline.recovery_max_age_days
    removed = prune_stale_stores(default_store_root(), directory, days * 86400.0, time.time())
    if removed:
        names = ", ".join(store.name for store in removed)
        announce(f"removed {len(removed)} recovery store(s) no run wrote for {days:g} days: {names}")


def _recovery(settings: Settings, directory: Path | None, partitions: int) -> object | None:
    if directory is None:
        return None
    from bytewax.recovery import RecoveryConfig, init_db_dir

    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.glob("part-*.sqlite3")):
        init_db_dir(directory, partitions)  # type: ignore[no-untyped-call]
        log.info("initialised recovery store %s with %d partition(s)", directory, partitions)
    backup = timedelta(seconds=settings.pipeline.backup_interval_seconds)
    return RecoveryConfig(str(directory), backup)  # type: ignore[no-untyped-call]


def tune_gc(threshold: int) -> None:
    """Collect cycles every ``threshold`` allocations (setting ``pipeline.gc_threshold``; 0: Python's).

    ``gc.freeze`` first moves what start-up built (modules, settings, the flow) out of the collector's
    sight: it lives as long as the process, so no pass needs to scan it again.
    """
    if threshold <= 0:
        return
    gc.freeze()
    gc.set_threshold(threshold)


def epoch_interval(settings: Settings, recovery: object | None) -> timedelta:
    """With recovery, the snapshot interval (Bytewax snapshots at each epoch's end), else the epoch."""
    pipeline = settings.pipeline
    seconds = pipeline.snapshot_interval_seconds if recovery is not None else pipeline.epoch_interval_seconds
    return timedelta(seconds=seconds)


def run_process(settings: Settings, options: RunOptions, announce: Callable[[str], None] = print) -> int:
    """Run one dataflow process (the whole flow, or one member of a cluster). Blocks until stopped."""
    # Catch the stop first: a signal during start-up then ends the input at its first poll (a cluster
    # member still joins its peers, so they are not left waiting for it) instead of being lost.
    stopper = _GracefulStop(announce)
    previous = {sig: signal.signal(sig, stopper) for sig in _STOP_SIGNALS}
    # A member starts with the stop signals blocked (see _member_preexec): one sent while it was still
    # importing is pending, and is delivered to the handler above now instead of killing it half-way.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        return _run_flow(settings, options, announce, stopper)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_flow(
    settings: Settings, options: RunOptions, announce: Callable[[str], None], stopper: _GracefulStop
) -> int:
    from bytewax.run import cli_main
    from prometheus_client import CollectorRegistry

    from forewarn.kafka.io import ensure_topics, wait_until_ready
    from forewarn.pipeline.dataflow import build_flow, kafka_source
    from forewarn.pipeline.metrics import PipelineMetrics, serve_metrics
    from forewarn.pipeline.source_health import SourceHealth

    member = options.member
    bootstrap = settings.kafka.bootstrap_servers
    try:
        cluster_id = wait_until_ready(settings.kafka, timeout=settings.kafka.start_timeout_seconds)
        ensure_topics(settings.kafka, settings.topics.all())
    except KeyboardInterrupt:
        announce(f"dataflow forced to stop before it started{member}")
        return 0

    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    source = kafka_source(
        settings, from_beginning=options.from_beginning, health=SourceHealth(metrics), shard=options.shard
    )
    if options.shard is not None and not source.list_parts():  # before anything needs shutting down
        announce(
            f"error: shard {options.shard[0]}/{options.shard[1]} has no partition to read: the input "
            "topics have fewer partitions than shards (run fewer --workers, or add partitions)"
        )
        return 2
    port = settings.metrics.port if options.metrics_port is None else options.metrics_port
    server, bound = serve_metrics(registry, settings.metrics.bind_address, port)
    announce(f"metrics: http://{settings.metrics.bind_address}:{bound}/metrics{member}")
    flow = build_flow(settings, source, metrics=metrics, stop=stopper.event)
    directory = recovery_directory(settings, options, max(1, len(options.addresses)), cluster_id)
    prune_default_stores(settings, options, directory, announce)
    recovery = _recovery(settings, directory, max(1, len(options.addresses)))
    if directory is not None and options.process_id is None:
        announce(f"recovery store: {directory} (state and offsets survive a restart)")
    elif directory is None:
        announce(f"recovery off: a restart starts over{member}")
    if settings.kafka.security_protocol != "PLAINTEXT":
        bootstrap += f" ({settings.kafka.security_protocol})"
    announce(f"dataflow running on {bootstrap}: {', '.join(settings.topics.inputs())}{member}")
    tune_gc(settings.pipeline.gc_threshold)
    try:
        cli_main(  # type: ignore[no-untyped-call]
            flow,
            workers_per_process=1,
            process_id=options.process_id,
            addresses=list(options.addresses) or None,
            epoch_interval=epoch_interval(settings, recovery),
            recovery_config=recovery,
        )
    except KeyboardInterrupt:
        announce(f"dataflow forced to stop{member}")
    except Exception as error:
        if not _interrupted(error):
            raise
        announce(f"dataflow forced to stop{member}")
    else:
        announce(f"dataflow stopped{member}")
    finally:
        server.shutdown()
        server.server_close()
    return 0


def cluster_commands(options: RunOptions, base: Sequence[str], shards: bool = False) -> list[list[str]]:
    """The command line of each member: of a Bytewax cluster, or with ``shards`` of a shard (for tests)."""
    addresses = [] if shards else [f"127.0.0.1:{p}" for p in free_ports(options.workers)]
    commands = []
    for index in range(options.workers):
        if shards:
            cmd = [*base, "--shard", f"{index}/{options.workers}"]
        else:
            cmd = [*base, "--process-id", str(index), "--addresses", ",".join(addresses)]
        if options.metrics_port is not None:
            cmd += ["--metrics-port", str(options.metrics_port + index if options.metrics_port else 0)]
        if options.from_beginning is not None:
            cmd.append("--from-beginning" if options.from_beginning else "--from-latest")
        if options.recovery_dir is not None:
            store = options.recovery_dir
            if shards:  # a store per shard
                store = store / f"shard-{index}-of-{options.workers}"
            cmd += ["--recovery-dir", str(store)]
        commands.append(cmd)
    return commands


def run_cluster(settings: Settings, options: RunOptions, announce: Callable[[str], None] = print) -> int:
    """Start ``options.workers`` member processes and supervise them until they end or we are stopped.

    Returns 0 after a clean stop; see :func:`forewarn.pipeline.supervisor.exit_code` otherwise.
    With ``pipeline.scale_out: shards`` the members are independent shards, each with its own
    recovery store (under the given directory, or its own default).
    """
    shards = settings.pipeline.scale_out == "shards"
    if not shards:
        # Initialise the recovery store once here: members starting together would race to create it.
        directory = recovery_directory(settings, options, options.workers)
        prune_default_stores(settings, options, directory, announce)
        _recovery(settings, directory, options.workers)
        if directory is not None:
            announce(f"recovery store: {directory} (state and offsets survive a restart)")
            options = dataclasses.replace(options, recovery_dir=directory)  # every member uses this one
    base = [sys.executable, "-m", "forewarn", "run"]
    request = supervisor.StopRequest()
    # Handlers first: a stop during the start is kept, and (caught signals being reset at exec) the
    # members start with default SIGINT/SIGTERM even when ours were ignored. Own session: a terminal
    # Ctrl-C reaches only this supervisor, which stops the members; the kernel stops a member whose
    # supervisor dies (no orphaned dataflow processes).
    with request.installed():
        members = [
            supervisor.Member(index, _start_member(cmd, settings))
            for index, cmd in enumerate(cluster_commands(options, base, shards))
        ]
        pids = ", ".join(str(m.popen.pid) for m in members)
        kind = "shards" if shards else "cluster members"
        announce(f"started {len(members)} dataflow processes ({kind}): pids {pids}")
        try:
            supervisor.supervise(members, request)
            announce(supervisor.stop_reason(members, request))
        finally:
            supervisor.stop_members(members, request, settings.pipeline.stop_grace_seconds, announce)
    code = supervisor.exit_code(members)
    announce(f"all dataflow processes stopped; exit code {code}")
    return code


def run(settings: Settings, options: RunOptions, announce: Callable[[str], None] = print) -> int:
    if options.workers > 1 and options.process_id is None:
        return run_cluster(settings, options, announce)
    return run_process(settings, options, announce)


def _start_member(cmd: list[str], settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=python_env(settings), start_new_session=True, preexec_fn=_member_preexec)


def _member_preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Die with the supervisor, and start with SIGINT/SIGTERM blocked (the mask survives exec).

    Why blocked: a stop forwarded while a member is still importing (seconds on a cold machine) used
    to hit Python's default handler there. That member died (KeyboardInterrupt), and its peer, which
    had its handler already and so kept running, waited in Bytewax's cluster start-up for the dead
    member forever: the stop hung until SIGKILL. Blocked, the signal stays pending until
    :func:`run_process` has its handler and unblocks it; every member then stops the same way.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def python_env(settings: Settings) -> dict[str, str]:
    """Members' environment: the same broker as ours (it may come from --bootstrap-servers),
    unbuffered output so their lines interleave in order."""
    return {
        **os.environ,
        "FOREWARN_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "PYTHONUNBUFFERED": "1",
    }
