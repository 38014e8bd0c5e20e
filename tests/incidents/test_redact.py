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
        "us_ssn",
        "uk_nino",
        "es_dni",
        "it_codice_fiscale",
        "fr_nir",
        "nl_bsn",
        "pl_pesel",
        "private_key",
        "conn_password",
        "url_password",
        "cookie",
        "session_id",
        "client_secret",
        "refresh_token",
        "authorization",
    } <= kinds
    leaks = []
    for line in lines:
        out = redactor.redact(str(line["text"]))
        leaks += [(secret, out) for secret in line["secrets"] if _leaks(secret, out)]
    assert leaks == []


def test_no_false_redaction_on_clean_lines() -> None:
    """Zero, not "low": the clean lines include look-alikes (hex ids, UUIDs, IBAN-like order numbers
    failing mod-97, id-shaped values failing their check) that each rule must leave alone."""
    redactor = Redactor()
    clean = _clean()
    assert len(clean) >= 500
    changed = [(line, redactor.redact(line)) for line in clean if redactor.redact(line) != line]
    assert changed == []


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
        ("payoutGB82WEST12345698765432EUR", "iban"),
        ("to mt84 malt 0110 0001 2345 mtlc ast0 01s.", "iban"),
        ("ssn 078-05-1121 on file", "us_ssn"),
        ("nino AB 12 34 56 C", "uk_nino"),
        ("dni 12345678Z nie X1234567L", "es_dni"),
        ("cf RSSMRA85T10A562S", "it_codice_fiscale"),
        ("nir 2 95 10 99 126 111 93", "fr_nir"),
        ("BSN: 111222333", "national_id"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXk\\n-----END OPENSSH PRIVATE KEY-----",
            "private_key",
        ),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----", "private_key"),
        ("Server=db;User Id=sa;Password=two words;Encrypt=true", "conn_password"),
        ("Server=db;Uid=sa;Pwd={a;b}}c}", "conn_password"),
        ("redis://:onlyApassword@cache:6379", "url_password"),
        ("jdbc:oracle:thin:scott/tiger@db:1521:orcl", "url_password"),
        ("Cookie: theme=dark; sessionid=abc", "cookie"),
        ("Set-Cookie: JSESSIONID=ABCDEF; Path=/", "cookie"),
        ("GET /x PHPSESSID=abcdef", "secret"),
        ("grant_type=refresh_token&refresh_token=abcdef&client_secret=ghijkl", "secret"),
        ("Authorization: Basic dXNlcjpwYXNz", "authorization"),
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
        "order GB00WEST12345698765432 and GB82 WEST 1234 5698 7654 33",  # IBAN shapes failing mod-97
        "ref BA17 BVN6 5116 4652 0908 / DO63 ZKQF 3492 4421 9752 8907 2498",  # card-looking groups inside
        "job 25378325-6976-30ea-c44c-7f3ce1b4467c",  # UUID whose digits pass Luhn
        "ssn 900-12-3456, 123-00-4567, nino QQ123456C, dni 12345678A",  # rules say not issued / bad check
        "Server=db;Database=x;Integrated Security=true;Encrypt=true",
        "authorization failed for booking 4821 (HTTP 403)",
        "cookie consent banner shown, -----BEGIN CERTIFICATE----- loaded",
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
