"""``forewarn demo``: the end-to-end demo (see ``forewarn.dev.demo.run``, which composes the stack,
the scoring and the screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        duration: Annotated[
            float | None,
            typer.Option("--duration", help="How long to run, in seconds (default: demo.duration_seconds)."),
        ] = None,
        report_json: Annotated[
            Path | None,
            typer.Option("--report-json", help="Write a machine-readable summary of the run to this file."),
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option("--plot", help="Draw the run (gauges, faults, predictions, heals) to this PNG."),
        ] = None,
        workdir: Annotated[
            Path | None,
            typer.Option(
                "--workdir", help="Folder for broker data and component logs (default: a temp dir)."
            ),
        ] = None,
    ) -> None:
        """Run everything locally and watch forewarn catch an injected fault.

        Starts a real Kafka broker, the MusoBuddy demo app, the dataflow, the probe runner and the log
        shipper; injects faults; shows probes, detections and detection delay live; then stops everything.
        Exits 0 when every injected fault was detected, 1 otherwise.
        """
        from rich.console import Console

        from forewarn.dev.demo.run import Demo
        from forewarn.dev.demo.scoring import write_report
        from forewarn.dev.demo.screen import print_summary
        from forewarn.settings import load_settings

        settings = load_settings()
        console = Console()
        run = Demo(
            settings,
            duration_seconds=duration or settings.demo.duration_seconds,
            workdir=workdir,
            console=console,
        )
        report = run.run()
        print_summary(console, report)
        console.print(f"component logs: {run.workdir}")
        if report_json is not None:
            write_report(report, report_json)
            console.print(f"summary written to {report_json}")
        if plot is not None:
            from forewarn.dev.demo.plot import plot_report

            console.print(f"plot written to {plot_report(report, plot)}")
        raise typer.Exit(0 if report.ok() else 1)
