"""``forewarn ship-logs PATH|-``: tail an application log (or read stdin) into the logs topic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forewarn.commands._options import BootstrapServers, NoKafka, ShipperMetricsPort

HELP = (
    "Turn each log line into a LogRecord and publish it to the logs topic, keyed by --service.\n\n"
    "Understands JSON lines (timestamp/level/message/logger; other fields become attributes) and plain "
    "text with an optional leading ISO 8601 timestamp and level; any other line is shipped as is at "
    "level INFO. A multi-line entry (a traceback, indented continuation lines) becomes one record. "
    "A file is followed like tail -F (rotation and truncation are survived) until Ctrl-C "
    "or SIGTERM; '-' reads standard input to its end. While Kafka is down, records are buffered "
    "(bounded) and drained in order later.\n\n"
    "Example: forewarn ship-logs /var/log/musobuddy.jsonl --service musobuddy"
)


def register(app: typer.Typer) -> None:
    @app.command("ship-logs", help=HELP)
    def ship_logs(
        path: Annotated[str, typer.Argument(help="Log file to follow, or '-' to read standard input.")],
        service: Annotated[
            str,
            typer.Option("--service", help="Service the lines belong to (the Kafka key), e.g. musobuddy."),
        ],
        service_field: Annotated[
            str | None,
            typer.Option(
                "--service-field",
                help="Key a JSON line by this field when it holds a valid service name (else --service).",
            ),
        ] = None,
        from_start: Annotated[
            bool,
            typer.Option(
                "--from-start", help="Ship the lines already in the file too (default: only new ones)."
            ),
        ] = False,
        no_follow: Annotated[
            bool,
            typer.Option("--no-follow", help="Ship what the file holds now and exit (implies --from-start)."),
        ] = False,
        no_multiline: Annotated[
            bool,
            typer.Option(
                "--no-multiline", help="One record per line: do not join tracebacks and indented lines."
            ),
        ] = False,
        poll_interval: Annotated[
            float, typer.Option("--poll-interval", min=0.05, help="Seconds between checks of the file.")
        ] = 0.5,
        no_kafka: NoKafka = False,
        bootstrap_servers: BootstrapServers = None,
        metrics_port: ShipperMetricsPort = None,
    ) -> None:
        """Turn each log line into a LogRecord and publish it to the logs topic, keyed by --service."""
        import signal
        import sys
        import threading
        import time

        from forewarn.collect.follow import FileFollower
        from forewarn.collect.shipper import LogShipper
        from forewarn.kafka.publisher import (
            KafkaPublisher,
            PrintPublisher,
            Publisher,
            kafka_producer_factory,
            quiet_kafka_client,
        )
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings

        settings = load_settings()
        setup_logging(settings.log_level, stream=sys.stderr)
        quiet_kafka_client(settings.log_level)
        bootstrap = bootstrap_servers or settings.kafka.bootstrap_servers
        publisher: Publisher
        if no_kafka:
            publisher = PrintPublisher(sys.stdout)
        else:
            publisher = KafkaPublisher(
                kafka_producer_factory(
                    settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}),
                    f"{settings.kafka.client_id}-logs",
                    timeout_seconds=5.0,
                ),
                buffer_size=settings.probe.buffer_size,
                name=f"Kafka at {bootstrap}",
            )
        server = None
        if metrics_port is not None and isinstance(publisher, KafkaPublisher):
            # The buffer's counts (forewarn_publisher_*{client="logs"}): an outage and any drop are
            # visible to Prometheus, not only in the summary line at exit.
            from prometheus_client import CollectorRegistry, start_http_server

            from forewarn.metrics import PublisherCollector

            registry = CollectorRegistry()
            registry.register(PublisherCollector(publisher.stats, "logs"))
            address = settings.metrics.bind_address
            server, _thread = start_http_server(metrics_port, addr=address, registry=registry)
            typer.echo(f"metrics on http://{address}:{server.server_port}/metrics", err=True)
        try:
            shipper = LogShipper(
                publisher,
                service,
                settings.topics.logs,
                service_field=service_field,
                group_multiline=not no_multiline,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--service") from exc

        stopping = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stopping.set()
            if path == "-":  # a blocked stdin read only ends with an exception
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            if path == "-":
                stdin = (line.decode("utf-8", errors="replace") for line in sys.stdin.buffer)
                shipper.ship_lines(stdin)
            else:
                target = Path(path)
                if target.is_dir():
                    raise typer.BadParameter(f"{path} is a directory", param_hint="PATH")
                with FileFollower(target, from_start=from_start or no_follow) as follower:
                    if no_follow:
                        while batch := follower.read_available():
                            shipper.ship_lines(batch)
                        shipper.ship_lines(follower.take_partial())
                    else:
                        typer.echo(f"following {target} as service {shipper.service!r}", err=True)
                        shipper.follow(
                            follower, sleep=time.sleep, stop=stopping.is_set, poll_interval=poll_interval
                        )
        except KeyboardInterrupt:
            pass
        finally:
            publisher.close(timeout=10.0)
            if server is not None:
                server.shutdown()
                server.server_close()
        counts = shipper.counts
        summary = f"shipped {counts.shipped} records from {counts.lines} lines ({counts.blank} blank)"
        if isinstance(publisher, KafkaPublisher):
            stats = publisher.stats()
            summary += f"; delivered {stats.delivered}, dropped {stats.dropped}"
            if stats.rejected:
                summary += f", rejected by Kafka {stats.rejected}"
            undelivered = stats.buffered + stats.in_flight
            if undelivered:
                typer.echo(f"{summary}; {undelivered} NOT delivered", err=True)
                raise typer.Exit(3)
        typer.echo(summary, err=True)
