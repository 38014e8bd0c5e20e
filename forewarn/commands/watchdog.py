"""``forewarn watchdog``: forewarn watching itself; alerts by webhook or SMTP, not through Kafka."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("watchdog")
    def watchdog() -> None:
        """Check forewarn's own health: component heartbeats (their /metrics), consumer lag and the age
        of the newest event. Alerts once when a check fails and once when it recovers, straight to
        FOREWARN_WATCHDOG__WEBHOOK_URL and/or by SMTP (watchdog.email_*), never through Kafka or the
        responder. Configure with the `watchdog:` settings. Ctrl-C stops it.
        """
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings
        from forewarn.watchdog.service import serve

        settings = load_settings()
        setup_logging(settings.log_level)
        serve(settings)
