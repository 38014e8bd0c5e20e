"""The FastAPI application: one router per resource, state injected, metrics on ``/metrics``.

Why a factory: the store, settings, registry, clock and the healing/LLM hooks are all passed in, so
tests build an app over a temp SQLite store and a test double, and ``forewarn api`` (or the demo)
builds one over the real ones.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from forewarn import __version__
from forewarn.api import actions, detections, forecasts, health, incidents, services
from forewarn.api.auth import ApiKeys
from forewarn.api.control import HealingControl, LlmBudget
from forewarn.api.deps import AppState
from forewarn.body_limit import BodyLimit
from forewarn.field_crypto import StorageKeyError
from forewarn.metrics import api_metrics
from forewarn.rate_limit import RateLimiter
from forewarn.security_headers import SecurityHeaders
from forewarn.settings import Settings
from forewarn.store.collector import StoreCollector
from forewarn.store.db import Store

__all__ = ["create_app"]

log = logging.getLogger(__name__)
# Error replies say what went wrong and where, never what was sent: a detail is cut to this length.
MAX_DETAIL = 300

DESCRIPTION = """\
Forecasts, detections, incidents, healing actions, service SLOs and forewarn's own health.

Authenticate with an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Read keys may
call every GET; admin keys may also approve or deny pending actions, trigger actions and flip the
kill switch. Lists are paginated (`limit`, `offset`; `next_offset` is null on the last page) and
filter by time with `since` / `until` (ISO 8601). Errors are JSON with a `detail` message (422: the
fields at fault, without the values sent; 500: a request id to find the server's log line).

Limits: request bodies over `api.max_body_bytes` (64 KiB) get 413; each key may make
`api.rate_limit_burst` calls at once, then `api.rate_limit_per_minute`, else 429 with `Retry-After`.
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
            read=(k.get_secret_value() for k in settings.api.read_keys),
            admin=(k.get_secret_value() for k in settings.api.admin_keys),
            allow_anonymous_read=settings.api.allow_anonymous_read,
            keys_file=settings.api.keys_file,
        ),
        limiter=RateLimiter(settings.api.rate_limit_per_minute, settings.api.rate_limit_burst),
        healing=healing,
        llm_budget=llm_budget,
        clock=clock,
    )
    registry.register(StoreCollector(store, settings, clock=clock))
    metrics = api_metrics(registry)
    # Innermost middleware (added first): the router reads the body straight through it, so a streamed
    # body's 413 is a plain HTTPException (through the metrics middleware's task group it would be
    # wrapped in an ExceptionGroup and answered 400), and the 413s are counted in the metrics.
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)

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

    app.add_middleware(SecurityHeaders, private_prefixes=("/v1/",))  # outermost: every reply has them
    for module in (forecasts, detections, incidents, actions, services, health):
        app.include_router(module.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # RFC 9110: a 405 must say which methods the resource does support.
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        return JSONResponse({"detail": _short(error.detail)}, status_code=error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        return JSONResponse({"detail": _fields(error)}, status_code=422)

    @app.exception_handler(StorageKeyError)
    async def sealed(request: Request, error: StorageKeyError) -> Response:
        # A server misconfiguration, not a bug: say so (503), keep which row and key for the log.
        ident = uuid.uuid4().hex[:16]
        log.error("request %s: %s %s: %s", ident, request.method, request.url.path, error)
        return JSONResponse(
            {
                "detail": "stored data is encrypted with a storage key this server does not have "
                f"(security.storage_keys); request id {ident}"
            },
            status_code=503,
            headers={"X-Request-ID": ident},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        ident = uuid.uuid4().hex[:16]
        log.error("request %s: %s %s failed", ident, request.method, request.url.path, exc_info=error)
        return JSONResponse(
            {"detail": f"internal error (request id {ident})"},
            status_code=500,
            headers={"X-Request-ID": ident},
        )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _short(detail: Any) -> Any:
    """A detail message cut to :data:`MAX_DETAIL` characters (ids in 404s are the caller's input)."""
    if isinstance(detail, str) and len(detail) > MAX_DETAIL:
        return detail[: MAX_DETAIL - 1] + "…"
    return detail


def _fields(error: RequestValidationError) -> list[dict[str, Any]]:
    """The 422 body: where and what, never the input (``input`` and ``ctx`` echo what was sent)."""
    return [
        {"loc": list(item.get("loc", ())), "msg": _short(str(item.get("msg"))), "type": item.get("type")}
        for item in error.errors()
    ]


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)
