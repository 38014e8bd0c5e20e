"""Property tests per class: any registry country's IBAN, any valid national id, any PEM key or
connection password is redacted however it is written; the same shapes failing their rule are kept.

Why properties: the corpus tests the shapes its author wrote; these draw the values (seeded, so a
failure replays) across the whole class, e.g. every country in the SWIFT registry.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.dev import secret_values as sv
from forewarn.dev.redaction_corpus import iban
from forewarn.incidents.identifiers import IBAN_LENGTHS, iban_ok, iban_spans
from forewarn.incidents.redact import Redactor

pytestmark = pytest.mark.unit

REDACTOR = Redactor()
seeds = st.integers(min_value=0, max_value=2**32)
glue = (
    st.sampled_from(["", "x", "ref=", "IBAN", "_", "acct:"]),
    st.sampled_from(["", "EUR", "/2", " ", ".", "_x"]),
)


def _spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


@pytest.mark.parametrize("country", sorted(IBAN_LENGTHS))
def test_every_registry_country_is_found_compact_spaced_and_glued(country: str) -> None:
    rng = random.Random(country)
    for _ in range(5):
        account = iban(rng, country)
        assert len(account) == IBAN_LENGTHS[country] and iban_ok(account)
        for text in (
            f"to {account}.",
            f"to {_spaced(account)} ok",
            f"payout{account}EUR",
            f"{account.lower()}",
        ):
            out = REDACTOR.redact(text)
            assert account not in re.sub(r"\s", "", out).upper(), (text, out)


@settings(max_examples=200, derandomize=True)
@given(seed=seeds, before=glue[0], after=glue[1], spaced=st.booleans())
def test_iban_property(seed: int, before: str, after: str, spaced: bool) -> None:
    rng = random.Random(seed)
    good, bad = iban(rng), iban(rng, valid=False)
    written = _spaced(good) if spaced else good
    assert "[REDACTED:iban]" in REDACTOR.redact(f"{before}{written}{after}")
    text = f"order {before}{_spaced(bad) if spaced else bad}{after} done"
    assert list(iban_spans(text)) == []


@settings(max_examples=150, derandomize=True)
@given(seed=seeds)
def test_national_ids_property(seed: int) -> None:
    rng = random.Random(seed)
    planted = {
        sv.us_ssn(rng): "ssn",
        sv.uk_nino(rng): "NI number",
        sv.es_dni(rng): "documento",
        sv.it_codice_fiscale(rng): "cf",
        sv.fr_nir(rng): "numéro",
        sv.nl_bsn(rng): "bsn",
        sv.pl_pesel(rng): "PESEL",
    }
    for value, label in planted.items():
        out = REDACTOR.redact(f"kyc {label} {value} checked")
        assert value not in out, out
        assert out.startswith("kyc ") and out.endswith(" checked")
    for value in sv.near_miss_ids(rng):
        text = f"import row {value} skipped"
        assert REDACTOR.redact(text) == text


@settings(max_examples=100, derandomize=True)
@given(seed=seeds)
def test_private_keys_and_conn_passwords_property(seed: int) -> None:
    rng = random.Random(seed)
    block, body_line = sv.private_key_pem(rng)
    out = REDACTOR.redact(f"key {block} loaded")
    assert body_line not in out and out.endswith(" loaded"), out
    password = sv.conn_password(rng)
    for text in (
        f"Server=db;Database=x;User Id=sa;Password={password};Encrypt=true",
        f"Server=db;User Id=sa;Password={password}",
        f"Driver={{ODBC}};Uid=sa;PWD={{{password}}};",
    ):
        out = REDACTOR.redact(text)
        assert password not in out, out
        assert out.split(";")[:2] == text.split(";")[:2]  # the rest of the string is kept
