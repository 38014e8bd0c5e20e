"""``/v1/forecasts``: point forecast, interval, breach probability and time to exhaustion per series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from forewarn.api._util import DURATION_PATTERN, parse_duration, to_page
from forewarn.api.deps import Paging, State, TimeRange, paging, reader, time_range
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import ForecastOut, Page, errors
from forewarn.events import ForecastEvent
from forewarn.store.records import Kind

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/forecasts",
    tags=["forecasts"],
    dependencies=[Depends(reader)],
    responses=errors(400, 401),
)


@router.get("", response_model=Page[ForecastOut], summary="Forecasts, newest first")
def list_forecasts(
    app: State,
    page: Annotated[Paging, Depends(paging)],
    window: Annotated[TimeRange, Depends(time_range)],
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    metric: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    horizon: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            pattern=DURATION_PATTERN,
            description="Horizon in seconds or as 15m, 1h, 1d.",
        ),
    ] = None,
    latest: Annotated[bool, Query(description="Only the newest forecast per service/metric/horizon.")] = True,
) -> Page[ForecastOut]:
    horizon_seconds = None if horizon is None else parse_duration(horizon, name="horizon")
    found = app.store.page(
        Kind.FORECAST,
        service=service,
        since=window.since,
        until=window.until,
        filters={"metric": metric, "horizon_seconds": horizon_seconds},
        limit=page.limit,
        offset=page.offset,
        latest_per=("service", "metric", "horizon_seconds") if latest else (),
    )
    now = app.clock()

    def convert(item: dict[str, Any]) -> ForecastOut:
        event = ForecastEvent.model_validate(item)
        age = max(0.0, now - event.timestamp.timestamp())
        return ForecastOut(**dict(event), age_seconds=age)

    return to_page(found, convert)
