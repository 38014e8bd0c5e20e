"""Settings of the LLM report path: where the model is, what it costs, how much may be spent.

Why a plain pydantic model here (not in forewarn.settings yet): the lead mounts it as
``Settings.llm`` (env ``FOREWARN_LLM__BASE_URL`` ...); until then callers build it directly.
No base_url means no LLM: every report is written by the offline reporter.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from forewarn.events import Severity


class LLMSettings(BaseModel):
    """The OpenAI-compatible endpoint and the cost rules of incident reports."""

    base_url: str | None = None  # e.g. http://127.0.0.1:8081/v1 (llama-server) or an OpenAI URL
    api_key: str = "not-needed"  # local servers ignore it; never logged, never sent anywhere else
    model: str = "SmolLM2-135M-Instruct"
    timeout_seconds: float = Field(60.0, gt=0, le=600)
    max_retries: int = Field(1, ge=0, le=5)
    max_tokens: int = Field(600, ge=64, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    # Prices in USD per 1,000 tokens (0 for a local model); the budget is counted with them.
    prompt_price_per_1k: float = Field(0.0, ge=0)
    completion_price_per_1k: float = Field(0.0, ge=0)
    monthly_budget_usd: float = Field(50.0, ge=0)
    # Graduated use: below ``economy_fraction`` of the budget every incident at or above
    # ``min_severity`` goes to the LLM; past it only critical ones; past 100% none.
    min_severity: Severity = Severity.WARNING
    economy_fraction: float = Field(0.5, gt=0, le=1)
    cache_size: int = Field(512, ge=0)
    ip_addresses: str = "all"  # redaction of IPs in prompts: all | public | off


__all__ = ["LLMSettings"]
