"""``/v1/detections``: what the online detectors flagged, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from forewarn.api._util import to_page
from forewarn.api.deps import Paging, State, TimeRange, paging, reader, time_range
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import Detection, Page, errors
from forewarn.store.records import Kind

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/detections",
    tags=["detections"],
    dependencies=[Depends(reader)],
    responses=errors(400, 401, 404),
)


@router.get("", response_model=Page[Detection], summary="Detections, newest first")
def list_detections(
    app: State,
    page: Annotated[Paging, Depends(paging)],
    window: Annotated[TimeRange, Depends(time_range)],
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    kind: Annotated[
        str | None, Query(min_length=1, max_length=64, description="e.g. failure, latency_anomaly")
    ] = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
) -> Page[Detection]:
    found = app.store.page(
        Kind.DETECTION,
        service=service,
        since=window.since,
        until=window.until,
        filters={"detection_kind": kind, "severity": severity},
        limit=page.limit,
        offset=page.offset,
    )
    return to_page(found, Detection.model_validate)


@router.get("/{detection_id}", response_model=Detection, summary="One detection")
def get_detection(app: State, detection_id: str) -> Detection:
    item = app.store.get(Kind.DETECTION, detection_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no detection with id {detection_id!r}")
    return Detection.model_validate(item)
