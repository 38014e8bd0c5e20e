"""``forewarn probe``: probe the watched service's health endpoints and publish the results to Kafka."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from forewarn.commands._options import BootstrapServers, NoKafka, ProbeMetricsPort

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from rich.console import Console
    from rich.table import Table

    from forewarn.events import ProbeResult
    from forewarn.kafka.publisher import KafkaPublisher
    from forewarn.metrics import ProbeMetrics
    from forewarn.settings import Settings

EXIT_PROBE_FAILED = 1
EXIT_NOT_DELIVERED = 3

HELP = (
    "Probe every health endpoint on an interval and publish ProbeResults to the probes topic.\n\n"
    "Targets: BASE_URL/api/health/<service> for each configured service (or the explicit "
    "probe.targets in settings). A probe that gets no HTTP answer (timeout, refused) is retried; "
    "the result still records every attempt and the first error, so retries never hide a failure. "
    "While Kafka is down results are buffered (bounded, oldest dropped first, with a warning) and "
    "drained in order when it is back.\n\n"
    "Stop with Ctrl-C or SIGTERM: buffered results are flushed first. "
    "Example: forewarn probe --once --no-kafka --base-url http://127.0.0.1:8080"
)


def register(app: typer.Typer) -> None:
    @app.command("probe", help=HELP)
    def probe(
        interval: Annotated[
            float | None,
            typer.Option(
                "--interval",
                min=1.0,
                max=86400.0,
                help="Seconds between rounds (default: settings, 120). Jittered ±10%.",
            ),
        ] = None,
        once: Annotated[
            bool,
            typer.Option(
                "--once",
                help="Run one round, print a table and exit: 0 all ok, 1 a probe failed, 3 undelivered.",
            ),
        ] = False,
        base_url: Annotated[
            str | None,
            typer.Option(
                "--base-url", help="Service root; probes BASE/api/health/<service> (default: settings)."
            ),
        ] = None,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout", min=0.01, max=300.0, help="Seconds per attempt (default: settings, 5)."
            ),
        ] = None,
        services: Annotated[
            list[str] | None,
            typer.Option(
                "--service", "-s", help="Probe only this service (repeatable; default: all configured)."
            ),
        ] = None,
        no_kafka: NoKafka = False,
        bootstrap_servers: BootstrapServers = None,
        metrics_port: ProbeMetricsPort = None,
    ) -> None:
        """Probe every health endpoint on an interval and publish ProbeResults to the probes topic."""
        import asyncio

        from forewarn.settings import load_settings

        settings = load_settings()
        changes: dict[str, object] = {}
        if interval is not None:
            changes["interval_seconds"] = interval
        if timeout is not None:
            changes["timeout_seconds"] = timeout
        if base_url is not None:
            changes["base_url"] = base_url
            changes["targets"] = []
        if services:
            changes["services"] = services
        if metrics_port is not None:
            changes["metrics_port"] = metrics_port
        if changes:
            settings.probe = settings.probe.model_copy(update=changes)
        if services and settings.probe.targets:
            settings.probe.targets = [t for t in settings.probe.targets if t.service in services]
        if bootstrap_servers is not None:
            settings.kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
        try:
            code = asyncio.run(_main(settings, once=once, publish=not no_kafka))
        except ValueError as exc:  # a bad target in the configuration
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        raise typer.Exit(code)


async def _main(settings: Settings, *, once: bool, publish: bool) -> int:
    import asyncio
    import logging
    import signal

    from rich.console import Console

    from forewarn.collect.probe import ProbeRunner, make_client
    from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory, quiet_kafka_client
    from forewarn.log_setup import setup_logging

    setup_logging(settings.log_level)
    # One line per request from httpx would drown the round summaries; failures are in the results.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    quiet_kafka_client(settings.log_level)
    console = Console(log_path=False)  # round lines are for operators, not a source-code trace
    publisher: KafkaPublisher | None = None
    if publish:
        publisher = KafkaPublisher(
            kafka_producer_factory(
                settings.kafka,
                f"{settings.kafka.client_id}-probe",
                timeout_seconds=5.0,
            ),
            buffer_size=settings.probe.buffer_size,
            name=f"Kafka at {settings.kafka.bootstrap_servers}",
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    client = make_client(settings.probe.timeout_seconds)
    metrics_server = _serve_metrics(
        console, settings.probe.metrics_port, settings.metrics.bind_address, publisher
    )
    runner: ProbeRunner | None = None
    try:
        runner = ProbeRunner(
            settings.probe,
            client,
            publisher,
            settings.topics.probes,
            metrics=metrics_server[1] if metrics_server else None,
        )
        if once:
            results = await runner.run_round()
            await runner.drain()
            console.print(results_table(results))
            return _once_exit_code(console, results, publisher)
        console.print(
            f"probing {len(runner.targets)} endpoints every {settings.probe.interval_seconds:g}s "
            f"(±{settings.probe.jitter_fraction:.0%}); "
            + (f"publishing to {settings.topics.probes}" if publisher else "not publishing (--no-kafka)")
        )
        await runner.run(stop=stop, on_round=lambda results: _print_round(console, results, publisher))
        return 0
    finally:
        if runner is not None:
            await runner.aclose()
        await client.aclose()
        if metrics_server is not None:
            metrics_server[0].shutdown()
            metrics_server[0].server_close()
        if publisher is not None:
            await asyncio.to_thread(publisher.close, 10.0)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _serve_metrics(
    console: Console, port: int | None, address: str = "127.0.0.1", publisher: KafkaPublisher | None = None
) -> tuple[WSGIServer, ProbeMetrics] | None:
    """Serve the probe families on their own registry (None: no server). Port 0 picks a free port.

    Why a dedicated registry: the default one carries process collectors and anything an imported
    library registered; the dashboard only needs the shared ``forewarn_probe_*`` families, and the
    publisher's buffer (``forewarn_publisher_*{client="probe"}``) when publishing.
    """
    if port is None:
        return None
    from prometheus_client import CollectorRegistry, start_http_server

    from forewarn.metrics import PublisherCollector, probe_metrics

    registry = CollectorRegistry()
    metrics = probe_metrics(registry)
    if publisher is not None:
        registry.register(PublisherCollector(publisher.stats, "probe"))
    server, _thread = start_http_server(port, addr=address, registry=registry)
    console.print(f"metrics on http://{address}:{server.server_port}/metrics")
    return server, metrics


def _once_exit_code(console: Console, results: list[ProbeResult], publisher: KafkaPublisher | None) -> int:
    code = 0 if all(r.ok for r in results) else EXIT_PROBE_FAILED
    if publisher is not None:
        publisher.flush(timeout=10.0)
        stats = publisher.stats()
        if stats.buffered or stats.in_flight:
            undelivered = stats.buffered + stats.in_flight
            console.print(f"[red]{undelivered} of {len(results)} results not delivered to Kafka[/red]")
            code = code or EXIT_NOT_DELIVERED
        else:
            console.print(f"published {len(results)} results")
    return code


def results_table(results: list[ProbeResult]) -> Table:
    from rich.table import Table

    table = Table(title="forewarn probe")
    for column in ("service", "ok", "status", "HTTP", "latency ms", "attempts"):
        justify: Literal["left", "right"] = (
            "right" if column in {"HTTP", "latency ms", "attempts"} else "left"
        )
        table.add_column(column, justify=justify, no_wrap=True)
    # Only the free text may wrap, so the numbers stay readable on an 80-column terminal.
    table.add_column("error", overflow="fold")
    for result in results:
        table.add_row(
            result.service,
            "[green]yes[/green]" if result.ok else "[red]no[/red]",
            result.status or "-",
            str(result.status_code) if result.status_code is not None else "-",
            f"{result.latency_ms:.1f}",
            str(result.attempts),
            (result.error or "")[:200],
        )
    return table


def _print_round(console: Console, results: list[ProbeResult], publisher: KafkaPublisher | None) -> None:
    failed = [r for r in results if not r.ok]
    slowest = max((r.latency_ms for r in results), default=0.0)
    line = f"{len(results) - len(failed)}/{len(results)} ok, slowest {slowest:.0f} ms"
    if publisher is not None:
        stats = publisher.stats()
        line += f"; kafka delivered {stats.delivered}, buffered {stats.buffered + stats.in_flight}"
        if stats.dropped:
            line += f", [red]dropped {stats.dropped}[/red]"
        if stats.rejected:
            line += f", [red]rejected {stats.rejected}[/red]"
    console.log(line)
    for result in failed:
        console.log(f"  [red]{result.service}[/red] {result.status or '-'} {result.error or ''}"[:200])
