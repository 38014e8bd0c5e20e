"""The report's charts (matplotlib, headless Agg backend), each returned as PNG bytes.

Why PNG bytes: the HTML embeds them as data URIs so the report is one self-contained file that can
be mailed or archived; the PDF converter then sees the same images. Every chart handles the empty
case with a visible "no data" note instead of an empty axis.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from forewarn.store.report.data import ReportData

__all__ = ["all_charts"]

GOOD = "#2e7d32"
BAD = "#c62828"
WARN = "#ef6c00"
NEUTRAL = "#546e7a"
ACCENT = "#1565c0"


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=NEUTRAL)
    ax.set_xticks([])
    ax.set_yticks([])


def uptime_vs_slo(data: ReportData) -> bytes:
    fig, ax = _figure()
    rows = [s for s in data.impact.services if s.availability is not None]
    if not rows:
        _empty(ax, "no probe results in this period")
        return _png(fig)
    names = [s.service for s in rows]
    values = [100.0 * (s.availability or 0.0) for s in rows]
    colors = [GOOD if (s.availability or 0.0) >= s.target else BAD for s in rows]
    ax.bar(names, values, color=colors)
    for i, s in enumerate(rows):
        ax.hlines(100.0 * s.target, i - 0.4, i + 0.4, colors="black", linestyles="--", linewidth=1)
        ax.text(i, values[i], f"{values[i]:.2f}%", ha="center", va="bottom", fontsize=8)
    low = min([*values, *(100.0 * s.target for s in rows)])
    ax.set_ylim(max(0.0, low - (100.0 - low) * 0.5 - 0.5), 100.05)
    ax.set_ylabel("availability (%)")
    ax.set_title("Uptime vs SLO target (dashed)")
    return _png(fig)


def incidents_and_cost(data: ReportData) -> bytes:
    fig, ax = _figure()
    if not data.impact.incidents:
        _empty(ax, "no incidents in this period")
        return _png(fig)
    ordered = sorted(data.impact.incidents, key=lambda pair: pair[0].opened_at)
    labels = [f"{item.service}\n{item.opened_at.isoformat()[5:16]}" for item, _ in ordered]
    costs = [cost.cost for _, cost in ordered]
    ax.bar(range(len(costs)), costs, color=WARN)
    ax.set_xticks(range(len(costs)), labels, fontsize=7)
    for i, (_, cost) in enumerate(ordered):
        ax.text(i, costs[i], f"{cost.downtime_minutes:.1f} min", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel(f"downtime cost ({data.impact.currency})")
    ax.set_title(f"Incidents and their cost (total {data.impact.currency} {sum(costs):,.2f})")
    return _png(fig)


def actions_and_success(data: ReportData) -> bytes:
    fig, ax = _figure()
    if not data.actions:
        _empty(ax, "no healing actions in this period")
        return _png(fig)
    names = [a.action for a in data.actions]
    ok = [a.succeeded for a in data.actions]
    failed = [a.finished - a.succeeded for a in data.actions]
    other = [a.total - a.finished for a in data.actions]
    ax.barh(names, ok, color=GOOD, label="succeeded")
    ax.barh(names, failed, left=ok, color=BAD, label="failed / rolled back")
    ax.barh(names, other, left=[o + f for o, f in zip(ok, failed, strict=True)], color=NEUTRAL, label="other")
    rate = data.action_success_rate
    ax.set_title("Healing actions" + (f" (success rate {rate:.0%})" if rate is not None else ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("actions")
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def predicted_vs_prevented(data: ReportData) -> bytes:
    fig, ax = _figure()
    predicted = len(data.breaches)
    prevented = sum(1 for b in data.breaches if b.prevented)
    if predicted == 0:
        _empty(ax, "no breach predicted in this period")
        return _png(fig)
    ax.bar(["predicted", "prevented"], [predicted, prevented], color=[WARN, GOOD])
    for i, value in enumerate((predicted, prevented)):
        ax.text(i, value, str(value), ha="center", va="bottom")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Predicted vs prevented breaches")
    return _png(fig)


def capacity_outlook(data: ReportData) -> bytes:
    fig, ax = _figure()
    if not data.capacity:
        _empty(ax, "no resource is heading for exhaustion")
        return _png(fig)
    rows = data.capacity[:10]
    hours = [c.time_to_exhaustion_seconds / 3600.0 for c in rows]
    low = [
        max(0.0, h - (c.lower or c.time_to_exhaustion_seconds) / 3600.0)
        for h, c in zip(hours, rows, strict=True)
    ]
    high = [
        max(0.0, (c.upper or c.time_to_exhaustion_seconds) / 3600.0 - h)
        for h, c in zip(hours, rows, strict=True)
    ]
    labels = [f"{c.service}/{c.metric}" for c in rows]
    ax.barh(labels, hours, xerr=[low, high], color=ACCENT, capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel("hours until exhausted at the current trend")
    ax.set_title("Capacity outlook")
    return _png(fig)


def llm_spend(data: ReportData) -> bytes:
    fig, ax = _figure()
    if not data.llm_spend:
        _empty(ax, "no LLM-written reports in this period")
        return _png(fig)
    days = [d.day[5:] for d in data.llm_spend]
    ax.bar(days, [d.cost_usd for d in data.llm_spend], color=ACCENT)
    ax.set_ylabel("USD")
    tokens = sum(d.tokens for d in data.llm_spend)
    ax.set_title(f"LLM spend (total USD {data.llm_total_usd:,.4f}, {tokens:,} tokens)")
    return _png(fig)


def all_charts(data: ReportData) -> dict[str, bytes]:
    """Every chart, keyed by a short name, in report order."""
    return {
        "uptime": uptime_vs_slo(data),
        "incidents": incidents_and_cost(data),
        "actions": actions_and_success(data),
        "breaches": predicted_vs_prevented(data),
        "capacity": capacity_outlook(data),
        "llm": llm_spend(data),
    }
