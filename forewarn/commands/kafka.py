"""``forewarn kafka up | down | status``: a local Apache Kafka broker for the demo and development;
``forewarn kafka topics``: forewarn's topics on any cluster, with the configured layout.

Why a command and not a docker-compose file: the only things a fresh machine of this project has
are Java and Maven Central; this runs a real Kafka 4.x broker (KRaft, one node, 127.0.0.1 only)
from Maven jars cached under ~/.cache/forewarn, and remembers it by the pid file in its data dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from forewarn.dev.broker import LocalKafka

kafka_app = typer.Typer(
    name="kafka",
    help=(
        "Run a local Apache Kafka broker (KRaft, single node, 127.0.0.1 only) for forewarn.\n\n"
        "The first 'up' downloads the broker jars from Maven Central with Maven (about 45 MB, once); "
        "later starts take a few seconds. Defaults come from settings: the port from "
        "FOREWARN_KAFKA__BOOTSTRAP_SERVERS (127.0.0.1:9092), the controller port from "
        "FOREWARN_KAFKA__CONTROLLER_PORT (9093), the data dir from FOREWARN_KAFKA__DATA_DIR "
        "(~/.cache/forewarn/kafka-data)."
    ),
    no_args_is_help=True,
)

PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        min=0,
        max=65535,
        help="Broker (client) port on 127.0.0.1; 0 picks a free one. Default: from the bootstrap setting.",
    ),
]
ControllerPortOption = Annotated[
    int | None,
    typer.Option(
        "--controller-port",
        min=0,
        max=65535,
        help="KRaft controller port on 127.0.0.1; 0 picks a free one. Default: settings (9093).",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        file_okay=False,
        help="Where the broker keeps its topics, config, pid file and log. Default: settings.",
    ),
]


def _broker(data_dir: Path | None, port: int | None, controller_port: int | None) -> LocalKafka:
    from forewarn.dev.broker import BrokerError, LocalKafka
    from forewarn.settings import load_settings

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if port is not None:
        overrides["port"] = port
    if controller_port is not None:
        overrides["controller_port"] = controller_port
    try:
        return LocalKafka.from_settings(load_settings(), **overrides)
    except (BrokerError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@kafka_app.command("up")
def up(
    port: PortOption = None,
    controller_port: ControllerPortOption = None,
    data_dir: DataDirOption = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=1.0, help="Seconds to wait for the broker to answer. Default: 90."),
    ] = None,
    create_topics: Annotated[
        bool,
        typer.Option(
            "--create-topics/--no-create-topics",
            help="Create forewarn's topics (FOREWARN_TOPICS__*) with --partitions partitions if missing.",
        ),
    ] = True,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions", min=1, help="Partitions per new topic. Default: kafka.topic_partitions (3)."
        ),
    ] = None,
) -> None:
    """Start the broker in the background (download its jars the first time) and wait until it answers."""
    from rich.console import Console

    from forewarn.dev.broker import BrokerError
    from forewarn.dev.kafka_jars import JarDownloadError
    from forewarn.kafka.io import ensure_topics
    from forewarn.settings import load_settings

    console = Console(stderr=True)
    broker = _broker(data_dir, port, controller_port)
    if timeout is not None:
        broker.start_timeout = timeout
    running = broker.pid()
    if running is not None:
        broker.adopt_recorded_ports()
    downloaded: list[str] = []
    with console.status(f"Starting Kafka {broker.version} in {broker.data_dir} ...") as status:

        def progress(line: str) -> None:
            downloaded.append(line)
            status.update(
                f"Downloading Kafka {broker.version} jars from Maven Central (first run only): "
                f"{len(downloaded)} files, last {line}"
            )

        broker.on_progress = progress
        try:
            broker.start()
            created = (
                ensure_topics(
                    broker.bootstrap,
                    load_settings().topics.all(),
                    partitions or load_settings().kafka.topic_partitions,
                    replication_factor=1,  # one local broker
                )
                if create_topics
                else []
            )
        except (BrokerError, JarDownloadError, ValueError, TimeoutError) as exc:
            console.print(f"[bold red]Kafka did not start:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from exc
    if downloaded:
        console.print(f"Downloaded {len(downloaded)} files from Maven Central (cached for next time).")
    verb = "was already running" if running is not None else "is up"
    typer.echo(f"Kafka {broker.version} {verb} at {broker.bootstrap} (pid {broker.pid()})")
    if created:
        typer.echo(f"created topics: {', '.join(created)}")
    typer.echo(f"log:  {broker.log_path}")
    typer.echo(f"data: {broker.data_dir}")
    if port == 0:
        typer.echo(f"hint: export FOREWARN_KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap}")
    typer.echo("stop: forewarn kafka down" + (f" --data-dir {broker.data_dir}" if data_dir else ""))


@kafka_app.command("status")
def status(
    port: PortOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Exit 0 if the broker of this data dir is running and answering, 1 otherwise."""
    broker = _broker(data_dir, None, None)
    if port is None:
        broker.adopt_recorded_ports()
    else:
        broker.port = port
    state = broker.status()
    if state.healthy:
        typer.echo(f"running: Kafka at {state.bootstrap} (pid {state.pid}) answers; log: {state.log_path}")
        return
    if state.running:
        typer.echo(
            f"not answering: Kafka process {state.pid} runs but {state.bootstrap} does not answer; "
            f"see {state.log_path}"
        )
    else:
        typer.echo(f"stopped: no Kafka broker running from {broker.data_dir}")
    raise typer.Exit(1)


@kafka_app.command("down")
def down(
    data_dir: DataDirOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait before SIGKILL.")
    ] = 30.0,
) -> None:
    """Stop the broker started from this data dir (by its pid file; nothing else is touched)."""
    broker = _broker(data_dir, None, None)
    broker.adopt_recorded_ports()
    pid = broker.pid()
    if broker.stop(timeout=timeout):
        typer.echo(f"stopped: Kafka broker (pid {pid}) from {broker.data_dir}")
    else:
        typer.echo(f"nothing to stop: no Kafka broker running from {broker.data_dir}")


@kafka_app.command("topics")
def topics(
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions", min=1, help="Partitions per new topic. Default: kafka.topic_partitions."
        ),
    ] = None,
    replication_factor: Annotated[
        int | None,
        typer.Option(
            "--replication-factor",
            min=1,
            help="Copies of each partition. Default: kafka.topic_replication_factor.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the cluster.")
    ] = 30.0,
) -> None:
    """Create forewarn's missing topics on your cluster (kafka.bootstrap_servers) and list their layout.

    Existing topics are left as they are; a layout other than the configured one is reported. `forewarn
    run` and `forewarn respond` create missing topics the same way; this lets you do it ahead of time.
    """
    from forewarn.kafka.io import KafkaNotReady, KafkaRefused, ensure_topics, topic_layouts, wait_until_ready
    from forewarn.settings import load_settings

    settings = load_settings()
    kafka = settings.kafka
    names = settings.topics.all()
    want_partitions = partitions or kafka.topic_partitions
    want_replicas = replication_factor or kafka.topic_replication_factor
    try:
        wait_until_ready(kafka, timeout=timeout)
        created = set(
            ensure_topics(kafka, names, want_partitions, replication_factor=want_replicas, timeout=timeout)
        )
        layouts = topic_layouts(kafka, names, timeout=timeout)
    except (KafkaRefused, KafkaNotReady) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    differ = 0
    for layout in layouts:
        state = "created" if layout.name in created else "exists"
        if (layout.partitions, layout.replication_factor) != (want_partitions, want_replicas):
            state += f" (configured: {want_partitions} x {want_replicas})"
            differ += 1
        typer.echo(
            f"{layout.name}\t{layout.partitions} partition(s) x "
            f"{layout.replication_factor} replica(s)\t{state}"
        )
    if differ:
        typer.echo(
            f"{differ} topic(s) differ from the configured layout; "
            "forewarn leaves existing topics as they are"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(kafka_app)
