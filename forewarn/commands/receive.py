"""``forewarn receive``: take Prometheus remote_write, OTLP/HTTP metrics and Alertmanager webhooks."""

from __future__ import annotations

from typing import Annotated

import typer

from forewarn.commands._options import BootstrapServers

HELP = (
    "Receive pushes from the standard tools and publish them to Kafka: Prometheus remote_write "
    "(POST /api/v1/write) and OTLP/HTTP metrics (POST /v1/metrics) to the metrics topic, "
    "Alertmanager webhooks (POST /alertmanager/webhook) to the detections topic, where the "
    "responder opens incidents for firing alerts and closes them when they resolve.\n\n"
    "Senders present a key from receiver.keys (FOREWARN_RECEIVER__KEYS) as 'Authorization: Bearer "
    "KEY'. While Kafka is away events wait in a bounded buffer (oldest dropped first). "
    "Stop with Ctrl-C or SIGTERM: buffered events are flushed first. "
    "Example: forewarn receive --host 0.0.0.0 --port 9201"
)


def register(app: typer.Typer) -> None:
    @app.command("receive", help=HELP)
    def receive(
        host: Annotated[
            str | None, typer.Option("--host", help="Address to listen on (default: receiver.host).")
        ] = None,
        port: Annotated[
            int | None,
            typer.Option("--port", min=0, max=65535, help="Port (default: receiver.port, 9201; 0 = free)."),
        ] = None,
        bootstrap_servers: BootstrapServers = None,
    ) -> None:
        """Serve the receivers until Ctrl-C or SIGTERM."""
        import signal
        import socket

        import uvicorn

        from forewarn.collect.receiver import create_receiver
        from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory, quiet_kafka_client
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings

        settings = load_settings()
        config = settings.receiver.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        )
        settings.receiver = config
        if bootstrap_servers is not None:
            settings.kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
        setup_logging(settings.log_level)
        quiet_kafka_client(settings.log_level)
        if not (config.keys or config.allow_anonymous):
            typer.echo(
                "warning: no receiver.keys configured: every push will get 401. "
                "Set FOREWARN_RECEIVER__KEYS='[\"...\"]' (or receiver.allow_anonymous on a lab machine)",
                err=True,
            )
        publisher = KafkaPublisher(
            kafka_producer_factory(
                settings.kafka.bootstrap_servers, f"{settings.kafka.client_id}-receiver", timeout_seconds=5.0
            ),
            buffer_size=config.buffer_size,
            name=f"Kafka at {settings.kafka.bootstrap_servers}",
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as exc:
            typer.echo(f"error: cannot listen on {config.host}:{config.port}: {exc}", err=True)
            raise typer.Exit(2) from exc
        url = f"http://{config.host}:{sock.getsockname()[1]}"
        server = uvicorn.Server(
            uvicorn.Config(
                create_receiver(settings, publisher), log_level="warning", access_log=False, lifespan="off"
            )
        )
        typer.echo(
            f"forewarn receiver on {url}: remote_write {url}/api/v1/write, OTLP {url}/v1/metrics, "
            f"Alertmanager {url}/alertmanager/webhook; publishing to {settings.kafka.bootstrap_servers}",
        )
        # uvicorn stops on SIGINT/SIGTERM, then raises the signal again for the handler it found: a
        # quiet one here, so the buffered events are flushed below instead of the process dying.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        try:
            server.run(sockets=[sock])
        finally:
            publisher.close(10.0)
            sock.close()
            typer.echo("forewarn receiver stopped")
