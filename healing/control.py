"""Apply operator requests (approve, deny, manual trigger) through the one healing executor.

Why here and not in the API: the executor's in-memory state (rate limits, budgets, escalation
ladders, the shadow plans) must have one owner, the responder. The API and the CLI queue requests in
the state store (``forewarn.store.control``); the responder's tick hands each pending one to
:meth:`ControlApplier.apply_pending`, which calls the executor (so every guard still applies), writes
the outcome back (``applied`` with the records, or ``refused`` with the reason) and returns the
action events to publish on the actions topic, as any other decision of the executor.

A request is finished once (``finish`` only moves a pending one), and a manual trigger's id comes from
the request id, so a crash between acting and writing the outcome cannot run an action twice: the
executor's idempotency keys turn the second attempt into ``duplicate``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from forewarn.events import ActionEvent
from forewarn.healing.errors import HealingError
from forewarn.healing.records import ActionDecision, topic_events
from forewarn.healing.triggers import Trigger

__all__ = ["ControlApplier", "RequestQueue", "pending_row_id"]

log = logging.getLogger(__name__)


class RequestQueue(Protocol):
    """What the applier needs of ``forewarn.store.control.ControlRequests``."""

    def pending(self, limit: int = ...) -> list[dict[str, Any]]: ...

    def finish(self, request_id: str, status: Any, result: Mapping[str, Any]) -> bool: ...


class Executor(Protocol):
    """The executor's operator verbs (``forewarn.healing.executor.HealingExecutor``)."""

    def approval(self, approval_id: str) -> dict[str, Any] | None: ...

    def approve(self, approval_id: str, by: str = ...) -> list[ActionDecision]: ...

    def reject(self, approval_id: str, by: str = ...) -> bool: ...

    def handle(self, trigger: Trigger) -> list[ActionDecision]: ...


class Refused(HealingError):
    """The request cannot be applied (unknown or decided approval, bad request)."""


def pending_row_id(approval: Mapping[str, Any]) -> str:
    """The actions-topic id of the ``pending_approval`` record an approval was announced with."""
    trigger_id = str(approval["payload"]["trigger"]["id"])
    return f"{trigger_id}:pending_approval"[:128]


class ControlApplier:
    """Pending requests in, executor calls, outcomes back to the queue, action events out."""

    def __init__(
        self, executor: Executor, queue: RequestQueue, clock: Callable[[], float] = time.time
    ) -> None:
        self.executor = executor
        self.queue = queue
        self.clock = clock  # the executor's clock: a manual trigger is "now" for its stale-trigger guard

    def apply_pending(self, limit: int = 50) -> list[ActionEvent]:
        """Apply every pending request (oldest first); returns the action events to publish."""
        events: list[ActionEvent] = []
        for request in self.queue.pending(limit):
            events.extend(self.apply(request))
        return events

    def apply(self, request: Mapping[str, Any]) -> list[ActionEvent]:
        verb = str(request["verb"])
        try:
            if verb == "approve":
                events, result = self._approve(request)
            elif verb == "deny":
                events, result = self._deny(request)
            elif verb == "trigger":
                events, result = self._trigger(request)
            else:
                raise Refused(f"unknown request verb {verb!r}")
        except HealingError as error:
            self.queue.finish(str(request["id"]), "refused", {"error": str(error)})
            log.info("control request %s refused: %s", request["id"], error)
            return []
        except Exception as error:  # the responder must survive our bugs; the request says what happened
            log.exception("control request %s failed", request["id"])
            self.queue.finish(str(request["id"]), "refused", {"error": f"internal error: {error}"})
            return []
        self.queue.finish(str(request["id"]), "applied", result)
        return events

    def _approval(self, request: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        approval_id = str(request["payload"].get("approval_id") or request["target"])
        approval = self.executor.approval(approval_id)
        if approval is None:
            raise Refused(f"no approval {approval_id!r}")
        if approval["status"] != "pending":
            raise Refused(f"approval {approval_id!r} is {approval['status']}, not waiting for approval")
        return approval_id, approval

    def _approve(self, request: Mapping[str, Any]) -> tuple[list[ActionEvent], dict[str, Any]]:
        approval_id, approval = self._approval(request)
        records = self.executor.approve(approval_id, by=str(request["actor"]))
        if not records:
            raise Refused(f"approval {approval_id!r} produced no action")
        events = topic_events(records)
        # The decision also updates the row the operator acted on (newer, so it wins in the store).
        events.append(records[-1].to_event().model_copy(update={"id": pending_row_id(approval)}))
        return events, _outcome(records, events)

    def _deny(self, request: Mapping[str, Any]) -> tuple[list[ActionEvent], dict[str, Any]]:
        approval_id, approval = self._approval(request)
        actor = str(request["actor"])
        if not self.executor.reject(approval_id, by=actor):
            raise Refused(f"approval {approval_id!r} was decided or expired meanwhile")
        trigger = approval["payload"]["trigger"]
        event = ActionEvent(
            id=pending_row_id(approval),
            service=trigger["service"],
            timestamp=datetime.fromtimestamp(float(approval["created_at"]), UTC),
            updated_at=datetime.fromtimestamp(self.clock(), UTC),
            incident_id=trigger.get("incident_id") or trigger["id"],
            trigger_id=trigger["id"],
            issue_class=str(approval["payload"].get("issue_class", "unknown")),
            mode="approve",
            status="denied",
            policy=approval["payload"].get("policy"),
            detail=str(request["payload"].get("reason", "")),
            decided_by=actor,
        )
        return [event], {"status": "denied", "detail": f"rejected {approval_id}", "events": _json([event])}

    def _trigger(self, request: Mapping[str, Any]) -> tuple[list[ActionEvent], dict[str, Any]]:
        """A manual trigger: the executor's policies (``sources: [manual]``) decide what runs."""
        payload = request["payload"]
        action = str(payload.get("action", ""))
        actor = str(request["actor"])
        digest = hashlib.sha256(str(request["id"]).encode()).hexdigest()[:12]
        try:
            trigger = Trigger(
                id=f"manual-{digest}",
                source="manual",
                kind=action,
                service=str(request["target"]),
                timestamp=datetime.fromtimestamp(self.clock(), UTC),
                reason=f"{payload.get('reason', '')} (requested by {actor})",
                details={
                    "requested_action": action,
                    "params": payload.get("params", {}),
                    "requested_by": actor,
                },
            )
        except ValueError as error:
            raise Refused(f"invalid manual trigger: {error}") from None
        records = self.executor.handle(trigger)
        if not records:
            raise Refused("the healing engine made no decision for this trigger")
        events = topic_events(records)
        return events, _outcome(records, events)


def _outcome(records: list[ActionDecision], events: list[ActionEvent]) -> dict[str, Any]:
    last = records[-1]
    return {"status": last.status, "action": last.action, "detail": last.detail, "events": _json(events)}


def _json(events: list[ActionEvent]) -> list[dict[str, Any]]:
    """Events as the request's stored outcome (plain JSON)."""
    return [event.model_dump(mode="json") for event in events]
