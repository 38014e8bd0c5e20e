"""``forewarn audit verify|export``: prove the healing audit trail is intact, and report on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def _default_log() -> Path:
    from forewarn.healing.paths import HealingPaths
    from forewarn.settings import load_settings

    return HealingPaths.from_settings(load_settings().healing).audit_log


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-01-01T00:00:00Z)") from exc
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def register(app: typer.Typer) -> None:
    audit = typer.Typer(
        help="The healing audit log: a hash-chained JSON-lines trail of every decision and action.",
        no_args_is_help=True,
    )

    @audit.command("verify")
    def verify(
        path: Annotated[
            Path | None, typer.Argument(help="Audit log (default: the configured healing audit log).")
        ] = None,
    ) -> None:
        """Check the hash chain: exits 1 if any record was edited, removed, inserted or reordered."""
        from forewarn.healing.audit import verify_log

        target = path or _default_log()
        result = verify_log(target)
        if result.ok:
            typer.echo(f"OK {target}: {result.records} records, chain intact, head {result.last_hash[:16]}")
            if result.sealed_with:
                used = ", ".join(f"{kid} ({n})" for kid, n in sorted(result.sealed_with.items()))
                typer.echo(f"  details sealed with storage keys: {used}; keep them listed to read it")
            return
        typer.echo(f"TAMPERED {target}: {len(result.problems)} problem(s)", err=True)
        for problem in result.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1)

    @audit.command("export")
    def export(
        path: Annotated[Path | None, typer.Option("--log", help="Audit log (default: configured).")] = None,
        since: Annotated[
            str | None, typer.Option(help="Start (inclusive), ISO 8601, UTC if no zone.")
        ] = None,
        until: Annotated[str | None, typer.Option(help="End (exclusive), ISO 8601.")] = None,
        fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    ) -> None:
        """Write a compliance report (JSON with the chain verdict, or CSV) for a time range."""
        from forewarn.field_crypto import cipher_from_settings
        from forewarn.healing.audit import export_records
        from forewarn.settings import load_settings

        if fmt not in ("json", "csv"):
            raise typer.BadParameter("--format must be json or csv")
        target = path or _default_log()
        if not target.exists():
            typer.echo(f"no audit log at {target}", err=True)
            raise typer.Exit(2)
        cipher = cipher_from_settings(load_settings().security)
        text = export_records(
            target, _when(since), _when(until), "json" if fmt == "json" else "csv", cipher=cipher
        )
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text)
            typer.echo(f"wrote {output}", err=True)

    app.add_typer(audit, name="audit")
