"""``forewarn report``: the executive report (HTML, PDF and a PNG of page one) plus a compliance export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from forewarn.commands._options import StoreUrl

HELP = (
    "Write the executive report for a period: uptime vs SLO, incidents and their cost, healing "
    "actions and success rate, predicted vs prevented breaches, capacity outlook and LLM spend, "
    "as one self-contained HTML page with matplotlib charts; a PDF and a PNG of page one when "
    "headless Chromium (and pdftoppm) are installed; and a compliance export (JSON and CSV, with "
    "the hash-chain verdict) from the healing audit log.\n\n"
    "Reads the state store that `forewarn api` fills (store.url, SQLite in the cache dir by default).\n\n"
    "Example: forewarn report --since 7d --out reports/weekly"
)

_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _since(text: str, now: datetime) -> datetime:
    """'7d', '24h', '90m', '2w' before now, or an ISO 8601 time."""
    value = text.strip()
    if value and value[-1] in _UNITS and value[:-1].replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(now.timestamp() - float(value[:-1]) * _UNITS[value[-1]], UTC)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use a duration like 7d, 24h, 90m or an ISO 8601 time") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    @app.command("report", help=HELP)
    def report(
        since: Annotated[
            str, typer.Option("--since", help="Start: a duration back from now (7d) or a time.")
        ] = "7d",
        until: Annotated[
            str | None, typer.Option("--until", help="End: ISO 8601 time (default: now).")
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Output directory.")] = Path(
            "forewarn-report"
        ),
        store_url: StoreUrl = None,
        audit_log: Annotated[
            Path | None, typer.Option("--audit-log", help="Healing audit log (default: the configured one).")
        ] = None,
        pdf: Annotated[
            bool, typer.Option("--pdf/--no-pdf", help="Also write report.pdf (needs Chromium).")
        ] = True,
        png: Annotated[bool, typer.Option("--png/--no-png", help="Also render page one to PNG.")] = True,
    ) -> None:
        """Write the report and print where."""
        from forewarn.healing.paths import HealingPaths
        from forewarn.settings import load_settings
        from forewarn.store.db import open_store
        from forewarn.store.report.export import write_report

        settings = load_settings()
        if store_url:
            settings = settings.model_copy(
                update={"store": settings.store.model_copy(update={"url": store_url})}
            )
        now = datetime.now(UTC)
        end = _since(until, now) if until else now
        start = _since(since, end if until else now)
        if start >= end:
            raise typer.BadParameter("--since must be before --until")
        store = open_store(settings)
        try:
            files, data = write_report(
                store,
                settings,
                start,
                end,
                out,
                audit_log=audit_log or HealingPaths.from_settings(settings.healing).audit_log,
                pdf=pdf,
                png=png,
            )
        finally:
            store.close()
        impact = data.impact
        typer.echo(
            f"{start.isoformat()[:16]} to {end.isoformat()[:16]} UTC: {len(data.incidents)} incidents, "
            f"downtime {impact.total_downtime_seconds / 60:.1f} min, "
            f"cost {impact.currency} {impact.total_cost:,.2f}, "
            f"{data.actions_total} actions"
        )
        for label, path in (
            ("HTML", files.html),
            ("PDF", files.pdf),
            ("PNG (page 1)", files.png),
            ("compliance JSON", files.compliance_json),
            ("compliance CSV", files.compliance_csv),
        ):
            if path is not None:
                typer.echo(f"  {label}: {path}")
        for warning in files.warnings:
            typer.echo(f"  note: {warning}", err=True)
