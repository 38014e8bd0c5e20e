"""``/v1/health``: meta-monitoring of forewarn itself (is the monitor alive and current?)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from forewarn.api.deps import State, reader
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import HealthOut, TopicHealth, errors
from forewarn.store.records import Kind

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/health",
    tags=["health"],
    dependencies=[Depends(reader)],
    responses=errors(401),
)


@router.get(
    "", response_model=HealthOut, summary="Pipeline lag, topic freshness, models, LLM budget, executor"
)
def health(app: State) -> HealthOut:
    now = app.clock()
    topics = app.store.topics()
    newest = max((t.last_event_ts for t in topics if t.last_event_ts is not None), default=None)
    lag = None if newest is None else max(0.0, now - newest)
    # Stale: nothing new for three probe intervals; the probes alone should have arrived by then.
    stale_after = 3 * app.settings.probe.interval_seconds
    engine = app.healing
    return HealthOut(
        status="ok" if lag is not None and lag <= stale_after else "stale",
        now=app.now(),
        pipeline_lag_seconds=lag,
        topics=[
            TopicHealth(
                topic=t.topic,
                messages=t.messages,
                rejected=t.rejected,
                last_event_age_seconds=None if t.last_event_ts is None else max(0.0, now - t.last_event_ts),
                last_received_age_seconds=None
                if t.last_received_ts is None
                else max(0.0, now - t.last_received_ts),
            )
            for t in topics
        ],
        models_tracked=app.store.distinct_series(Kind.FORECAST, "metric", "horizon_seconds")
        + app.store.distinct_series(Kind.DETECTION, "series"),
        llm_budget_remaining_usd=app.llm_budget.remaining_usd() if app.llm_budget else None,
        executor_mode=engine.executor_mode() if engine else None,
        kill_switch_engaged=engine.kill_switch_engaged() if engine else None,
    )
