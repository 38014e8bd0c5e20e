"""``forewarn respond``: incidents, reports and healing actions from detections and forecasts."""

from __future__ import annotations

from typing import Annotated

import typer

from forewarn.commands._options import BootstrapServers, RespondMetricsPort


def register(app: typer.Typer) -> None:
    @app.command("respond")
    def respond(
        from_beginning: Annotated[
            bool,
            typer.Option("--from-beginning", help="Read detections from the topic's start."),
        ] = False,
        bootstrap_servers: BootstrapServers = None,
        metrics_port: RespondMetricsPort = None,
    ) -> None:
        """Group detections into incidents, heal safely, and write each incident's report.

        Reads the detections topic (exhaustion forecasts arrive there as exhaustion_forecast
        detections); publishes incidents (with their report) and
        healing action records. Healing follows the policies and guards of the healing config
        (FOREWARN_HEALING__MODE: off, dry-run (default), shadow, approve, auto); reports come from the
        LLM at FOREWARN_LLM__BASE_URL when set, else from the offline reporter. Ctrl-C stops it.
        """
        from forewarn.incidents.service import serve
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings

        settings = load_settings()
        if bootstrap_servers:
            settings.kafka.bootstrap_servers = bootstrap_servers
        if metrics_port is not None:
            settings.responder.metrics_port = metrics_port
        setup_logging(settings.log_level)
        serve(settings, from_beginning=from_beginning)
