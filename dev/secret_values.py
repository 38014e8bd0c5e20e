"""Random values of each sensitive class the redactor must know, valid by their own published rules.

Why separate from the corpus: the corpus decides line shapes; this decides what a real value of each
class looks like (a US SSN obeying the SSA's rules, a PESEL with its checksum, a PEM block whose
newlines may be escaped, an ADO.NET password with spaces). ``near_miss`` values have the same shape
but fail the rule, for the clean lines that must survive.
"""

from __future__ import annotations

import base64
import random
import string

from forewarn.incidents.identifiers import (
    es_dni_ok,
    fr_nir_ok,
    it_codice_fiscale_ok,
    nl_bsn_ok,
    pl_pesel_ok,
)

DIGITS = string.digits
UPPER = string.ascii_uppercase


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


def us_ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def uk_nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice(
        [c for c in "ABCEGHJKLMNPRSTWXYZ" if first + c not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")]
    )
    number = _digits(rng, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {number[:2]} {number[2:4]} {number[4:]} {suffix}"
    return f"{first}{second}{number}{suffix}"


def es_dni(rng: random.Random) -> str:
    letters = "TRWAGMYFPDXBNJZSQVHLCKE"
    if rng.random() < 0.5:
        number = rng.randint(10_000_000, 99_999_999)
        return f"{number}{letters[number % 23]}"
    prefix = rng.randrange(3)
    number = rng.randint(0, 9_999_999)
    return f"{'XYZ'[prefix]}{number:07d}{letters[(prefix * 10_000_000 + number) % 23]}"


def it_codice_fiscale(rng: random.Random) -> str:
    body = (
        "".join(rng.choice(UPPER) for _ in range(6))
        + _digits(rng, 2)
        + rng.choice("ABCDEHLMPRST")
        + f"{rng.choice([rng.randint(1, 31), rng.randint(41, 71)]):02d}"
        + rng.choice(UPPER)
        + _digits(rng, 3)
    )
    return next(body + c for c in UPPER if it_codice_fiscale_ok(body + c))


def fr_nir(rng: random.Random) -> str:
    sex, month, department = rng.randint(1, 2), rng.randint(1, 12), rng.randint(1, 95)
    body = f"{sex}{_digits(rng, 2)}{month:02d}{department:02d}{_digits(rng, 6)}"
    key = 97 - int(body) % 97
    assert fr_nir_ok(body + f"{key:02d}")
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"


def nl_bsn(rng: random.Random) -> str:
    while not nl_bsn_ok(value := _digits(rng, 9)):
        pass
    return value


def pl_pesel(rng: random.Random) -> str:
    while not pl_pesel_ok(value := _digits(rng, 11)):
        pass
    return value


def private_key_pem(rng: random.Random) -> tuple[str, str]:
    """(the whole block as it may appear in a line, a base64 line of its body that must not survive)."""
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "", "DSA "])
    body = base64.b64encode(rng.randbytes(rng.choice([96, 144, 192]))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    newline = rng.choice(["\n", "\\n", "\\r\\n", " "])
    block = newline.join([f"-----BEGIN {kind}PRIVATE KEY-----", *lines, f"-----END {kind}PRIVATE KEY-----"])
    return block, lines[0]


def conn_password(rng: random.Random) -> str:
    """A password as people put in connection strings: spaces, symbols and ';'-free."""
    words = ["blue", "Horse", "batt3ry", "st@ple", "Gig#2026", "trumpet", "P@ss", "9lives"]
    return rng.choice([" ", "-", "!", "_"]).join(rng.sample(words, 3)) + _digits(rng, 2)


def session_id(rng: random.Random) -> str:
    return "".join(rng.choice(UPPER + DIGITS) for _ in range(32))


def near_miss_ids(rng: random.Random) -> list[str]:
    """Id-shaped values that fail their rule: a DNI with the wrong letter, an SSN in area 9xx, ..."""
    dni = es_dni(rng)
    wrong_letter = next(c for c in "ABCEFGHIJKLMNOPQRSTUVWXYZ" if not es_dni_ok(dni[:-1] + c))
    cf = it_codice_fiscale(rng)
    return [
        dni[:-1] + wrong_letter,
        f"{rng.randint(900, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        f"{rng.randint(100, 899):03d}-00-{rng.randint(1000, 9999)}",
        f"QQ{_digits(rng, 6)}{rng.choice('ABCD')}",
        f"AB{_digits(rng, 6)}{rng.choice('EFGXYZ')}",
        cf[:-1] + next(c for c in UPPER if not it_codice_fiscale_ok(cf[:-1] + c)),
    ]


__all__ = [
    "conn_password",
    "es_dni",
    "fr_nir",
    "it_codice_fiscale",
    "near_miss_ids",
    "nl_bsn",
    "pl_pesel",
    "private_key_pem",
    "session_id",
    "uk_nino",
    "us_ssn",
]
