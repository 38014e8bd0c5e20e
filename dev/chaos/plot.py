"""One timeline per chaos scenario: the signal with and without healing, forecasts, detections, actions.

Why: "warned before the breach and healed before it" is a claim about time; the picture shows the
healing-off signal crossing the threshold while the healing-on one does not, the forecast fan
(point and interval) the dataflow published on the way, and when each detection and action came.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from forewarn.dev.chaos.measure import Run, breach_after, signal_series
from forewarn.dev.demo.plot import draw_detections

FORECASTS_DRAWN = 6  # a fan of a few forecasts reads better than every one of them


def plot_scenario(on: Run, off: Run, path: Path) -> Path:
    """Draw the scenario's timeline as a PNG (matplotlib, headless) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]}, constrained_layout=True
    )
    signal = on.scenario.faults[0].signal if on.scenario.faults else "probe:overall"
    for run, style, label in ((off, "--", "healing off"), (on, "-", "healing on")):
        points = signal_series(run, signal)
        top.plot(
            [t for t, _ in points], [v for _, v in points], style, linewidth=1.5, label=f"{signal} ({label})"
        )
    _forecasts(top, on, signal)
    top.axhline(1.0, color="black", linestyle=":", linewidth=1, label="threshold (1.0 = exhausted / down)")
    top.axvline(0.0, color="red", linestyle="--", linewidth=1, label="fault injected")
    breach = breach_after(off)
    if breach is not None:
        top.axvline(
            breach, color="black", linewidth=1, alpha=0.6, label=f"breach without healing ({breach:.0f} s)"
        )
    for action in _actions(on):
        when = action["seen_at"] - on.injected_at
        for axis in (top, bottom):
            axis.axvline(when, color="teal", linewidth=1.5)
        top.annotate(f" {action['action']}: {action['status']}", (when, 1.03), fontsize=8, color="teal")
    top.set_ylim(-0.05, 1.12)
    top.set_xlim(-2, max(on.seconds, off.seconds) + 2)
    top.set_ylabel("capacity used / health (0 ok, .5 degraded, 1 down)", fontsize=9)
    top.legend(loc="center right", fontsize=7)
    top.set_title(f"chaos: {on.scenario.name} (seed {on.seed}): {on.scenario.description}", fontsize=10)
    draw_detections(bottom, on.report.detections, on.injected_at)
    bottom.set_xlabel("seconds since the fault was injected (healing-on run)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _forecasts(axis: Any, run: Run, signal: str) -> None:
    """Each drawn forecast as a line from now to its point at the horizon, inside its interval."""
    mine = [f for f in run.forecasts if f.get("series") == signal]
    step = max(1, len(mine) // FORECASTS_DRAWN)
    for index, forecast in enumerate(mine[::step]):
        start = datetime.fromisoformat(str(forecast["timestamp"])).timestamp() - run.injected_at
        end = start + float(forecast["horizon_seconds"])
        now = float(forecast["current_value"])
        axis.fill_between(
            [start, end],
            [now, float(forecast["lower"])],
            [now, float(forecast["upper"])],
            color="purple",
            alpha=0.08,
            label="forecast interval" if index == 0 else None,
        )
        axis.plot(
            [start, end],
            [now, float(forecast["point"])],
            color="purple",
            linewidth=0.8,
            label="forecast" if index == 0 else None,
        )


def _actions(run: Run) -> list[dict[str, Any]]:
    """Healing actions that ran (first record of each), with the time the watcher saw them."""
    seen: dict[str, dict[str, Any]] = {}
    for action in run.actions:
        if action.get("action") != "decision" and action["id"] not in seen:
            seen[action["id"]] = action
    return list(seen.values())
