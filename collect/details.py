"""Fit arbitrary decoded JSON into the flat ``Details`` shape that events carry.

Why: health bodies and JSON log lines come from code we do not control. They may nest deeply, hold
NaN, or be huge; ``forewarn.events.Details`` only allows scalars, lists of scalars and one level of
dicts of scalars. Rejecting such input would drop a real signal (a probe of a sick service tends to
return odd bodies), so we reshape it instead: nested objects become dotted keys, anything else
becomes a short JSON string, and the result is bounded in keys and text length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from forewarn.events import Details, Scalar

MAX_KEYS = 64
MAX_TEXT = 512
MAX_LIST = 32


def clean_text(text: str, limit: int | None = None) -> str:
    """Make a string valid UTF-8: JSON escapes can smuggle in lone surrogates that pydantic rejects."""
    cut = text if limit is None else text[:limit]
    try:
        cut.encode("utf-8")
    except UnicodeEncodeError:
        cut = cut.encode("utf-8", errors="replace").decode("utf-8")
    return cut


def _scalar(value: Any) -> tuple[bool, Scalar]:
    """Return (is_scalar, cleaned) for one value; floats that are not finite become None."""
    if value is None or isinstance(value, bool | int):
        return True, value
    if isinstance(value, float):
        return True, value if math.isfinite(value) else None
    if isinstance(value, str):
        return True, clean_text(value, MAX_TEXT)
    return False, None


def _text(value: Any) -> str:
    try:
        encoded = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        encoded = repr(value)
    return clean_text(encoded, MAX_TEXT)


def _flat_scalars(prefix: str, value: Mapping[Any, Any], out: dict[str, Scalar], budget: int) -> None:
    for key, item in value.items():
        if len(out) >= budget:
            return
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            _flat_scalars(name, item, out, budget)
            continue
        is_scalar, cleaned = _scalar(item)
        out[clean_text(name, MAX_TEXT)] = cleaned if is_scalar else _text(item)


def coerce_details(document: Mapping[Any, Any], max_keys: int = MAX_KEYS) -> Details:
    """Reshape a JSON object into ``Details`` without losing what it says.

    >>> coerce_details({"pool": {"in_use": 9, "size": 10}, "tags": ["a", 1], "deep": {"x": {"y": 1}}})
    {'pool': {'in_use': 9, 'size': 10}, 'tags': ['a', 1], 'deep': {'x.y': 1}}
    >>> coerce_details({"bad": float("nan"), "obj": [{"a": 1}]})
    {'bad': None, 'obj': '[{"a": 1}]'}
    """
    result: Details = {}
    for key, value in document.items():
        if len(result) >= max_keys:
            result["_truncated_keys"] = len(document) - max_keys
            break
        name = clean_text(str(key), MAX_TEXT)
        is_scalar, cleaned = _scalar(value)
        if is_scalar:
            result[name] = cleaned
        elif isinstance(value, list | tuple):
            items = [_scalar(item) for item in value[:MAX_LIST]]
            if len(value) <= MAX_LIST and all(ok for ok, _ in items):
                result[name] = [item for _, item in items]
            else:
                result[name] = _text(value)
        elif isinstance(value, Mapping):
            inner: dict[str, Scalar] = {}
            _flat_scalars("", value, inner, MAX_KEYS)
            result[name] = inner
        else:
            result[name] = _text(value)
    return result


__all__ = ["clean_text", "coerce_details"]
