"""The redactor: the planted corpus must be fully redacted, clean lines must survive."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.redaction_corpus import generate, iban, luhn_card
from forewarn.events import LogRecord
from forewarn.incidents.redact import Redactor

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"


def _planted() -> list[dict[str, list[str] | str]]:
    return [json.loads(line) for line in (DATA / "redaction_planted.jsonl").read_text().splitlines()]


def _clean() -> list[str]:
    return [json.loads(line)["text"] for line in (DATA / "redaction_clean.jsonl").read_text().splitlines()]


def _leaks(secret: str, redacted: str) -> bool:
    if secret in redacted:
        return True
    compact = re.sub(r"[ \-]", "", secret)
    # A card or IBAN must not survive with other separators either.
    return len(compact) >= 12 and compact in re.sub(r"[ \-]", "", redacted)


def test_committed_corpus_is_the_seeded_generator_output() -> None:
    planted, clean = generate(seed=5)
    assert [line.to_json() for line in planted] == (DATA / "redaction_planted.jsonl").read_text().splitlines()
    assert [json.dumps({"text": t}) for t in clean] == (
        DATA / "redaction_clean.jsonl"
    ).read_text().splitlines()


def test_every_planted_secret_is_redacted() -> None:
    redactor = Redactor()
    lines = _planted()
    assert len(lines) >= 200
    kinds = {kind for line in lines for kind in line["kinds"]}
    assert {
        "bearer",
        "jwt",
        "aws_id",
        "stripe_sk",
        "slack",
        "github",
        "email",
        "phone",
        "card",
        "iban",
        "ip",
    } <= kinds
    leaks = []
    for line in lines:
        out = redactor.redact(str(line["text"]))
        leaks += [(secret, out) for secret in line["secrets"] if _leaks(secret, out)]
    assert leaks == []


def test_false_redaction_rate_on_clean_lines_is_low() -> None:
    redactor = Redactor()
    clean = _clean()
    changed = [line for line in clean if redactor.redact(line) != line]
    rate = len(changed) / len(clean)
    print(f"false-redaction rate on {len(clean)} clean lines: {rate:.2%}")
    assert rate <= 0.01, changed[:5]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Authorization: Bearer abc123DEF456ghi789", "bearer_token"),
        ("aws key AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("pk_test_TYooMQauvdEDq54NiTphI7jx in page", "stripe_key"),
        ("slack xoxp-1234567890-abcdefghijkl", "slack_token"),
        ("git ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef1234", "github_token"),
        ("mysql://root:Sup3rS3cret@10.1.2.3/db", "url_password"),
        ("retrying with password=hunter2 now", "secret"),
        ('{"api_key": "abc", "n": 1}', "secret"),
        ("mail jane@example.com", "email"),
        ("call +44 20 7946 0958", "phone"),
        ("card 4242-4242-4242-4242 declined", "card_number"),
        ("iban DE89 3704 0044 0532 0130 00", "iban"),
        ("from 198.51.100.23", "ip_address"),
        ("from 2001:db8::8a2e:370:7334", "ip_address"),
        ("sig ZxY9vQ2mN8pL4kR7tW1sB6cD3fG5hJ0a", "high_entropy"),
    ],
)
def test_each_kind_is_named(text: str, kind: str) -> None:
    result = Redactor().redact_with_findings(text)
    assert result.findings[kind] >= 1, result
    assert f"[REDACTED:{kind}]" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "card 4242-4242-4242-4241 declined",  # fails Luhn
        "order 1732550400123 created",  # epoch millis: no card issuer prefix
        "iban DE00 3704 0044 0532 0130 00",  # bad check digits
        "GET /api/health/database 200 12.3ms at 17:20:33",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 request 123e4567-e89b-12d3-a456-426614174000",
        "token bucket refilled: tokens=512 max_tokens=2048",
        "token expired for user; refreshed",
        "musobuddy.auth.session_store evicted 3 expired sessions",
    ],
)
def test_identifiers_and_numbers_survive(text: str) -> None:
    assert Redactor().redact(text) == text


def test_redaction_is_idempotent() -> None:
    redactor = Redactor()
    once = redactor.redact(
        "postgres://u:pw123@h/db jane@example.com 4111111111111111 sk_live_abcdefgh12345678"
    )
    assert redactor.redact(once) == once


def test_ip_policy_is_configurable() -> None:
    text = "from 10.0.0.5 via 203.0.113.9"
    assert Redactor(ip_addresses="off").redact(text) == text
    assert Redactor(ip_addresses="public").redact(text) == "from 10.0.0.5 via [REDACTED:ip_address]"
    assert Redactor().redact(text) == "from [REDACTED:ip_address] via [REDACTED:ip_address]"


def test_nested_json_and_values() -> None:
    card = luhn_card(__import__("random").Random(1))
    account = iban(__import__("random").Random(2))
    payload = {
        "user": {"email": "a.b@example.org", "phone": "+1 (415) 555-0134"},
        "body": json.dumps({"card": int(card), "meta": {"db_password": "x9"}}),
        "items": [{"iban": account}, {"note": "fine"}],
        "client_secret": {"nested": "whole value goes"},
        "token_count": 12,
    }
    cleaned = Redactor().redact_value(payload)
    dumped = json.dumps(cleaned)
    for secret in ("a.b@example.org", "555-0134", card, account, "x9", "whole value goes"):
        assert secret not in dumped
    assert cleaned["items"][1] == {"note": "fine"}
    assert cleaned["token_count"] == 12


def test_redact_log_record() -> None:
    record = LogRecord(
        service="auth",
        timestamp=datetime(2026, 11, 25, tzinfo=UTC),
        message="login for jane@example.com failed",
        attributes={"password": "hunter2", "duration_ms": 12.5},
    )
    clean = Redactor().redact_log(record)
    assert clean.message == "login for [REDACTED:email] failed"
    assert clean.attributes == {"password": "[REDACTED:secret]", "duration_ms": 12.5}


def test_cli_filters_stdin() -> None:
    text = "ok line\nuser jane@example.com key=AKIAIOSFODNN7EXAMPLE\n"
    result = CliRunner().invoke(app, ["redact", "--stats"], input=text)
    assert result.exit_code == 0, result.output
    assert "ok line\n" in result.stdout
    assert "jane@example.com" not in result.stdout
    assert "AKIAIOSFODNN7EXAMPLE" not in result.stdout


def test_cli_as_a_real_pipe() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "forewarn", "redact", "--ip-addresses", "public"],
        input="from 10.1.1.1 and 8.8.8.8 card 5555 5555 5555 4444\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from 10.1.1.1 and [REDACTED:ip_address] card [REDACTED:card_number]\n"


def test_cli_rejects_bad_ip_policy() -> None:
    result = CliRunner().invoke(app, ["redact", "--ip-addresses", "some"], input="x\n")
    assert result.exit_code != 0
    assert "all, public, off" in result.output
