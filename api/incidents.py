"""``/v1/incidents``: incidents with their (LLM-written, advisory) report and business impact."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from forewarn.api._util import to_page
from forewarn.api.deps import AppState, Paging, State, TimeRange, paging, reader, time_range
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import Cost, IncidentOut, Page, errors
from forewarn.events import Incident
from forewarn.store.records import Kind
from forewarn.store.views import incident_impact, incident_report

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/incidents",
    tags=["incidents"],
    dependencies=[Depends(reader)],
    responses=errors(400, 401, 404),
)


def _out(app: AppState, item: dict[str, Any], with_impact: bool) -> IncidentOut:
    incident = Incident.model_validate(item)
    impact = incident_impact(app.store, incident, app.clock(), app.settings.slo) if with_impact else None
    return IncidentOut(
        **dict(incident),
        title=incident.report.title if incident.report is not None else None,
        report_markdown=incident_report(incident),
        impact=None
        if impact is None
        else Cost(
            downtime_minutes=impact.downtime_minutes,
            cost=impact.cost,
            users_affected=impact.users_affected,
            currency=impact.currency,
        ),
    )


@router.get("", response_model=Page[IncidentOut], summary="Incidents, newest first, with reports")
def list_incidents(
    app: State,
    page: Annotated[Paging, Depends(paging)],
    window: Annotated[TimeRange, Depends(time_range)],
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    incident_status: Annotated[str | None, Query(alias="status", min_length=1, max_length=32)] = None,
    severity: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    impact: Annotated[bool, Query(description="Compute downtime cost and users affected.")] = True,
) -> Page[IncidentOut]:
    found = app.store.page(
        Kind.INCIDENT,
        service=service,
        since=window.since,
        until=window.until,
        filters={"status": incident_status, "severity": severity},
        limit=page.limit,
        offset=page.offset,
    )
    return to_page(found, lambda item: _out(app, item, impact))


@router.get("/{incident_id}", response_model=IncidentOut, summary="One incident with its report")
def get_incident(app: State, incident_id: str) -> IncidentOut:
    item = app.store.get(Kind.INCIDENT, incident_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no incident with id {incident_id!r}")
    return _out(app, item, True)
