"""IncidentReporter: an LLM report when it is allowed, sound and affordable; the offline one otherwise.

Why this order of checks: no LLM configured -> offline; a cached report for this fingerprint and
severity that still cites only present evidence -> reuse it (no tokens); budget or severity rules
say no -> offline; otherwise one call through the ``openai`` client (its own timeout and retries),
with a ``json_schema`` response format, validated by pydantic and checked citation by citation.
Any failure (timeout, HTTP error, refusal, invalid JSON, schema violation, a cited id that was not in
the input, an extra field such as an action) is counted and answered by the offline reporter.

Advisory only: the result is an :class:`IncidentReport`, which has no field that can hold an action,
and nothing here calls the healing engine. The prompt is redacted inside this class, always.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from forewarn.events import Incident, IncidentReport, ReportBody
from forewarn.incidents import prompt
from forewarn.incidents.budget import CostTracker
from forewarn.incidents.offline import OfflineReporter
from forewarn.incidents.redact import Redactor
from forewarn.metrics import llm_metrics
from forewarn.settings import LLMSettings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


class ReportRejected(Exception):
    """The LLM answered, but the answer cannot be used (the reason is the message)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class IncidentReporter:
    """Writes the report of an incident. ``client`` is an ``openai.OpenAI`` (None: offline only)."""

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        client: openai.OpenAI | None = None,
        registry: CollectorRegistry | None = None,
        redactor: Redactor | None = None,
        budget: CostTracker | None = None,
        offline: OfflineReporter | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or LLMSettings()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client = client
        self.redactor = redactor or Redactor(ip_addresses=self.settings.ip_addresses)
        self.budget = budget or CostTracker(self.settings, self.clock)
        self.offline = offline or OfflineReporter()
        self.metrics = llm_metrics(registry or CollectorRegistry())  # the dashboard's forewarn_llm_*
        self.monotonic = monotonic
        self._cache: OrderedDict[tuple[str, str], ReportBody] = OrderedDict()
        self.metrics.budget_remaining.set(self.budget.remaining_usd())

    def __repr__(self) -> str:
        return f"IncidentReporter(model={self.settings.model!r}, llm={'on' if self.client else 'off'})"

    @classmethod
    def from_settings(cls, settings: LLMSettings, **kwargs: Any) -> IncidentReporter:
        """Build the openai client from settings (no base_url: offline only)."""
        client = None
        if settings.base_url:
            import openai

            client = openai.OpenAI(
                base_url=settings.base_url,
                api_key=settings.api_key.get_secret_value(),
                timeout=settings.timeout_seconds,
                max_retries=settings.max_retries,
            )
        return cls(settings, client=client, **kwargs)

    def report(self, incident: Incident) -> IncidentReport:
        """The report for ``incident`` (never raises for a bad or missing LLM)."""
        document = prompt.evidence_document(incident, self.redactor)
        refs = prompt.allowed_refs(document)
        if self.client is None:
            return self._offline(incident, "no LLM configured")
        key = (incident.fingerprint, incident.severity.value)
        cached = self._cache.get(key)
        if cached is not None:
            try:
                _check_citations(cached, refs, document)
            except ReportRejected:
                self._cache.pop(key, None)
            else:
                self.metrics.cache_hits.inc()
                self.metrics.reports.labels(source="llm").inc()
                return self._stamp(cached, source="llm", cached=True)
        refusal = self.budget.allow(incident.severity)
        if refusal is not None:
            return self._offline(incident, refusal)
        return self._ask(incident, document, refs, key)

    # ---- internals ----------------------------------------------------------------------------------

    def _ask(
        self,
        incident: Incident,
        document: dict[str, Any],
        refs: dict[str, set[str]],
        key: tuple[str, str],
    ) -> IncidentReport:
        import openai

        assert self.client is not None
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": prompt.messages(document),
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "incident_report", "schema": prompt.response_schema(document)},
            },
        }
        started = self.monotonic()
        try:
            response = self.client.chat.completions.create(**request)
        except openai.APITimeoutError:
            return self._failed(incident, "timeout", started)
        except openai.APIStatusError as error:
            return self._failed(incident, f"http_{error.status_code}", started)
        except openai.APIError as error:
            return self._failed(incident, "connection", started, str(error))
        elapsed = self.monotonic() - started
        self.metrics.latency.observe(elapsed)
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        spent = self.budget.record(prompt_tokens, completion_tokens)
        self.metrics.tokens.labels(kind="prompt").inc(prompt_tokens)
        self.metrics.tokens.labels(kind="completion").inc(completion_tokens)
        self.metrics.cost.inc(spent.cost_usd)
        self.metrics.budget_remaining.set(self.budget.remaining_usd())
        try:
            body = _parse(response)
            _check_citations(body, refs, document)
        except ReportRejected as rejected:
            self.metrics.failures.labels(reason=rejected.reason).inc()
            log.info("LLM report rejected for incident %s: %s", incident.id, rejected)
            report = self._offline(incident, f"LLM answer rejected: {rejected}")
            return report.model_copy(
                update={
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "cost_usd": spent.cost_usd,
                    "latency_seconds": elapsed,
                }
            )
        if self.settings.cache_size:
            self._cache[key] = body
            while len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)
        self.metrics.reports.labels(source="llm").inc()
        return self._stamp(
            body,
            source="llm",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=spent.cost_usd,
            latency_seconds=elapsed,
        )

    def _failed(self, incident: Incident, reason: str, started: float, detail: str = "") -> IncidentReport:
        elapsed = self.monotonic() - started
        self.metrics.latency.observe(elapsed)
        self.metrics.failures.labels(reason=reason).inc()
        log.warning("LLM report failed for incident %s: %s %s", incident.id, reason, detail[:200])
        return self._offline(incident, f"LLM call failed: {reason}").model_copy(
            update={"latency_seconds": elapsed}
        )

    def _offline(self, incident: Incident, reason: str) -> IncidentReport:
        self.metrics.reports.labels(source="offline").inc()
        return self._stamp(self.offline.report(incident), source="offline", fallback_reason=reason)

    def _stamp(self, body: ReportBody, **extra: Any) -> IncidentReport:
        fields = body.model_dump()
        model = self.settings.model if extra.get("source") == "llm" else None
        return IncidentReport(**fields, model=model, generated_at=self.clock(), **extra)


def _parse(response: Any) -> ReportBody:
    if not response.choices:
        raise ReportRejected("empty", "no choices in the response")
    message = response.choices[0].message
    if getattr(message, "refusal", None):
        raise ReportRejected("refusal", str(message.refusal)[:200])
    content = (message.content or "").strip()
    if not content:
        raise ReportRejected("empty", "no content")
    try:
        raw = json.loads(content)
    except ValueError as error:
        raise ReportRejected("invalid_json", str(error)[:200]) from error
    # llama.cpp's grammar does not enforce numeric bounds, and small models write confidence as a
    # percentage: read 1 < c <= 100 as percent. Anything else out of range still fails validation.
    if isinstance(raw, dict):
        confidence = raw.get("confidence")
        if isinstance(confidence, int | float) and not isinstance(confidence, bool) and 1 < confidence <= 100:
            raw["confidence"] = confidence / 100
    try:
        return ReportBody.model_validate(raw)
    except ValidationError as error:
        raise ReportRejected("schema", str(error.errors()[:3])[:300]) from error


def _check_citations(body: ReportBody, refs: dict[str, set[str]], document: dict[str, Any]) -> None:
    """Every cited ref must be in the input. A ref under the wrong kind is re-filed, not rejected."""
    for item in body.evidence:
        if item.ref in refs[item.kind]:
            continue
        kind = next((k for k, ids in refs.items() if item.ref in ids), None)
        if kind is None:
            raise ReportRejected("unknown_evidence", f"{item.kind} {item.ref!r} is not in the input")
        item.kind = kind  # type: ignore[assignment]
    services = {*document["incident"]["services"], document["incident"]["service"]}
    if body.cause_service not in services:
        raise ReportRejected("unknown_service", f"{body.cause_service!r} is not an affected service")


__all__ = ["IncidentReporter", "ReportRejected"]
