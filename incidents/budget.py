"""Token and cost accounting with a monthly budget and graduated use.

Why graduated: an LLM report is a nice-to-have next to the offline one, so spend goes first to the
incidents that matter. Below ``economy_fraction`` of the month's budget every incident at or above
``min_severity`` may use the LLM; above it only critical incidents; once the budget is spent none.
Time comes from an injected clock so month and day roll-overs are testable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from forewarn.events import Severity
from forewarn.settings import LLMSettings


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class CostTracker:
    """Counts tokens and dollars per day and per month; decides who may use the LLM."""

    def __init__(self, settings: LLMSettings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self._day: dict[str, Usage] = {}
        self._month: dict[str, Usage] = {}

    def __repr__(self) -> str:
        return f"CostTracker(monthly_budget_usd={self.settings.monthly_budget_usd})"

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        s = self.settings
        return (
            prompt_tokens / 1000 * s.prompt_price_per_1k
            + completion_tokens / 1000 * s.completion_price_per_1k
        )

    def record(self, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Account one call; returns its usage (with cost)."""
        now = self.clock()
        usage = Usage(prompt_tokens, completion_tokens, self.price(prompt_tokens, completion_tokens))
        for book, key in ((self._day, now.strftime("%Y-%m-%d")), (self._month, now.strftime("%Y-%m"))):
            old = book.get(key, Usage(0, 0, 0.0))
            book[key] = Usage(
                old.prompt_tokens + prompt_tokens,
                old.completion_tokens + completion_tokens,
                old.cost_usd + usage.cost_usd,
            )
        return usage

    def today(self) -> Usage:
        return self._day.get(self.clock().strftime("%Y-%m-%d"), Usage(0, 0, 0.0))

    def this_month(self) -> Usage:
        return self._month.get(self.clock().strftime("%Y-%m"), Usage(0, 0, 0.0))

    def remaining_usd(self) -> float:
        return max(0.0, self.settings.monthly_budget_usd - self.this_month().cost_usd)

    def allow(self, severity: Severity) -> str | None:
        """None if an incident of ``severity`` may use the LLM now, else the reason it may not."""
        s = self.settings
        if not severity.at_least(s.min_severity):
            return f"severity {severity.value} is below the LLM threshold {s.min_severity.value}"
        spent = self.this_month().cost_usd
        if s.monthly_budget_usd <= 0 or spent >= s.monthly_budget_usd:
            return f"monthly LLM budget spent (${spent:.2f} of ${s.monthly_budget_usd:.2f})"
        if spent >= s.economy_fraction * s.monthly_budget_usd and severity is not Severity.CRITICAL:
            return (
                f"budget economy mode (${spent:.2f} of ${s.monthly_budget_usd:.2f} spent): "
                "only critical incidents use the LLM"
            )
        return None


__all__ = ["CostTracker", "Usage"]
