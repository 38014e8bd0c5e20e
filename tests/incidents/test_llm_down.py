"""The LLM server is down, then up: reports go offline, then come from the model, with no restart.

Real parts: ``IncidentReporter`` with its real openai client, and a real ``llama-server`` process
started on the port the reporter was configured with only after the first incident. Why it recovers
on its own: the reporter keeps no "LLM is down" state; each incident tries the server once (no
retries, a short timeout) and falls back to the offline report, so the first incident after the
server is back gets the model's answer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from forewarn.dev.llama_server import LlamaServer, ensure_llama_server, ensure_smollm2, free_port
from forewarn.incidents.reporter import IncidentReporter
from forewarn.settings import LLMSettings
from tests.fault_report import record

from .conftest import database_incident

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]


def test_llm_down_gives_offline_reports_and_the_model_answers_once_it_is_back(tmp_path: Path) -> None:
    binary, model = ensure_llama_server(), ensure_smollm2()  # built once per machine, then cached
    port = free_port()
    registry = CollectorRegistry()
    settings = LLMSettings(
        base_url=f"http://127.0.0.1:{port}/v1", max_tokens=600, timeout_seconds=120, max_retries=0
    )
    reporter = IncidentReporter.from_settings(settings, registry=registry)

    down = reporter.report(database_incident())  # nothing listens on the port yet
    assert down.source == "offline" and down.fallback_reason == "LLM call failed: connection"
    assert down.cause_service in {"auth", "database"} and down.evidence  # still a usable report
    assert registry.get_sample_value("forewarn_llm_failures_total", {"reason": "connection"}) == 1

    log = Path(os.environ.get("FOREWARN_TEST_LOG_DIR", str(tmp_path))) / f"llama-down-{os.getpid()}.log"
    started = time.monotonic()
    with LlamaServer(binary, model, port=port, log_path=log) as server:
        assert server.port == port, "the port was taken before llama-server bound it; rerun"
        back = reporter.report(database_incident(extra_log="database pool exhausted"))
        recovered = time.monotonic() - started
    # The model answered (tokens were spent); a 135M model's answer may still fail validation,
    # which is reported as such, never as a connection failure.
    assert back.prompt_tokens > 0 and back.completion_tokens > 0
    assert back.source == "llm" or (back.fallback_reason or "").startswith("LLM answer rejected")
    assert registry.get_sample_value("forewarn_llm_failures_total", {"reason": "connection"}) == 1
    record(
        "LLM server down, then back",
        events_sent=2,
        accounted_for=sum(bool(r.evidence) for r in (down, back)),
        recovered_in_s=recovered,
        back_source=back.source,
    )
