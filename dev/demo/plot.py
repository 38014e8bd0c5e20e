"""One picture of a demo run: the resource gauges, the faults, the predictions and the heals.

Why: "predicted and healed before the breach" is a claim about time; a timeline shows it at a glance
(and the README shows the picture of a real run, drawn from its ``--report-json`` summary).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from forewarn.dev.demo.scoring import DemoReport


def plot_report(report: DemoReport, path: Path) -> Path:
    """Draw the run as a PNG (matplotlib, headless) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = report.started_at_epoch or min((g[0][0] for g in report.gauges.values() if g), default=0.0)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}, constrained_layout=True
    )
    for name, points in sorted(report.gauges.items()):
        values = [v for _, v in points]
        if not values or max(values) - min(values) < 0.02:  # flat gauges only add clutter
            continue
        top.plot([t - t0 for t, _ in points], values, label=name, linewidth=1.6)
    top.axhline(1.0, color="black", linestyle=":", linewidth=1, label="capacity (exhausted at 1.0)")
    for index, fault in enumerate(report.faults):
        at = fault.injected_at_epoch - t0
        row = 0.95 - 0.3 * index  # one band of labels per fault, so labels never overlap
        for axis in (top, bottom):
            axis.axvline(at, color="red", linestyle="--", linewidth=1)
        top.annotate(f" fault: {fault.fault}", (at, row), fontsize=8, color="red")
        if fault.predicted and fault.predicted_after_seconds is not None:
            when = at + fault.predicted_after_seconds
            top.axvline(when, color="purple", linewidth=1)
            ahead = fault.predicted_time_to_exhaustion_seconds
            label = " predicted" + (f" (breach forecast in {ahead:.0f} s)" if ahead is not None else "")
            top.annotate(label, (when, row - 0.08), fontsize=8, color="purple")
        if fault.healed and fault.healed_after_seconds is not None:
            when = at + fault.healed_after_seconds
            top.axvline(when, color="teal", linewidth=1.5)
            top.annotate(f" healed: {fault.healing_action}", (when, row - 0.16), fontsize=8, color="teal")
    top.set_ylabel("usage (ratio of capacity)")
    top.set_ylim(0, 1.1)
    top.legend(loc="center right", fontsize=8)
    top.set_title("forewarn demo: resource gauges from probes, faults, predictions and heals")
    draw_detections(bottom, report.detections, t0)
    bottom.set_xlabel("seconds since the stack was up")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_detections(axis: Any, detections: list[dict[str, Any]], t0: float) -> None:
    """Detections as markers, one row per service, one marker per kind, at their time since ``t0``."""
    services = sorted({str(d.get("service")) for d in detections})
    kinds = sorted({str(d.get("detection_kind")) for d in detections})
    markers = dict(zip(kinds, "o^sDvP*X", strict=False))
    for kind in kinds:
        xs, ys = [], []
        for d in detections:
            if d.get("detection_kind") != kind:
                continue
            xs.append(datetime.fromisoformat(str(d["detected_at"])).timestamp() - t0)
            ys.append(services.index(str(d.get("service"))))
        axis.scatter(xs, ys, label=kind, marker=markers.get(kind, "o"), s=28)
    axis.set_yticks(range(len(services)), services)
    axis.set_ylim(-0.6, max(len(services) - 0.4, 0.6))
    axis.set_ylabel("detections")
    if kinds:
        axis.legend(loc="lower right", fontsize=8, ncols=min(4, len(kinds)), framealpha=0.9)
