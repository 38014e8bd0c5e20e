"""Shared FastAPI dependencies: the app's wiring, authentication, pagination and time ranges."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from forewarn.api.auth import ApiKeys, Caller, Scope
from forewarn.api.control import HealingControl, LlmBudget
from forewarn.rate_limit import RateLimiter
from forewarn.settings import Settings
from forewarn.store.db import Store

__all__ = ["AppState", "Paging", "TimeRange", "admin", "paging", "reader", "state", "time_range"]


@dataclass
class AppState:
    """Everything the routes use, injected once by ``create_app`` (tests pass their own)."""

    store: Store
    settings: Settings
    keys: ApiKeys
    limiter: RateLimiter
    healing: HealingControl | None = None
    llm_budget: LlmBudget | None = None
    clock: Callable[[], float] = field(default=time.time)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.forewarn
    return app_state


State = Annotated[AppState, Depends(state)]
UNAUTHORIZED = "missing or unknown API key: send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"
FORBIDDEN = "this operation needs an API key with admin scope"

_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (read or admin scope)."
)
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def caller(
    app: State,
    key: Annotated[str | None, Depends(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return app.keys.identify(key or (bearer.credentials if bearer else None))


def reader(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Any valid key. ``forewarn.api.guard`` checks the same before the request is read."""
    if who.scope is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
        )
    return who


def admin(who: Annotated[Caller, Depends(reader)]) -> Caller:
    """An admin key. ``forewarn.api.guard`` checks the same before the request is read."""
    if who.scope is not Scope.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=FORBIDDEN)
    return who


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


def paging(
    app: State,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
) -> Paging:
    if limit > app.settings.api.max_page_size:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"limit must be at most {app.settings.api.max_page_size}"
        )
    return Paging(limit, offset)


@dataclass(frozen=True, slots=True)
class TimeRange:
    since: datetime | None
    until: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# RFC 3339 date-time, as the OpenAPI ``format: date-time`` promises: a zone is required, so a time is
# never silently read in the server's zone, and epoch numbers are refused rather than guessed at.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time with a zone, e.g. 2026-11-20T12:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


def time_range(
    since: Annotated[
        Timestamp | None,
        Query(description="Only events at or after this time (RFC 3339, e.g. 2026-11-20T12:00:00Z)."),
    ] = None,
    until: Annotated[Timestamp | None, Query(description="Only events before this time (RFC 3339).")] = None,
) -> TimeRange:
    try:
        start, end = _aware(since), _aware(until)
    except (OverflowError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="since/until out of range") from None
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="'since' must be earlier than 'until'")
    return TimeRange(start, end)
