"""The MusoBuddy demo app: health endpoints, fault injection and (see admin_api) the admin API.

Why an app factory with injected clocks: tests build one app per test with its own config and a clock
they move by hand, so a 45-minute leak runs in milliseconds and nothing is shared between tests.
``clock`` drives the simulation (monotonic seconds); ``wall_clock`` stamps logs, reports and admin
signatures (epoch seconds).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from forewarn.body_limit import BodyLimit
from forewarn.musobuddy.applog import AppLog
from forewarn.musobuddy.auth_flow import SyntheticLogin
from forewarn.musobuddy.config import MusoBuddyConfig, load_config
from forewarn.musobuddy.faults import FAULTS, FaultParamError, FaultParams, resolve_params
from forewarn.musobuddy.health import HEALTH_ENDPOINTS, HealthChecker, HealthReport
from forewarn.musobuddy.metrics import AppMetrics
from forewarn.musobuddy.simulation import Simulation
from forewarn.security_headers import SecurityHeaders

# Nothing the demo takes (fault parameters, admin actions) comes near this; refused before it is read.
MAX_BODY_BYTES = 64 * 1024


@dataclass
class MusoBuddy:
    """Everything one app instance owns; reachable as ``app.state.musobuddy`` (tests use it)."""

    config: MusoBuddyConfig
    simulation: Simulation
    checker: HealthChecker
    log: AppLog
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    metrics: AppMetrics


def create_app(
    config: MusoBuddyConfig | None = None,
    clock: Callable[[], float] = time.monotonic,
    *,
    wall_clock: Callable[[], float] = time.time,
    log: AppLog | None = None,
) -> FastAPI:
    """Build a fresh app; ``config`` defaults to ``load_config()`` (YAML via MUSOBUDDY_CONFIG, env)."""
    config = config or load_config()
    rng = random.Random(config.seed)
    if log is None:
        log = AppLog(
            path=config.log_file,
            stream=sys.stdout if config.log_stdout else None,
            level=config.log_level,
            service=config.service_name,
            wall_clock=wall_clock,
        )
    simulation = Simulation(config, clock, log, rng)
    login = SyntheticLogin(
        config.auth.test_user, config.auth.pbkdf2_iterations, config.auth.session_ttl_seconds, wall_clock
    )
    checker = HealthChecker(config, login, log, rng, wall_clock)
    owned_log = log

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owned_log.info(
            "musobuddy.app", f"{config.service_name} {config.version} started", version=config.version
        )
        yield
        owned_log.info("musobuddy.app", f"{config.service_name} stopping")

    app = FastAPI(
        title="MusoBuddy (forewarn demo service)",
        version=config.version,
        description="A simulated booking backend for musicians with fault injection and a signed admin API.",
        lifespan=lifespan,
    )
    metrics = AppMetrics(simulation)
    app.state.musobuddy = MusoBuddy(config, simulation, checker, log, clock, wall_clock, metrics)
    _add_error_handlers(app, log)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    # Admin replies (audit records, key ids, a rotated secret) must never sit in a cache.
    app.add_middleware(SecurityHeaders, private_prefixes=("/api/admin",))
    _add_request_observer(app, log if config.log_requests else None, metrics)
    _add_health_routes(app)
    _add_fault_routes(app)
    from forewarn.musobuddy.admin_api import add_admin_routes

    add_admin_routes(app)
    return app


def get_muso(request: Request) -> MusoBuddy:
    muso = request.app.state.musobuddy
    assert isinstance(muso, MusoBuddy)
    return muso


def _add_error_handlers(app: FastAPI, log: AppLog) -> None:
    """Every error is JSON with a ``detail``; validation errors never echo the raw input back.

    Why: FastAPI's default 422 body echoes the input, which fails to serialise for values such as
    1e400 (infinity) and turns a bad request into a 500.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg")),
                "type": err.get("type"),
            }
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        ident = uuid.uuid4().hex[:16]
        log.error(
            "musobuddy.app",
            f"request {ident}: unhandled {type(exc).__name__} on {request.method} {request.url.path}: {exc}",
        )
        return JSONResponse(
            {"detail": f"internal error (request id {ident})"},
            status_code=500,
            headers={"X-Request-ID": ident},
        )


def _add_request_observer(app: FastAPI, log: AppLog | None, metrics: AppMetrics) -> None:
    """Count and time every request (by route template, so label values stay few) and log its line."""

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        seconds = time.perf_counter() - started
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.observe(request.method, template, response.status_code, seconds)
        if log is None:
            return response
        duration = seconds * 1000
        level = "WARNING" if response.status_code >= 500 else "INFO"
        log.log(
            level,
            "musobuddy.http",
            f"{request.method} {request.url.path} {response.status_code} {duration:.1f} ms",
            method=request.method,
            path=request.url.path,
            status_code=response.status_code,
            duration_ms=round(duration, 2),
        )
        return response


def _add_health_routes(app: FastAPI) -> None:
    @app.get("/", summary="What this service is")
    async def root(request: Request) -> dict[str, Any]:
        muso = get_muso(request)
        return {
            "service": muso.config.service_name,
            "version": muso.simulation.snapshot().version,
            "health": [f"/api/health/{name}" for name in HEALTH_ENDPOINTS],
            "faults": "/api/faults",
            "admin": "/api/admin/* (HMAC-signed)",
        }

    @app.get(
        "/api/health/{name}",
        response_model=HealthReport,
        responses={503: {"model": HealthReport, "description": "The subsystem is down"}},
        summary="Health of one subsystem: auth, database, email, sms, payments or overall",
    )
    async def health(name: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        if name not in HEALTH_ENDPOINTS:
            raise HTTPException(
                404, f"unknown health endpoint {name!r}; known: {', '.join(HEALTH_ENDPOINTS)}"
            )
        muso = get_muso(request)
        # The login check burns real CPU (PBKDF2): run it off the event loop so other requests flow.
        report = await asyncio.to_thread(lambda: muso.checker.report(name, muso.simulation.snapshot()))
        if muso.config.simulate_latency:
            # Really take the simulated time, so a probe measuring over HTTP sees it.
            target = min(report.latency_ms, muso.config.max_sleep_ms) / 1000.0
            remaining = target - (time.perf_counter() - started)
            if remaining > 0:
                await asyncio.sleep(remaining)
        return JSONResponse(
            report.model_dump(mode="json"), status_code=503 if report.status == "down" else 200
        )

    @app.get("/metrics", summary="Prometheus metrics: simulated resources, faults, requests")
    async def prometheus(request: Request) -> Response:
        registry = get_muso(request).metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/state", summary="The simulated state (for demos and debugging)")
    async def state(request: Request) -> dict[str, Any]:
        snap = get_muso(request).simulation.snapshot()
        data = {name: getattr(snap, name) for name in snap.__slots__}
        data.update(
            db_pool_usage=round(snap.db_pool_usage, 4),
            memory_usage=round(snap.memory_usage, 4),
            disk_usage=round(snap.disk_usage, 4),
        )
        return data


def _add_fault_routes(app: FastAPI) -> None:
    def _spec(name: str) -> None:
        if name not in FAULTS:
            raise HTTPException(404, f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULTS))}")

    @app.get("/api/faults", summary="Active faults and the catalogue of injectable ones")
    async def list_faults(request: Request) -> dict[str, Any]:
        return {
            "active": get_muso(request).simulation.active_faults(),
            "available": [
                {
                    "name": spec.name,
                    "description": spec.description,
                    "rate_unit": spec.rate_unit,
                    "default_rate": spec.default_rate,
                    "max_rate": spec.max_rate,
                    "accepts_provider": spec.accepts_provider,
                    "persistent_allowed": spec.leak,
                    "flap_allowed": spec.can_flap,
                }
                for spec in FAULTS.values()
            ],
        }

    @app.post(
        "/api/faults/{name}", summary="Inject a fault (optional JSON body: rate, duration_seconds, ...)"
    )
    async def inject(
        name: str, request: Request, params: Annotated[FaultParams | None, Body()] = None
    ) -> dict[str, Any]:
        _spec(name)
        try:
            resolved = resolve_params(FAULTS[name], params or FaultParams())
        except FaultParamError as exc:
            raise HTTPException(422, str(exc)) from exc
        sim = get_muso(request).simulation
        fault, replaced = sim.inject(name, resolved)
        return {"fault": fault.describe(sim.clock()), "replaced": replaced}

    @app.delete("/api/faults/{name}", summary="Stop one fault (damage already done stays until healed)")
    async def clear(name: str, request: Request) -> dict[str, Any]:
        _spec(name)
        removed = get_muso(request).simulation.clear_fault(name)
        return {"fault": name, "removed": removed}

    @app.delete("/api/faults", summary="Stop every fault; reset_state=true also restores the baseline state")
    async def clear_all(
        request: Request, reset_state: Annotated[bool, Query(description="Also undo all damage.")] = False
    ) -> dict[str, Any]:
        cleared = get_muso(request).simulation.clear_all_faults(reset_state)
        return {"cleared": cleared, "state_reset": reset_state}
