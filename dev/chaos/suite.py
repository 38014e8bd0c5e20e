"""``forewarn chaos`` end to end: run the scenarios, build the scorecard, draw the plots, print the table.

Why a composition module: the command stays a thin CLI wrapper, and the test drives the very same
path (runner -> scorecard -> JSON -> plots) on a short subset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from forewarn.dev.chaos import scorecard
from forewarn.dev.chaos.catalogue import COMPRESSION, select
from forewarn.dev.chaos.plot import plot_scenario
from forewarn.dev.chaos.runner import ChaosRunner, Session
from forewarn.settings import Settings


def run_suite(
    settings: Settings,
    names: list[str] | None,
    *,
    seeds: int = 1,
    json_path: Path | None = None,
    plots: Path | None = None,
    workdir: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run, score, write the JSON and plots; returns the scorecard."""
    console = console or Console()
    scenarios = select(names)
    console.print(f"[bold]chaos[/bold]: {len(scenarios)} scenario(s) x {seeds} seed(s) x healing auto/off")
    console.print(f"[dim]{COMPRESSION}[/dim]")
    runner = ChaosRunner(settings, scenarios, seeds=seeds, workdir=workdir, console=console)
    sessions = runner.run()
    cost = {name: service.cost_per_minute for name, service in settings.slo.services.items()}
    card = scorecard.build(sessions, cost)
    card["workdir"] = str(runner.workdir)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
        json_path.with_suffix(".md").write_text(markdown(card))
        console.print(f"scorecard written to {json_path} (tables: {json_path.with_suffix('.md')})")
    if plots is not None:
        for path in draw(sessions, plots):
            console.print(f"plot: {path}")
    console.print(table(card))
    console.print(f"component logs: {runner.workdir}")
    return card


def draw(sessions: list[Session], folder: Path) -> list[Path]:
    paths = []
    for session in sessions:
        runs: dict[str, dict[str, Any]] = {}
        for run in session.runs:
            runs.setdefault(run.scenario.name, {})[run.mode] = run
        for name, pair in runs.items():
            if {"auto", "off"} <= set(pair):
                suffix = f"-seed{session.seed}" if len(sessions) > 1 else ""
                paths.append(plot_scenario(pair["auto"], pair["off"], folder / f"{name}{suffix}.png"))
    return paths


COLUMNS = (
    ("scenario", "name"),
    ("detect s", "detection_delay_seconds"),
    ("lead s", "lead_time_seconds"),
    ("prevented", "prevented"),
    ("auto-resolved", "auto_resolved"),
    ("MTTR s", "mttr_seconds"),
    ("false alarms", "false_alarms"),
    ("down s (off)", "downtime"),
    ("cause right", "report_cause_correct"),
    ("actions ok/run", "healing"),
    ("wrong actions", "wrong_actions"),
)


def rows(card: dict[str, Any]) -> list[list[str]]:
    """The scorecard as table rows (the README's table and the console's)."""
    out = []
    for line in card["scenarios"]:
        cells = []
        for _, key in COLUMNS:
            if key == "downtime":
                cells.append(
                    f"{line['downtime_seconds']:.0f} ({line['downtime_without_healing_seconds']:.0f})"
                )
            elif key == "healing":
                cells.append(f"{line['healing_succeeded']}/{line['healing_attempts']}")
            else:
                cells.append(_cell(line[key]))
        out.append(cells)
    return out


def targets(card: dict[str, Any]) -> list[list[str]]:
    return [
        [name, _cell(t["measured"]), _cell(t["target"]), "met" if t["met"] else "missed", t["basis"]]
        for name, t in card["summary"]["targets"].items()
    ]


def markdown(card: dict[str, Any]) -> str:
    """The scorecard and the targets as Markdown tables (what bench/README.md shows)."""
    head = [h for h, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(card)]
    lines += ["", "| target | measured | goal | | basis |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in targets(card)]
    lines += [
        "",
        "| baseline | detected | median detect s | p95 detect s | warned before breach | false alarms |",
    ]
    lines += ["|---|---|---|---|---|---|"]
    for name, block in card["baselines"].items():
        lines.append(
            f"| {name} | {block['detected']}/{block['fault_scenarios']} | "
            f"{_cell(block['detection_delay_median_seconds'])} | "
            f"{_cell(block['detection_delay_p95_seconds'])} | "
            f"{block['warned_before_breach']} | {block['false_alarms']} |"
        )
    return "\n".join(lines) + "\n"


def table(card: dict[str, Any]) -> Table:
    view = Table(title="chaos scorecard (healing on; in brackets: healing off)")
    for header, _ in COLUMNS:
        view.add_column(header)
    for cells in rows(card):
        view.add_row(*cells)
    for cells in targets(card):
        view.add_row(cells[0], cells[1], f"target {cells[2]}", cells[3], *[""] * (len(COLUMNS) - 4))
    return view


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)
