"""``/v1/actions``: healing history, approve/deny pending actions, manual trigger, kill switch.

Reads come from the store (the actions topic). The operator verbs go to the injected
:class:`~forewarn.api.control.HealingControl`, which queues a control request for the one process
that owns the healing executor (``forewarn respond``): they answer 202 with the request, pending, and
``GET /v1/actions/requests/{id}`` shows its outcome once the responder applied it (the resulting
action records arrive through the actions topic as any other). The kill switch is set at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status

from forewarn.api._util import to_page
from forewarn.api.auth import Caller
from forewarn.api.control import ActionNotFound, ActionRejected, ControlError, HealingControl
from forewarn.api.deps import AppState, Paging, State, TimeRange, admin, paging, reader, time_range
from forewarn.api.guard import GuardedRoute
from forewarn.api.schemas import (
    ApproveIn,
    ControlRequestOut,
    DenyIn,
    KillSwitchIn,
    KillSwitchOut,
    Page,
    TriggerIn,
    errors,
)
from forewarn.events import ActionEvent
from forewarn.store.records import Kind

router = APIRouter(
    route_class=GuardedRoute,
    prefix="/v1/actions",
    tags=["actions"],
    responses=errors(400, 401, 403, 404, 409, 413, 503),
)
PENDING = "pending_approval"
Reader = Annotated[Caller, Depends(reader)]
Admin = Annotated[Caller, Depends(admin)]


def _out(item: dict[str, Any]) -> ActionEvent:
    return ActionEvent.model_validate(item)


def _engine(app: AppState) -> HealingControl:
    if app.healing is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no healing engine is attached to this API process; start it with --healing "
            "(`forewarn respond` applies the requests)",
        )
    return app.healing


def _request(item: Mapping[str, Any]) -> ControlRequestOut:
    return ControlRequestOut.model_validate(dict(item))


def _call(app: AppState, verb: str, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
    engine = _engine(app)
    try:
        result: Mapping[str, Any] = getattr(engine, verb)(*args, **kwargs)
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
    "",
    response_model=ControlRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Trigger an action by hand (queued for the responder)",
)
def trigger_action(
    app: State,
    who: Admin,
    body: TriggerIn,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$", description="Retry-safe id."),
    ] = None,
) -> ControlRequestOut:
    request = _call(
        app,
        "trigger",
        body.service,
        body.action,
        body.params,
        actor=who.name,
        reason=body.reason,
        request_id=idempotency_key,
    )
    return _request(request)


@router.get("/requests/{request_id}", response_model=ControlRequestOut, summary="One operator request")
def get_request(app: State, _: Reader, request_id: str) -> ControlRequestOut:
    item = app.store.control.get(request_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no request with id {request_id!r}")
    return _request(item)


@router.get("/{action_id}", response_model=ActionEvent, summary="One action")
def get_action(app: State, _: Reader, action_id: str) -> ActionEvent:
    item = app.store.get(Kind.ACTION, action_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no action with id {action_id!r}")
    return _out(item)


@router.post(
    "/{action_id}/approve",
    response_model=ControlRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Approve a pending action (queued for the responder)",
)
def approve_action(
    app: State, who: Admin, action_id: str, body: ApproveIn | None = None
) -> ControlRequestOut:
    return _request(_call(app, "approve", action_id, actor=who.name))


@router.post(
    "/{action_id}/deny",
    response_model=ControlRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Deny a pending action (queued for the responder)",
)
def deny_action(app: State, who: Admin, action_id: str, body: DenyIn) -> ControlRequestOut:
    return _request(_call(app, "deny", action_id, actor=who.name, reason=body.reason))
