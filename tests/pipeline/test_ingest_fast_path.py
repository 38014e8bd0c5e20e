"""The one-pass parse of ``forewarn.ingest`` gives what the step-by-step parse gives, on every input.

Why a differential test: the fast path exists only for speed; any input where the two disagree
(one accepts what the other refuses, or both accept with different values) would change outputs.
The corpus holds ordinary telemetry and the inputs where JSON parsers and pydantic modes differ.
"""

from __future__ import annotations

import json

import pytest

from forewarn.dev.bench.pipeline_load import mixed_workload
from forewarn.events import TelemetryEvent
from forewarn.ingest import _decode, _decode_steps, _Reject
from forewarn.settings import TopicSettings

BASE = '"kind":"log","service":"a","timestamp":"2026-12-05T10:00:00Z"'
TRICKY = [
    "{" + BASE + ',"message":"x","schema_version":true}',
    "{" + BASE + ',"message":"x","schema_version" : true}',
    "{" + BASE + ',"message":"x","schema\\u005fversion":true}',
    "{" + BASE + ',"message":"x","schema_version":1,"attributes":{"schema_version":true}}',
    "{" + BASE + ',"message":"x","schema_version":1.0}',
    "{" + BASE + ',"message":"x","schema_version":"1"}',
    "{" + BASE + ',"message":"x","schema_version":10}',
    "{" + BASE + ',"message":"\\ud800"}',
    "{" + BASE + ',"message":"caf\\u00e9"}',
    "{" + BASE + ',"message":"a","message":"b"}',
    "\ufeff{" + BASE + ',"message":"x"}',
    "{" + BASE + ',"message":"x","attributes":{"a":NaN}}',
    "{" + BASE + ',"message":"x","attributes":{"a":1e400}}',
    "{" + BASE + ',"message":"x","attributes":{"a":123456789012345678901234567890}}',
    '{"kind":"metric","service":"a","timestamp":1764928800,"name":"m","value":"1.5"}',
    '{"kind":"metric","service":"a","timestamp":"1764928800","name":"m","value":1}',
    '{"kind":"metric","service":"a","timestamp":1764928800,"name":"m","value":NaN}',
    '{"kind":"probe","service":"a","timestamp":1764928800.5,"endpoint":"e","latency_ms":1,"ok":"yes",'
    '"status_code":200.0}',
    '{"kind":"probe","service":"a","timestamp":1764928800.5,"endpoint":"e","latency_ms":1,"ok":1,'
    '"details":{"x":[1,"a",null,true]}}',
    "{" + BASE + ',"message":"x","level":"warn"}',
    " {" + BASE + ',"message":"x"} ',
    "{" + BASE + ',"message":"x","kind":"metric"}',
    "{" + BASE + ',"message":"x",}',
    '{"kind":"log","service":"a","timestamp":"2026-12-05T10:00:00","message":"x"}',
    '{"kind":["log"],"service":"a","timestamp":"2026-12-05T10:00:00Z","message":"x"}',
    "[{" + BASE + ',"message":"x"}]',
]
CORPUS = [t.encode("utf-8", "surrogatepass") for t in TRICKY]
CORPUS += [b'{"kind":"log","service":"a","timestamp":1764928800,"message":"\xff"}', b"\x00", b"{}"]
CORPUS += [value for _, _, value in mixed_workload(TopicSettings(), 400)]


def _outcome(decode: object, value: bytes) -> TelemetryEvent | str:
    try:
        return decode(value)  # type: ignore[operator,no-any-return]
    except _Reject as rejected:
        return f"rejected: {rejected}"


@pytest.mark.parametrize("value", CORPUS)
def test_fast_and_step_by_step_parse_agree(value: bytes) -> None:
    fast, slow = _outcome(_decode, value), _outcome(_decode_steps, value)
    assert type(fast) is type(slow)
    assert repr(fast) == repr(slow)  # repr: NaN in attributes is equal to itself there


def test_the_corpus_has_both_outcomes() -> None:
    outcomes = [_outcome(_decode_steps, v) for v in CORPUS]
    assert sum(isinstance(o, str) for o in outcomes) > 10
    assert sum(not isinstance(o, str) for o in outcomes) > 300
    assert json.loads(CORPUS[-1])  # the workload's messages are JSON
