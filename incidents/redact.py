"""Remove secrets and personal data from text before it can leave the machine.

Why a dedicated, conservative redactor: log lines are the richest evidence for an incident report and
the most likely place for a leaked API key, a password in a connection URL or a customer's card
number. Anything sent to an LLM (or shown by ``forewarn redact``) goes through :class:`Redactor`
first; the reporter calls it itself, so no caller can forget. Each finding is replaced by
``[REDACTED:<kind>]`` so a reader (or a model) still sees *what* was there without seeing the value.

Detection is layered, most specific first, so a Stripe key is named ``stripe_key`` rather than
``high_entropy``: structured JSON is walked (values under secret-looking keys go whole, nested JSON in
strings is parsed again), then pattern rules run over every string. Number-shaped findings are
validated (Luhn for cards, registry length and mod-97 for IBANs, check digits for national ids: see
:mod:`forewarn.incidents.identifiers`, ``ipaddress`` for IPs) to keep false redactions rare, because an
over-eager redactor destroys the latencies, ids and counts the report needs. Rules are written per
class (any URL scheme, any cookie, any Authorization scheme, any PEM private key) rather than per
example, since an independent corpus finds exactly the examples nobody thought of.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from forewarn.events import LogRecord
from forewarn.incidents.identifiers import (
    UK_NINO,
    es_dni_ok,
    fr_nir_ok,
    iban_spans,
    it_codice_fiscale_ok,
    keyed_national_id_ok,
    us_ssn_ok,
)
from forewarn.settings import IpRedaction as IpPolicy

MASK = "[REDACTED:{kind}]"

# Key names whose values are secrets whatever they look like ("db_password", "X-Api-Key", "sessionId").
_SECRET_KEY = (
    r"[A-Za-z0-9_.\-]*?(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|account[_\-]?key|credentials?|sess(?:ion)?[_\-]?id|connect\.sid|[_.]session"
    r"|cookie|authorization|auth[_\-]?code|code[_\-]?verifier|signature|otp)"
)
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)
_PII_KEY_RE = re.compile(
    r"^[A-Za-z0-9_.\-]*?(?:e[_\-]?mail|phone|mobile|msisdn|iban|card[_\-]?number|pan|ssn)$", re.IGNORECASE
)


# HTTP authentication schemes: the word before the credential, not the credential.
_AUTH_SCHEMES = (
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "ntlm",
    "apikey",
    "api-key",
    "mac",
    "hoba",
    "dpop",
)


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group holds the secret (the rest of the match is kept)
    check: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class _Finder:
    """A class a regex cannot delimit alone (an IBAN's end depends on its country): spans come from code."""

    kind: str
    spans: Callable[[str], Iterator[tuple[int, int]]]


def _luhn_ok(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    # Issuer prefixes of the card networks: keeps 13-19 digit ids and epoch-millis (start with 1) out.
    head = "".join(map(str, digits[:4]))
    prefixes = ("4", "34", "37", "30", "36", "38", "35", "6011", "65", "62")
    mastercard = 51 <= int(head[:2]) <= 55 or 2221 <= int(head) <= 2720
    if not (head.startswith(prefixes) or mastercard):
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# How people group a card number when they space it: 16 in fours, Amex 4-6-5 (or fours), Diners 4-6-4
# (or fours, 2 at the end), 19-digit cards 4-4-4-4-3. Any other split is some other number's groups.
_CARD_GROUPS = {(4, 4, 4, 4), (4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 2)}


def _card_ok(candidate: str) -> bool:
    groups = tuple(len(g) for g in re.split(r"[ \-]", candidate))
    if len(groups) > 1 and (
        groups not in _CARD_GROUPS
        or (groups == (4, 4, 4, 2) and candidate[:2] not in ("30", "36", "38", "39"))
    ):
        return False
    return _luhn_ok(candidate)


def _phone_ok(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    return 9 <= digits <= 15


def _entropy(token: str) -> float:
    counts = Counter(token)
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(token: str) -> bool:
    """A generic secret: long, mixed letters and digits, high character entropy.

    Pure hex (trace ids, SHAs) and UUIDs are identifiers operators need in a report, not credentials,
    so they are left alone unless they sit under a secret-looking key.
    """
    if len(token) < 20 or re.fullmatch(r"[0-9a-fA-F\-]+", token):
        return False
    has_digit = any(c.isdigit() for c in token)
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    if not (has_digit and has_lower and (has_upper or len(token) >= 32)):
        return False
    # Words joined by _ or - (python_module_names, kebab-case-hosts) are not secrets.
    if re.fullmatch(r"(?:[A-Za-z]{2,}[_\-])+[A-Za-z0-9]*", token):
        return False
    return _entropy(token) >= 3.6


_NOT_AFTER_GROUP = "".join(
    rf"(?<!{group} )"
    for group in ("\\d[A-Z0-9]{3}", "[A-Z0-9]\\d[A-Z0-9]{2}", "[A-Z0-9]{2}\\d[A-Z0-9]", "[A-Z0-9]{3}\\d")
)

_RULES: tuple[_Rule | _Finder, ...] = (
    # The whole block, whatever the key type (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK), with real,
    # escaped (\\n) or no newlines; an unterminated block (a truncated line) goes to the end.
    _Rule(
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
            re.DOTALL,
        ),
    ),
    _Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*")),
    # scheme://user:password@host for any scheme; the user may be empty (redis://:pw@host) and an
    # unencoded "@" belongs to the password when another "@" follows before the host.
    _Rule(
        "url_password",
        re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"']*:((?:[^\s@/\"']|@(?=[^\s/\"']*@))+)@"),
        group=1,
    ),
    _Rule("url_password", re.compile(r"(?i)\bjdbc:oracle:[a-z]+:[^/\s@:\"']+/([^@\s\"']+)@"), group=1),
    # ADO.NET / ODBC / JDBC key=value strings: "Password=a b;" may hold spaces, "{...}" or quotes, so
    # the value runs to the ";" (or to the end when a ";" came before the key: the last pair).
    _Rule(
        "conn_password",
        re.compile(
            r"(?i)(;\s*)?(?<![A-Za-z0-9_.\-])(?:password|pwd|passwd|user password|account ?key"
            r"|shared ?access ?key)\s*=\s*(\{(?:[^}]|\}\})*\}|\"(?:[^\"]|\"\")*\"|'[^']*'|[^;\r\n]*?)"
            r"(?(1)(?=\s*(?:;|[\r\n\"']|$))|(?=\s*;))"
        ),
        group=2,
    ),
    # Cookie headers: every value is a session or tracking token, so the whole pair list goes; a
    # Set-Cookie keeps its name and attributes (Path, HttpOnly) and loses the value.
    _Rule(
        "cookie",
        re.compile(r"(?i)\bset-cookie[\"']?\s*[:=]\s*[\"']?[^\s=;,\"']+=([^;\s\"',]+)"),
        group=1,
    ),
    _Rule(
        "cookie",
        re.compile(
            r"(?i)(?<![A-Za-z0-9_\-])cookie[\"']?\s*[:=]\s*[\"']?"
            r"([^\s=;,\"']+=[^;\s\"']*(?:;\s?[^\s=;,\"']+=[^;\s\"']*)*)"
        ),
        group=1,
    ),
    _Rule(
        "bearer_token",
        re.compile(r"(?i)\b(?:bearer|basic|token|apikey)\s+([A-Za-z0-9._~+/=\-]{8,})"),
        group=1,
        check=lambda value: any(c.isdigit() for c in value),
    ),
    # An Authorization header carries a credential whatever its scheme and letters (Basic base64 may
    # have no digit): what the bearer rule above did not name goes here.
    _Rule(
        "authorization",
        re.compile(
            r"(?i)(?<![A-Za-z0-9_\-])(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            rf"(?:(?:{'|'.join(_AUTH_SCHEMES)})\s+)?"
            r"([^\s\"',;]+)"
        ),
        group=1,
        check=lambda value: value.lower() not in {*_AUTH_SCHEMES, "none", "null"},
    ),
    _Rule("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    _Rule(
        "stripe_key", re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}\b|\bwhsec_[A-Za-z0-9]{16,}\b")
    ),
    _Rule("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    _Rule(
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
    ),
    _Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    _Rule("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    _Rule("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}")),
    _Rule("openai_key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}")),
    _Rule(
        "secret",
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])({_SECRET_KEY})([\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s\"'&,;}\]\)]+)"
        ),
        group=3,
        # "Authorization: Bearer <token>": the scheme is not the secret; the bearer rule took the token.
        check=lambda value: value.strip("\"'").lower() not in {*_AUTH_SCHEMES, ""},
    ),
    _Rule("email", re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")),
    _Finder("iban", iban_spans),
    # National ids (see identifiers.py for the set and why): shapes distinctive enough to take
    # anywhere, then bare numbers only after a keyword naming them.
    _Rule("us_ssn", re.compile(r"(?<![\w\-.])\d{3}-\d{2}-\d{4}(?![\w\-.])"), check=us_ssn_ok),
    _Rule("uk_nino", UK_NINO),
    _Rule("es_dni", re.compile(r"(?<![A-Za-z0-9])[XYZ]?-?\d{7,8}-?[A-Z](?![A-Za-z0-9])"), check=es_dni_ok),
    _Rule(
        "it_codice_fiscale",
        re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{6}[0-9LMNP-V]{2}[ABCDEHLMPRST][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z](?![A-Za-z0-9])"
        ),
        check=it_codice_fiscale_ok,
    ),
    _Rule(
        "fr_nir",
        re.compile(r"(?<![\w.])[12] \d{2} \d{2} (?:\d{2}|2[AB]) \d{3} \d{3} \d{2}(?![\w.])"),
        check=fr_nir_ok,
    ),
    _Rule(
        "national_id",
        re.compile(
            r"(?i)(?<![A-Za-z])(?:ssn|social[ _\-]security(?:[ _\-](?:number|no))?|bsn|burgerservicenummer"
            r"|pesel|nir|insee|national[ _\-]id)[\"']?[\s:=#\"']*(\d[\d \-]{7,19}\d)(?![\w.])"
        ),
        group=1,
        check=keyed_national_id_ok,
    ),
    # A digit run glued to letters is an id ("ORDBA17BVN6511...", a UUID's "...-30ea"), not a card; nor
    # is a run that continues a chain of 4-character groups (a spaced IBAN-like ref) or is split
    # in groups no card uses.
    _Rule(
        "card_number",
        re.compile(
            rf"(?<![A-Za-z0-9.\-]){_NOT_AFTER_GROUP}\d(?:[ \-]?\d){{12,18}}(?![A-Za-z0-9.]|[ \-]\d{{4}}\b)"
        ),
        check=_card_ok,
    ),
    _Rule(
        "phone",
        re.compile(
            r"(?<![\w+.\-/:])(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}"
            r"|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}|\b\d{3}[.\-]\d{3}[.\-]\d{4}"
            r"|\b0\d{3,4} \d{3} ?\d{3,4})(?![\w.])"
        ),
        check=_phone_ok,
    ),
)

# "public" keeps addresses inside one's own network (RFC 1918, loopback, link-local, IPv6 ULA); note
# ipaddress' is_private also covers documentation ranges, which are not internal, hence the explicit list.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
    )
)
_IPV4 = re.compile(r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{20,}={0,2}")
_MASKED = re.compile(r"\[REDACTED:[a-z_0-9]+\]")


@dataclass(slots=True)
class RedactionResult:
    """The redacted text and how many findings of each kind were removed."""

    text: str
    findings: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(self.findings)


class Redactor:
    """Replaces secrets and personal data in text or JSON-like values with ``[REDACTED:<kind>]``.

    ``ip_addresses``: ``"all"`` (default) masks every IP, ``"public"`` keeps private, loopback and
    link-local ones (useful evidence inside one network), ``"off"`` keeps them all. ``entropy``
    switches the generic high-entropy rule. Redaction is idempotent: masks are never masked again.

    >>> Redactor().redact("login ok for jane.doe@example.com from 203.0.113.9")
    'login ok for [REDACTED:email] from [REDACTED:ip_address]'
    >>> Redactor(ip_addresses="public").redact("from 10.0.0.7 and 203.0.113.9")
    'from 10.0.0.7 and [REDACTED:ip_address]'
    >>> Redactor().redact("mail [REDACTED:email]")  # idempotent
    'mail [REDACTED:email]'
    """

    def __init__(self, ip_addresses: IpPolicy = "all", entropy: bool = True) -> None:
        self.ip_addresses: IpPolicy = ip_addresses
        self.entropy = entropy

    def __repr__(self) -> str:
        return f"Redactor(ip_addresses={self.ip_addresses!r}, entropy={self.entropy!r})"

    # ---- text -------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return self.redact_with_findings(text).text

    def redact_with_findings(self, text: str) -> RedactionResult:
        findings: Counter[str] = Counter()
        out = self._redact_json_text(text, findings)
        if out is None:
            out = self._redact_plain(text, findings)
        return RedactionResult(out, findings)

    def _redact_json_text(self, text: str, findings: Counter[str]) -> str | None:
        stripped = text.strip()
        if not stripped or stripped[0] not in "{[" or len(stripped) > 1_000_000:
            return None
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return None
        if not isinstance(parsed, dict | list):
            return None
        cleaned = self._redact_value(parsed, findings)
        if not findings:
            return text
        return json.dumps(cleaned, ensure_ascii=False)

    def _redact_plain(self, text: str, findings: Counter[str]) -> str:
        out = text
        for rule in _RULES:
            # Most lines hold nothing to redact: a search that finds nothing skips building the
            # rule's replacer (the same scan a sub would make; half the cost per log line).
            if isinstance(rule, _Rule) and rule.pattern.search(out) is None:
                continue
            out = self._apply(rule, out, findings)
        if self.ip_addresses != "off":
            out = self._redact_ips(out, findings)
        if self.entropy:
            out = self._redact_entropy(out, findings)
        return out

    @staticmethod
    def _apply(rule: _Rule | _Finder, text: str, findings: Counter[str]) -> str:
        if isinstance(rule, _Finder):
            return _apply_finder(rule, text, findings)

        def replace(match: re.Match[str]) -> str:
            secret = match.group(rule.group)
            # A value holding a mask was named by a more specific rule ("Set-Cookie: sid=[REDACTED:...").
            if not secret or "[REDACTED:" in secret:
                return match.group(0)
            if rule.check is not None and not rule.check(secret):
                return match.group(0)
            findings[rule.kind] += 1
            mask = MASK.format(kind=rule.kind)
            if secret[:1] in "\"'" and secret[-1:] == secret[:1] and len(secret) >= 2:
                mask = f"{secret[0]}{mask}{secret[0]}"
            start = match.start(rule.group) - match.start(0)
            end = match.end(rule.group) - match.start(0)
            whole = match.group(0)
            return whole[:start] + mask + whole[end:]

        return rule.pattern.sub(replace, text)

    def _ip_is_secret(self, value: str) -> bool:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        if self.ip_addresses == "public":
            return not any(address in network for network in _INTERNAL_NETWORKS)
        return True

    def _redact_ips(self, text: str, findings: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            value = match.group(0)
            if ":" in value and value.count(":") < 2:
                return value
            if not self._ip_is_secret(value):
                return value
            findings["ip_address"] += 1
            return MASK.format(kind="ip_address")

        out = _IPV4.sub(replace, text)
        # IPv6 needs "::" or many groups: "17:20:33" (a time) is three groups and not an address.
        return _IPV6.sub(
            lambda m: replace(m) if ("::" in m.group(0) or m.group(0).count(":") >= 5) else m.group(0), out
        )

    def _redact_entropy(self, text: str, findings: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if not _looks_random(token.strip("=")):
                return token
            findings["high_entropy"] += 1
            return MASK.format(kind="high_entropy")

        return _TOKEN.sub(replace, text)

    # ---- structures -------------------------------------------------------------------------------

    def redact_value(self, value: Any) -> Any:
        """Redact a JSON-like value (dicts, lists, strings, numbers) and return a cleaned copy.

        >>> Redactor().redact_value({"user": "jane@example.com", "retries": 3})
        {'user': '[REDACTED:email]', 'retries': 3}
        """
        return self._redact_value(value, Counter())

    def _redact_value(self, value: Any, findings: Counter[str], key: str | None = None) -> Any:
        if key is not None and _SECRET_KEY_RE.match(key) and _has_content(value):
            findings["secret"] += 1
            return MASK.format(kind="secret")
        if isinstance(value, dict):
            return {k: self._redact_value(v, findings, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v, findings) for v in value]
        if isinstance(value, str):
            result = self.redact_with_findings(value)
            findings.update(result.findings)
            if not result.changed and key is not None and _PII_KEY_RE.match(key) and value.strip():
                findings["pii"] += 1
                return MASK.format(kind="pii")
            return result.text
        if isinstance(value, int) and not isinstance(value, bool):
            # Card numbers and phone numbers arrive as JSON numbers too.
            result = self.redact_with_findings(str(value))
            if result.changed:
                findings.update(result.findings)
                return result.text
        return value

    def redact_log(self, record: LogRecord) -> LogRecord:
        """A copy of ``record`` with message and attributes redacted."""
        return record.model_copy(
            update={
                "message": self.redact(record.message),
                "attributes": self.redact_value(record.attributes),
            }
        )


def _apply_finder(finder: _Finder, text: str, findings: Counter[str]) -> str:
    parts: list[str] = []
    position = 0
    for start, end in finder.spans(text):
        parts += [text[position:start], MASK.format(kind=finder.kind)]
        findings[finder.kind] += 1
        position = end
    return "".join(parts) + text[position:] if parts else text


def _has_content(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not _MASKED.fullmatch(value.strip())
    if isinstance(value, dict | list):
        return bool(value)
    return True


__all__ = ["MASK", "IpPolicy", "RedactionResult", "Redactor"]
