"""Small helpers shared by the routers: durations in queries, pages, safe datetimes from payloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import HTTPException, status

from forewarn.api.schemas import Page
from forewarn.store.db import Page as StorePage
from forewarn.store.records import payload_time

T = TypeVar("T")

DURATION_PATTERN = r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smhdw]?)\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str, *, name: str = "duration") -> float:
    """'900', '90s', '15m', '2h', '7d', '1w' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"{name} must be a number of seconds or a duration like 15m, 2h, 7d; got {text!r}",
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def to_page(page: StorePage, convert: Callable[[dict[str, Any]], T]) -> Page[T]:
    end = page.offset + len(page.items)
    return Page[T](
        items=[convert(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_offset=end if end < page.total else None,
    )


def when(value: Any) -> datetime | None:
    """A payload's timestamp (ISO string or epoch) as an aware datetime, None if absent or bad."""
    return payload_time(value)
