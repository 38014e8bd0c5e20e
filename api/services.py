"""``/v1/services``: health (latest probe), dependency graph, SLO status and downtime cost per service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from forewarn.api._util import when
from forewarn.api.deps import AppState, State, reader
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import Cost, ServiceOut, SloOut, errors
from forewarn.store.records import Kind
from forewarn.store.slo import downtime, outage_cost
from forewarn.store.views import service_outages, service_slo

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/services",
    tags=["services"],
    dependencies=[Depends(reader)],
    responses=errors(401, 404),
)


class Edge(BaseModel):
    service: str
    depends_on: str


class Graph(BaseModel):
    nodes: list[str]
    edges: list[Edge]


def _names(app: AppState) -> list[str]:
    deps = app.settings.dependencies
    names = set(app.settings.slo.services) | set(app.store.services()) | set(deps)
    names |= {d for up in deps.values() for d in up}
    names |= {t.service for t in app.settings.probe.resolved_targets()}
    return sorted(names)


def _dependents(app: AppState, name: str) -> list[str]:
    return sorted(s for s, up in app.settings.dependencies.items() if name in up)


def _service(app: AppState, name: str) -> ServiceOut:
    now = app.clock()
    latest = app.store.page(Kind.PROBE, service=name, limit=1).items
    health = "unknown"
    last_probe = None
    if latest:
        probe = latest[0]
        health = str(probe.get("status") or ("ok" if probe.get("ok") else "down"))
        if health == "error":
            health = "down"
        last_probe = when(probe.get("timestamp"))
    window = app.settings.slo.window_days * 86400.0
    seconds = downtime(service_outages(app.store, name, now - window, now), now - window, now)
    cost = outage_cost(name, seconds, app.settings.slo)
    return ServiceOut(
        name=name,
        health=health,
        last_probe_at=last_probe,
        depends_on=list(app.settings.dependencies.get(name, [])),
        dependents=_dependents(app, name),
        slo=[
            SloOut(
                objective=s.objective,
                target=s.target,
                sli=s.sli,
                good=s.good,
                total=s.total,
                error_budget_remaining=s.error_budget_remaining,
                burn_rates=s.burn_rates,
                alerts=[
                    f"{a.severity}: {a.long_window_seconds / 3600:g}h/{a.short_window_seconds / 60:g}m "
                    f"burn {a.long_burn_rate:.1f}/{a.short_burn_rate:.1f} > {a.factor:g}"
                    for a in s.alerts
                ],
            )
            for s in service_slo(app.store, name, now, app.settings.slo)
        ],
        downtime_cost=Cost(
            downtime_minutes=cost.downtime_minutes,
            cost=cost.cost,
            users_affected=cost.users_affected,
            currency=cost.currency,
        ),
    )


@router.get("", response_model=list[ServiceOut], summary="Every known service with health and SLOs")
def list_services(app: State) -> list[ServiceOut]:
    return [_service(app, name) for name in _names(app)]


@router.get("/graph", response_model=Graph, summary="The dependency graph (from configuration)")
def graph(app: State) -> Graph:
    edges = [Edge(service=s, depends_on=d) for s, up in sorted(app.settings.dependencies.items()) for d in up]
    return Graph(nodes=_names(app), edges=edges)


@router.get("/{name}", response_model=ServiceOut, summary="One service")
def get_service(app: State, name: Annotated[str, "service name"]) -> ServiceOut:
    if name not in _names(app):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown service {name!r}")
    return _service(app, name)
