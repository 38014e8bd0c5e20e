"""``forewarn api``: serve the REST API (and keep the state store filled from Kafka)."""

from __future__ import annotations

from typing import Annotated

import typer

from forewarn.commands._options import StoreUrl

HELP = (
    "Serve the REST API: forecasts, detections, incidents (with reports), healing actions, services "
    "(health, dependency graph, SLOs) and forewarn's own health, plus Prometheus /metrics. OpenAPI "
    "docs at /docs.\n\n"
    "By default it also runs the store sink: it reads the probes, detections, forecasts, incidents "
    "and actions topics and upserts them into the state store (SQLite in the cache dir, or "
    "store.url, e.g. postgresql+psycopg://...). Re-deliveries never duplicate rows.\n\n"
    "API keys come from settings: FOREWARN_API__READ_KEYS='[\"k1\"]', "
    "FOREWARN_API__ADMIN_KEYS='[\"k2\"]'.\n\n"
    "Example: forewarn api --port 8000"
)


def register(app: typer.Typer) -> None:
    @app.command("api", help=HELP)
    def api(
        host: Annotated[str | None, typer.Option("--host", help="Bind address (default: api.host).")] = None,
        port: Annotated[
            int | None,
            typer.Option("--port", min=0, max=65535, help="Port (default: api.port, 8000; 0 = free)."),
        ] = None,
        sink: Annotated[
            bool, typer.Option("--sink/--no-sink", help="Also consume Kafka into the store.")
        ] = True,
        store_url: StoreUrl = None,
        healing: Annotated[
            bool,
            typer.Option(
                "--healing/--no-healing",
                help="Accept healing control: approve/deny and manual triggers are queued in the state "
                "store for `forewarn respond` (the one process that runs the healing executor), "
                "which applies them on its next tick; the kill switch (a file in settings.healing's "
                "state dir) is set at once.",
            ),
        ] = False,
    ) -> None:
        """Serve until Ctrl-C."""
        import signal

        from forewarn.api.server import ApiServer
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings

        settings = load_settings()
        if store_url:
            settings = settings.model_copy(
                update={"store": settings.store.model_copy(update={"url": store_url})}
            )
        setup_logging(settings.log_level)
        from forewarn.store.db import open_store

        store = open_store(settings)
        control = None
        if healing:
            from forewarn.api.healing_adapter import QueuedControl
            from forewarn.healing.config import load_config, strictest
            from forewarn.healing.kill_switch import KillSwitch
            from forewarn.healing.paths import HealingPaths

            paths = HealingPaths.from_settings(settings.healing)
            config = load_config(settings.healing.config)
            mode = strictest(settings.healing.mode, config.mode)
            control = QueuedControl(
                store, KillSwitch(paths.kill_switch_file), mode=mode, known_actions=config.action_names()
            )
        server = ApiServer(settings, store=store, healing=control, sink=sink, host=host, port=port)
        server.start()

        def _terminate(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # SIGTERM (orchestrators, the demo) stops as cleanly as Ctrl-C

        # SIGINT too, explicitly: started with SIGINT ignored (a background job of a non-interactive
        # shell, e.g. a CI step) Python installs no KeyboardInterrupt handler, and the API ignored
        # Ctrl-C / SIGINT for good (seen in tests/pipeline/test_fault_outage.py, issue #15).
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        typer.echo(
            f"forewarn API on {server.url}  (OpenAPI: {server.url}/docs, metrics: {server.url}/metrics)"
        )
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            store.close()
