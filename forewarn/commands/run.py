"""``forewarn run``: the streaming dataflow (Kafka in, detections and dead letters out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forewarn.commands._options import BootstrapServers, RunMetricsPort

HELP = (
    "Run the dataflow: read probes, logs and metrics from Kafka, validate them (bad messages go to "
    "the dead-letter topic with the reason), learn each series online, and publish detections to "
    "the detections topic. Serves Prometheus metrics on /metrics.\n\n"
    "Creates missing topics first. The first run starts at the end of the input topics (only new "
    "telemetry) unless --from-beginning is given; recovery is on by default (a store in the cache, "
    "or --recovery-dir), so a restart resumes detector state and offsets where the last snapshot "
    "left them (one every "
    "pipeline.snapshot_interval_seconds, default 1 s; output is at-least-once; detection and "
    "dead-letter ids are deterministic, so consumers can drop duplicates).\n\n"
    "--workers N starts N processes on this host (threads share Python's GIL and are slower): by "
    "default N independent shards, each over its own partitions (needs every series on one partition, "
    "as forewarn's producers key them); with pipeline.scale_out: cluster, one Bytewax cluster that "
    "routes each series to its member (any keying, slower). Across hosts, start one shard per process "
    "with --shard I/N, or one cluster member per process with --process-id and --addresses. "
    "Stop with Ctrl-C or SIGTERM; with --workers, a process still running after the grace period "
    "(setting pipeline.stop_grace_seconds) gets SIGTERM, then SIGKILL, and the exit code is 124.\n\n"
    "Example: forewarn run --from-beginning --metrics-port 0"
)


def register(app: typer.Typer) -> None:
    @app.command("run", help=HELP)
    def run(
        workers: Annotated[
            int, typer.Option("--workers", "-w", min=1, max=64, help="Dataflow processes to run.")
        ] = 1,
        from_beginning: Annotated[
            bool | None,
            typer.Option(
                "--from-beginning/--from-latest",
                help="Read the input topics from their start, or only new messages "
                "(default: settings pipeline.start_from, 'latest').",
                show_default=False,
            ),
        ] = None,
        metrics_port: RunMetricsPort = None,
        recovery_dir: Annotated[
            Path | None,
            typer.Option(
                "--recovery-dir",
                file_okay=False,
                help="Directory for Bytewax recovery snapshots (created if missing). Keep the same "
                "--workers across restarts. Default: one in the cache, named for the Kafka cluster, "
                "the input topics and --workers.",
            ),
        ] = None,
        recovery: Annotated[
            bool | None,
            typer.Option(
                "--recovery/--no-recovery",
                help="Snapshot state and offsets so a restart resumes (default: on; setting "
                "pipeline.recovery). --no-recovery: a restart starts over from --from-beginning/latest.",
                show_default=False,
            ),
        ] = None,
        bootstrap_servers: BootstrapServers = None,
        process_id: Annotated[
            int | None,
            typer.Option(
                "--process-id",
                min=0,
                help="Across hosts: this process's index in --addresses (0, 1, ...; one process per host "
                "or more). Start one `forewarn run --process-id I --addresses ...` per member.",
            ),
        ] = None,
        addresses: Annotated[
            str | None,
            typer.Option(
                "--addresses",
                help="Across hosts: host:port of every member for the dataflow's own traffic, comma-"
                "separated, the same list in the same order everywhere; this process listens on its "
                "own entry (addresses[process-id]).",
            ),
        ] = None,
        shard: Annotated[
            str | None,
            typer.Option(
                "--shard",
                metavar="I/N",
                help="Run as shard I of N independent processes (0 <= I < N): read only the input "
                "partitions p with p % N == I, with a recovery store of its own. Needs every event of "
                "a series on one partition (messages keyed by service, as forewarn's producers do).",
            ),
        ] = None,
    ) -> None:
        """Run the dataflow until Ctrl-C."""
        import logging

        from forewarn.log_setup import setup_logging
        from forewarn.pipeline.runner import RunOptions
        from forewarn.pipeline.runner import run as run_dataflow
        from forewarn.settings import load_settings

        settings = load_settings()
        if bootstrap_servers:
            kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
            settings = settings.model_copy(update={"kafka": kafka})
        if recovery is not None:
            pipeline = settings.pipeline.model_copy(update={"recovery": recovery})
            settings = settings.model_copy(update={"pipeline": pipeline})
        setup_logging(settings.log_level)
        # kafka-python (used only to wait for the broker and create topics) logs every retry; our own
        # error says what failed. The dataflow itself talks to Kafka through librdkafka.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        members = tuple(a.strip() for a in (addresses or "").split(",") if a.strip())
        if (process_id is None) != (not members):
            typer.echo("error: --process-id and --addresses go together (a member of a cluster)", err=True)
            raise typer.Exit(2)
        if process_id is not None and process_id >= len(members):
            typer.echo(
                f"error: --process-id {process_id} is not an index of the {len(members)} --addresses",
                err=True,
            )
            raise typer.Exit(2)
        if process_id is not None and workers > 1:
            typer.echo(
                "error: --workers starts processes on this host; a cluster member is one process", err=True
            )
            raise typer.Exit(2)
        parsed_shard = _parse_shard(shard) if shard is not None else None
        if parsed_shard is not None and (process_id is not None or workers > 1):
            typer.echo("error: a --shard is one process of its own: no --workers, --process-id", err=True)
            raise typer.Exit(2)
        options = RunOptions(
            workers=workers,
            from_beginning=from_beginning,
            recovery_dir=recovery_dir,
            metrics_port=metrics_port,
            process_id=process_id,
            addresses=members,
            shard=parsed_shard,
        )

        def announce(line: str) -> None:
            typer.echo(f"[forewarn run] {line}", err=True)

        from forewarn.kafka.io import KafkaNotReady, KafkaRefused

        try:
            code = run_dataflow(settings, options, announce)
        except KafkaRefused as error:
            announce(f"error: {error}.")
            raise typer.Exit(2) from None
        except KafkaNotReady as error:
            hint = "start one with `forewarn kafka up` or set FOREWARN_KAFKA__BOOTSTRAP_SERVERS"
            announce(f"error: {error}; {hint}.")
            raise typer.Exit(2) from None
        raise typer.Exit(code)


def _parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N) with 0 <= I < N, or a usage error that says what is wrong."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        parsed = int(index), int(count)
    except ValueError:
        raise typer.BadParameter(f"expected I/N (e.g. 0/2), got {text!r}", param_hint="--shard") from None
    if not 0 <= parsed[0] < parsed[1]:
        raise typer.BadParameter(f"need 0 <= I < N, got {text!r}", param_hint="--shard")
    return parsed
