"""Authentication before anything else, on every route: key, rate limit, scope, then the route.

Why a route class: FastAPI reads and validates the body and the query together with a route's
dependencies, so a caller without a key got a 422 that described a valid request, and made the
server parse whatever it sent. :class:`GuardedRoute` looks at the scope the route asks for (it
depends on ``reader`` or ``admin``) and checks the caller before FastAPI reads the request: 401 for
no or an unknown key, 403 for a read key on an admin route. Each call first takes a token from the
caller's bucket (per key; per client address for a missing or wrong key, so guessing keys is slowed
too): 429 with ``Retry-After`` once it is empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from forewarn.api.auth import Caller, Scope, presented_key
from forewarn.api.deps import FORBIDDEN, UNAUTHORIZED, admin, reader, state
from forewarn.rate_limit import retry_after_header

__all__ = ["GuardedRoute", "admit", "required_scope"]


def required_scope(dependant: Dependant) -> Scope | None:
    """ADMIN if the route (or any of its dependencies) depends on ``admin``, READ for ``reader``."""
    found: set[Scope] = set()
    todo = [dependant]
    while todo:
        current = todo.pop()
        if current.call is admin:
            found.add(Scope.ADMIN)
        elif current.call is reader:
            found.add(Scope.READ)
        todo.extend(current.dependencies)
    if Scope.ADMIN in found:
        return Scope.ADMIN
    return Scope.READ if found else None


def admit(request: Request, needed: Scope) -> Caller:
    """The caller, if it may call a route that needs ``needed`` now; else the 429, 401 or 403."""
    app = state(request)
    who = app.keys.identify(
        presented_key(request.headers.get("x-api-key"), request.headers.get("authorization"))
    )
    keyed = who.scope is not None and who.name != "anonymous"
    client = request.client.host if request.client else "unknown"
    wait = app.limiter.acquire(who.name if keyed else f"{who.name}@{client}", time.monotonic())
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit exceeded ({app.settings.api.rate_limit_per_minute:g} calls/min per key, "
            f"burst {app.settings.api.rate_limit_burst}); retry in {wait:.1f} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    if who.scope is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
        )
    if needed is Scope.ADMIN and who.scope is not Scope.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=FORBIDDEN)
    return who


class GuardedRoute(APIRoute):
    """An ``APIRoute`` that runs :func:`admit` before FastAPI reads the request (if it needs a key)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needed = required_scope(self.dependant)
        if needed is None:
            return handler
        scope = needed

        async def guarded(request: Request) -> Response:
            admit(request, scope)
            return await handler(request)

        return guarded
