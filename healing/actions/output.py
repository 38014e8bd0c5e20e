"""What an action's captured output may look like in the audit trail: short, and without secrets.

Why here and basic: a command's stdout can print a token or a password, and the audit trail is kept
for months and exported. The responder injects the full incident redactor (``incidents/redact.py``,
which healing cannot import); without it this conservative fallback masks ``key=value`` pairs whose
key looks secret, ``Authorization``/``Bearer`` credentials and URL passwords.
"""

from __future__ import annotations

import re

_SECRET_PAIR = re.compile(
    r"(?i)\b([A-Za-z0-9_.\-]*(?:passw(?:or)?d|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|credentials?|auth)[A-Za-z0-9_.\-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9+/_.~\-]{8,}=*")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)")


def basic_redact(text: str) -> str:
    """Mask the secret-looking parts of ``text``.

    >>> basic_redact("ok DB_PASSWORD=hunter2 curl -H 'Authorization: Bearer abcdefghijkl'")
    "ok DB_PASSWORD=[REDACTED] curl -H 'Authorization: [REDACTED]'"
    >>> basic_redact("postgresql://app:s3cret@db:5432/app")
    'postgresql://app:[REDACTED]@db:5432/app'
    """
    text = _URL_PASSWORD.sub(r"\1[REDACTED]\3", text)
    text = _BEARER.sub("[REDACTED]", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)


def tail(data: bytes, limit: int) -> tuple[str, bool]:
    """The last ``limit`` bytes as text (the end of a failing command's output says why); truncated?"""
    cut = len(data) > limit
    return data[-limit:].decode("utf-8", "replace") if limit else "", cut


__all__ = ["basic_redact", "tail"]
