"""LogEvidence: the dataflow's template digests, merged per incident and counted once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forewarn.events import LogTemplateDigest, LogTemplateSummary
from forewarn.incidents.log_evidence import LogEvidence, merge_templates
from tests.factories import make_digest, make_template

from .conftest import T0

pytestmark = pytest.mark.unit


def summary(seconds: float, count: int, level: str = "ERROR", cluster: int = 7) -> LogTemplateSummary:
    return make_template("email", T0 + timedelta(seconds=seconds), count, level=level, cluster=cluster)


def digest(seconds: float, *templates: LogTemplateSummary) -> LogTemplateDigest:
    return make_digest("email", T0 + timedelta(seconds=seconds), *templates)


def test_digests_merge_counts_summed_and_first_last_seen_widened() -> None:
    evidence = LogEvidence()
    assert evidence.add(digest(0, summary(0, 3), summary(1, 5, "INFO", cluster=2)))
    assert evidence.add(digest(5, summary(5, 4)))
    assert not evidence.add(digest(5, summary(5, 4)))  # re-delivered: counted once
    failed, info = evidence.summaries("email", T0 - timedelta(minutes=5), T0 + timedelta(minutes=5))
    assert (failed.template_id, failed.count, failed.levels) == ("email:7", 7, {"ERROR": 7})
    assert (failed.first_seen, failed.last_seen) == (T0, T0 + timedelta(seconds=9))
    assert (info.template_id, info.count) == ("email:2", 5)  # fewer errors: after the error template
    assert evidence.summaries("sms", T0, T0 + timedelta(minutes=5)) == []


def test_only_templates_seen_in_the_asked_span_are_merged() -> None:
    evidence = LogEvidence()
    evidence.add(digest(0, summary(0, 3)))
    evidence.add(digest(600, summary(600, 2)))
    (late,) = evidence.summaries("email", T0 + timedelta(seconds=300), T0 + timedelta(seconds=900))
    assert late.count == 2 and late.first_seen == T0 + timedelta(seconds=600)


def test_evidence_stays_bounded_by_age_and_number() -> None:
    evidence = LogEvidence(retention_seconds=60, max_digests=3)
    for i in range(10):
        evidence.add(digest(i * 5, summary(i * 5, 1)))
    everything = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert evidence.summaries("email", *everything)[0].count == 3  # only the 3 newest are kept
    evidence.add(digest(1000, summary(1000, 1)))
    assert evidence.summaries("email", *everything)[0].count == 1  # the older ones aged out


def test_merge_keeps_the_newest_text_of_a_template() -> None:
    older, newer = summary(0, 1), summary(10, 1).model_copy(update={"template": "email delivery failed: <*>"})
    (merged,) = merge_templates([newer, older])
    assert merged.template == "email delivery failed: <*>" and merged.count == 2
