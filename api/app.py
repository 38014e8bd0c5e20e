"""The FastAPI application: one router per resource, state injected, metrics on ``/metrics``.

Why a factory: the store, settings, registry, clock and the healing/LLM hooks are all passed in, so
tests build an app over a temp SQLite store and a test double, and ``forewarn api`` (or the demo)
builds one over the real ones.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from forewarn import __version__
from forewarn.api import actions, detections, forecasts, health, incidents, services
from forewarn.api.auth import ApiKeys
from forewarn.api.control import HealingControl, LlmBudget
from forewarn.api.deps import AppState
from forewarn.metrics import api_metrics
from forewarn.settings import Settings
from forewarn.store.collector import StoreCollector
from forewarn.store.db import Store

__all__ = ["create_app"]

DESCRIPTION = """\
Forecasts, detections, incidents, healing actions, service SLOs and forewarn's own health.

Authenticate with an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Read keys may
call every GET; admin keys may also approve or deny pending actions, trigger actions and flip the
kill switch. Lists are paginated (`limit`, `offset`; `next_offset` is null on the last page) and
filter by time with `since` / `until` (ISO 8601). Errors are JSON with a `detail` message.
"""


def create_app(
    store: Store,
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    healing: HealingControl | None = None,
    llm_budget: LlmBudget | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the API. ``registry`` gets the API and store metrics; ``/metrics`` serves it."""
    registry = registry if registry is not None else CollectorRegistry()
    app = FastAPI(title="forewarn API", version=__version__, description=DESCRIPTION)
    app.state.forewarn = AppState(
        store=store,
        settings=settings,
        keys=ApiKeys(
            read=tuple(k.get_secret_value() for k in settings.api.read_keys),
            admin=tuple(k.get_secret_value() for k in settings.api.admin_keys),
            allow_anonymous_read=settings.api.allow_anonymous_read,
        ),
        healing=healing,
        llm_budget=llm_budget,
        clock=clock,
    )
    registry.register(StoreCollector(store, settings, clock=clock))
    metrics = api_metrics(registry)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(route=template, method=request.method, status=str(response.status_code)).inc()
        metrics.duration.labels(route=template).observe(time.perf_counter() - started)
        return response

    for module in (forecasts, detections, incidents, actions, services, health):
        app.include_router(module.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # RFC 9110: a 405 must say which methods the resource does support.
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=headers)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)
