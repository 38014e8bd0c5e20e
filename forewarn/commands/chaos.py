"""``forewarn chaos``: the chaos scorecard (see ``forewarn.dev.chaos``: catalogue, runner, scorecard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("chaos")
    def chaos(
        scenario: Annotated[
            list[str] | None,
            typer.Option("--scenario", help="Run only this scenario (repeatable). Default: all of them."),
        ] = None,
        seeds: Annotated[int, typer.Option("--seeds", min=1, max=20, help="Repeat with seeds 0..N-1.")] = 1,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the scorecard (JSON) to this file.")
        ] = None,
        plots: Annotated[
            Path | None, typer.Option("--plots", help="Draw one timeline PNG per scenario into this folder.")
        ] = None,
        workdir: Annotated[
            Path | None, typer.Option("--workdir", help="Broker data and logs (default: a temp dir).")
        ] = None,
    ) -> None:
        """Inject every seed fault on the real stack, with healing on and off, and score forewarn.

        Starts a real Kafka broker, the MusoBuddy demo app, the dataflow, probes, log shipper and a
        real Prometheus; each scenario runs once with healing in auto mode and once with it off.
        The scorecard compares detection, prevention, resolution, false alarms and downtime with the
        targets and with baselines (static threshold, predict_linear, detect-only). Time is compressed
        (the output says how). Exits 0 when every run completed, 1 if a run failed.
        """
        from forewarn.dev.chaos.catalogue import BY_NAME
        from forewarn.dev.chaos.suite import run_suite
        from forewarn.settings import load_settings

        unknown = sorted(set(scenario or []) - set(BY_NAME))
        if unknown:
            typer.echo(
                f"chaos: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}", err=True
            )
            raise typer.Exit(2)
        card = run_suite(
            load_settings(), scenario, seeds=seeds, json_path=json_path, plots=plots, workdir=workdir
        )
        failed = [s["name"] for s in card["scenarios"] if s["errors"]]
        raise typer.Exit(1 if failed else 0)
