"""Finders for bank account numbers and national ids, each validated by its own rule.

Why a module of its own: these are the findings where a plain regex both leaks (an IBAN glued to
other text, in a country length the pattern did not expect) and over-redacts (any 9 digits look like
a BSN). Each class is therefore found by shape *and* accepted only when its published rule holds:
the SWIFT IBAN registry length for the country plus mod-97, the SSA's rules for a US SSN, HMRC's
prefix and suffix rules for a UK National Insurance number, and the check character or checksum of
the Spanish DNI/NIE, the Italian codice fiscale, the French NIR, the Dutch BSN and the Polish PESEL.
Ids that are bare digits with a weak check (BSN, PESEL, compact NIR) are only taken after a keyword
naming them, because a log is full of 9 to 15 digit counters that would pass 1 in 10 or 1 in 97.

>>> [text[a:b] for text in ["payoutGB82WEST12345698765432EUR"] for a, b in iban_spans(text)]
['GB82WEST12345698765432']
>>> iban_ok("GB82 WEST 1234 5698 7654 33")
False
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# IBAN length by country code, from the SWIFT IBAN registry (release 101, 2025): every country that
# issues IBANs itself. Territories that use another country's IBAN (French overseas, Åland) are
# written with that country's code and so are covered.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IBAN_START = re.compile(r"(?=[A-Z]{2}\d{2})")
# Per length, the two written forms: compact, and the print form in groups of four.
_IBAN_FORMS: dict[int, re.Pattern[str]] = {
    n: re.compile(
        rf"[A-Z]{{2}}\d{{2}}(?:[A-Z0-9]{{{n - 4}}}"
        rf"|(?: [A-Z0-9]{{4}}){{{(n - 4) // 4}}}(?: [A-Z0-9]{{{(n - 4) % 4}}})?)"
        if (n - 4) % 4
        else rf"[A-Z]{{2}}\d{{2}}(?:[A-Z0-9]{{{n - 4}}}|(?: [A-Z0-9]{{4}}){{{(n - 4) // 4}}})"
    )
    for n in set(IBAN_LENGTHS.values())
}


def mod97(digits_and_letters: str) -> int:
    """ISO 7064 mod 97-10 over letters as 10..35 (IBAN, and the French NIR on digits)."""
    return int("".join(str(int(c, 36)) for c in digits_and_letters)) % 97


def iban_ok(candidate: str) -> bool:
    """Registry length for its country and check digits that give 1 mod 97."""
    compact = candidate.replace(" ", "").translate(_ASCII_UPPER)
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact.isascii():
        return False
    return mod97(compact[4:] + compact[:4]) == 1


def iban_spans(text: str) -> Iterator[tuple[int, int]]:
    """Every valid IBAN in ``text``, compact or spaced, even glued to other letters or digits.

    Upper case is the written standard, so an upper-case IBAN is taken anywhere (the registry length
    says where it ends). One written in lower or mixed case is taken only as a whole token, since
    lower-case hex ids are everywhere in logs.
    """
    upper = text.translate(_ASCII_UPPER)
    position = 0
    for start_match in _IBAN_START.finditer(upper):
        start = start_match.start()
        length = IBAN_LENGTHS.get(upper[start : start + 2])
        if start < position or length is None:
            continue
        form = _IBAN_FORMS[length].match(upper, start)
        if form is None or not iban_ok(form.group(0)):
            continue
        end = form.end()
        if text[start:end] != upper[start:end] and not _whole_token(text, start, end):
            continue
        position = end
        yield start, end


def _whole_token(text: str, start: int, end: int) -> bool:
    before = text[start - 1 : start]
    after = text[end : end + 1]
    return not (before.isalnum() or before == "_" or after.isalnum() or after == "_")


# ---- national ids ----------------------------------------------------------------------------------


def us_ssn_ok(candidate: str) -> bool:
    """SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000 (there is no check digit)."""
    digits = re.sub(r"\D", "", candidate)
    if len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return area not in (0, 666) and area < 900 and group != 0 and serial != 0


# HMRC: first letter not D F I Q U V, second not D F I O Q U V, some pairs never issued, suffix A-D.
UK_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"(?: ?\d{2}){3} ?[A-D](?![A-Za-z0-9])"
)

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_ok(candidate: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z + 7 digits): the letter is the number mod 23."""
    compact = candidate.replace("-", "").upper()
    if compact[:1] in ("X", "Y", "Z"):
        compact = str("XYZ".index(compact[0])) + compact[1:]
    if len(compact) != 9 or not compact[:8].isdigit():
        return False
    return _DNI_LETTERS[int(compact[:8]) % 23] == compact[8]


_CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20,
    11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
], strict=True))  # fmt: skip


def it_codice_fiscale_ok(candidate: str) -> bool:
    """Italian codice fiscale: the 16th character is the weighted sum of the first 15, mod 26."""
    code = candidate.upper()
    if len(code) != 16 or not code.isalnum():
        return False
    total = 0
    for i, c in enumerate(code[:15]):
        # Even positions (1-based) count a digit as itself, a letter as its alphabet index.
        total += _CF_ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - ord("A"))
    return chr(ord("A") + total % 26) == code[15]


def fr_nir_ok(candidate: str) -> bool:
    """French NIR: 13 characters (Corsica as 2A/2B) then a key equal to 97 - number mod 97."""
    compact = re.sub(r"\s", "", candidate).upper()
    if len(compact) != 15 or compact[0] not in "12":
        return False
    body = compact[:13].replace("2A", "19", 1) if compact[5:7] == "2A" else compact[:13]
    body = body.replace("2B", "18", 1) if compact[5:7] == "2B" else body
    if not body.isdigit() or not compact[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(compact[13:])


def nl_bsn_ok(candidate: str) -> bool:
    """Dutch BSN, the "11-proof": 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11."""
    digits = re.sub(r"\D", "", candidate)
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0


def pl_pesel_ok(candidate: str) -> bool:
    """Polish PESEL: weights 1 3 7 9 repeated over 10 digits, check = (10 - sum mod 10) mod 10."""
    digits = re.sub(r"\D", "", candidate)
    if len(digits) != 11:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:10], (1, 3, 7, 9) * 3, strict=False))
    return (10 - total % 10) % 10 == int(digits[10])


def keyed_national_id_ok(candidate: str) -> bool:
    """A number written after a national-id keyword: accepted if any of the digit-only rules holds."""
    return any(check(candidate) for check in (us_ssn_ok, nl_bsn_ok, pl_pesel_ok, fr_nir_ok))


__all__ = [
    "IBAN_LENGTHS",
    "UK_NINO",
    "es_dni_ok",
    "fr_nir_ok",
    "iban_ok",
    "iban_spans",
    "it_codice_fiscale_ok",
    "keyed_national_id_ok",
    "mod97",
    "nl_bsn_ok",
    "pl_pesel_ok",
    "us_ssn_ok",
]
