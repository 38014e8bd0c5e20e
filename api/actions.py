"""``/v1/actions``: healing history, approve/deny pending actions, manual trigger, kill switch.

Reads come from the store (the actions topic); the operator verbs go to the injected
:class:`~forewarn.api.control.HealingControl`, and whatever record it returns is written to the store
at once, so the next GET shows it without waiting for the topic round trip.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from forewarn.api._util import to_page
from forewarn.api.auth import Caller
from forewarn.api.control import ActionNotFound, ActionRejected, ControlError, HealingControl
from forewarn.api.deps import AppState, Paging, State, TimeRange, admin, paging, reader, time_range
from forewarn.api.schemas import (
    ApproveIn,
    DenyIn,
    KillSwitchIn,
    KillSwitchOut,
    Page,
    TriggerIn,
    errors,
)
from forewarn.events import ActionEvent
from forewarn.store.records import Kind, parse_record

router = APIRouter(prefix="/v1/actions", tags=["actions"], responses=errors(400, 401, 403, 404, 409, 503))
PENDING = "pending_approval"
Reader = Annotated[Caller, Depends(reader)]
Admin = Annotated[Caller, Depends(admin)]


def _out(item: dict[str, Any]) -> ActionEvent:
    return ActionEvent.model_validate(item)


def _engine(app: AppState) -> HealingControl:
    if app.healing is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no healing engine is attached to this API process; run it with the healing executor",
        )
    return app.healing


def _remember(app: AppState, record: ActionEvent) -> ActionEvent:
    app.store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, record)])
    return record


def _call(app: AppState, verb: str, *args: Any, **kwargs: Any) -> ActionEvent:
    engine = _engine(app)
    try:
        result: ActionEvent = getattr(engine, verb)(*args, **kwargs)
    except ActionNotFound as error:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=str(error) or "no such pending action"
        ) from None
    except ActionRejected as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=str(error) or "the healing engine refused"
        ) from None
    except ControlError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error) or "invalid request") from None
    return result


@router.get("", response_model=Page[ActionEvent], summary="Healing actions (history), newest first")
def list_actions(
    app: State,
    _: Reader,
    page: Annotated[Paging, Depends(paging)],
    window: Annotated[TimeRange, Depends(time_range)],
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    action_status: Annotated[
        str | None,
        Query(alias="status", min_length=1, max_length=32, description="e.g. pending, succeeded, failed"),
    ] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    incident_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> Page[ActionEvent]:
    found = app.store.page(
        Kind.ACTION,
        service=service,
        since=window.since,
        until=window.until,
        filters={"status": action_status, "action": action, "incident_id": incident_id},
        limit=page.limit,
        offset=page.offset,
    )
    return to_page(found, _out)


@router.get("/pending", response_model=Page[ActionEvent], summary="Actions waiting for a human decision")
def list_pending(app: State, _: Reader, page: Annotated[Paging, Depends(paging)]) -> Page[ActionEvent]:
    found = app.store.page(Kind.ACTION, filters={"status": PENDING}, limit=page.limit, offset=page.offset)
    return to_page(found, _out)


@router.get("/kill-switch", response_model=KillSwitchOut, summary="Is automatic healing stopped?")
def get_kill_switch(app: State, _: Reader) -> KillSwitchOut:
    engine = _engine(app)
    return KillSwitchOut(engaged=engine.kill_switch_engaged(), executor_mode=engine.executor_mode())


@router.put("/kill-switch", response_model=KillSwitchOut, summary="Stop (or resume) all automatic healing")
def put_kill_switch(app: State, who: Admin, body: KillSwitchIn) -> KillSwitchOut:
    engine = _engine(app)
    try:
        engaged = engine.set_kill_switch(body.engaged, actor=who.name, reason=body.reason)
    except ControlError as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=str(error) or "the healing engine refused"
        ) from None
    return KillSwitchOut(engaged=engaged, executor_mode=engine.executor_mode())


@router.post(
    "", response_model=ActionEvent, status_code=status.HTTP_202_ACCEPTED, summary="Trigger an action by hand"
)
def trigger_action(app: State, who: Admin, body: TriggerIn) -> ActionEvent:
    record = _call(app, "trigger", body.service, body.action, body.params, actor=who.name, reason=body.reason)
    return _remember(app, record)


@router.get("/{action_id}", response_model=ActionEvent, summary="One action")
def get_action(app: State, _: Reader, action_id: str) -> ActionEvent:
    item = app.store.get(Kind.ACTION, action_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no action with id {action_id!r}")
    return _out(item)


@router.post("/{action_id}/approve", response_model=ActionEvent, summary="Approve a pending action")
def approve_action(app: State, who: Admin, action_id: str, body: ApproveIn | None = None) -> ActionEvent:
    return _remember(app, _call(app, "approve", action_id, actor=who.name))


@router.post("/{action_id}/deny", response_model=ActionEvent, summary="Deny a pending action")
def deny_action(app: State, who: Admin, action_id: str, body: DenyIn) -> ActionEvent:
    return _remember(app, _call(app, "deny", action_id, actor=who.name, reason=body.reason))
