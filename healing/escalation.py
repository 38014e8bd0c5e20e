"""Escalation to humans: one ladder per incident (or service and issue), climbed on the clock.

Why ladders kept apart from acting: a failed, refused or unsafe heal opens (or updates) the ladder of
its group and the executor moves on; the ladder's levels (Slack, then email, then the pager, ...) are
sent later by :meth:`Escalator.tick` as their ``after_seconds`` pass, until the group is resolved.
News on an open ladder goes to the level already reached (the router groups it into a digest).
What no ladder covers (no policy matched, or the policy has no ``escalation:``) goes to the channels
of the matching ``notifications.routes``, so a person hears about a problem forewarn cannot heal.

Open ladders are kept in the executor's state store (when given one): a responder restarted in the
middle of an incident (a crash, a deploy) keeps climbing the ladder it had, so the pager is still
reached on time, and a level already sent is not sent again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.clock import Clock
from forewarn.healing.config import Policy
from forewarn.healing.notify.message import Notification
from forewarn.healing.notify.router import Delivery, NotificationRouter
from forewarn.healing.records import ActionDecision
from forewarn.healing.state import LadderRow, StateStore
from forewarn.healing.triggers import Trigger

__all__ = ["Escalator"]

log = logging.getLogger(__name__)


@dataclass
class _Ladder:
    started: float
    policy: Policy
    note: Notification
    sent_levels: set[int]
    resolved: bool = False


class Escalator:
    """Open, update, climb and resolve escalation ladders; every notification is audited."""

    def __init__(
        self,
        notifier: NotificationRouter,
        audit: AuditLog,
        clock: Clock,
        actor: str,
        store: StateStore | None = None,
        policies: Mapping[str, Policy] | None = None,
    ) -> None:
        """With ``store``, open ladders are saved there and the ones saved before are climbed again;
        ``policies`` (by name, the current config's) give them their levels."""
        self.notifier = notifier
        self.audit = audit
        self.clock = clock
        self.actor = actor
        self.store = store
        self._lock = threading.RLock()
        self._ladders: dict[str, _Ladder] = {}
        if store is not None:
            self._restore(store, policies or {})

    def _restore(self, store: StateStore, policies: Mapping[str, Policy]) -> None:
        for row in store.ladders():
            policy = policies.get(row.policy)
            if policy is None or not policy.escalation:  # the config no longer climbs it
                log.warning(
                    "escalation of %s dropped: policy %r has no ladder now", row.group_key, row.policy
                )
                store.drop_ladder(row.group_key)
                continue
            note = Notification(**row.note)
            self._ladders[row.group_key] = _Ladder(row.started, policy, note, set(row.levels))

    def _save(self, group: str, ladder: _Ladder) -> None:
        """Keep an open ladder in the store (a resolved one is dropped)."""
        if self.store is None:
            return
        if ladder.resolved or not ladder.policy.escalation:
            self.store.drop_ladder(group)
            return
        row = LadderRow(
            group, ladder.started, ladder.policy.name, sorted(ladder.sent_levels), asdict(ladder.note)
        )
        self.store.save_ladder(row)

    def _note(
        self,
        trigger: Trigger,
        policy: str,
        issue_class: str,
        title: str,
        why: str,
        records: list[ActionDecision],
    ) -> Notification:
        # Without an incident id, group by service and issue, so a flapping fault is one conversation.
        return Notification(
            title=title,
            summary=why,
            service=trigger.service,
            severity=trigger.severity.value,
            group_key=trigger.incident_id or f"{trigger.service}/{issue_class}",
            issue_class=issue_class,
            actions=[
                {"action": r.action, "status": r.status, "detail": r.detail[:200]}
                for r in records
                if r.action
            ],
            details={"trigger": trigger.id, "policy": policy, "reason": trigger.reason},
            created_at=self.clock.now(),
            labels=dict(trigger.labels),
        )

    def unmatched(self, trigger: Trigger, issue_class: str) -> list[Delivery]:
        """No policy matches: tell the routed channels what was seen (grouped and de-duplicated)."""
        title = f"{issue_class} on {trigger.service}: no healing policy"
        why = trigger.reason or f"{trigger.kind} on {trigger.service}"
        note = self._note(trigger, "", issue_class, title, why, [])
        sent = self.notifier.route(note)
        if sent:
            self._audit(note.group_key, note, sent)
        return sent

    def escalate(
        self, trigger: Trigger, policy: Policy, issue_class: str, why: str, records: list[ActionDecision]
    ) -> bool:
        """Open or update the group's ladder; True when the policy has levels to climb (tick now)."""
        title = f"{issue_class} on {trigger.service}: needs a human"
        note = self._note(trigger, policy.name, issue_class, title, why, records)
        group = note.group_key
        update: tuple[Notification, list[str]] | None = None
        with self._lock:
            ladder = self._ladders.get(group)
            if ladder is None or ladder.resolved:
                ladder = self._ladders[group] = _Ladder(self.clock.now(), policy, note, set())
            else:  # still open: keep climbing the same ladder, with the latest news
                if ladder.sent_levels and note.summary != ladder.note.summary:
                    level = max(ladder.sent_levels)
                    update = (_at_level(note, level, note.created_at), policy.escalation[level].notify)
                ladder.note = note
            self._save(group, ladder)
        if not policy.escalation:  # no ladder of its own: the routes decide who hears about it
            self._audit(group, note, self.notifier.route(note))
            return False
        if update is not None:  # news on an open escalation: the router groups it into a digest
            self._audit(group, update[0], self.notifier.notify(*update))
        return True

    def tick(self) -> list[Delivery]:
        """Send every level whose time has come, then the router's due digests."""
        deliveries: list[Delivery] = []
        now = self.clock.now()
        with self._lock:
            ladders = list(self._ladders.items())
        for group, ladder in ladders:
            if ladder.resolved:
                continue
            for level, step in enumerate(ladder.policy.escalation):
                if level in ladder.sent_levels or now - ladder.started < step.after_seconds:
                    continue
                ladder.sent_levels.add(level)
                note = _at_level(ladder.note, level, now)
                sent = self.notifier.notify(note, step.notify)
                # Saved after sending: a crash in between sends the level again after the restart,
                # and the router's delivery memory drops it where it did arrive (never a lost page).
                with self._lock:
                    self._save(group, ladder)
                deliveries.extend(sent)
                self._audit(group, note, sent)
        deliveries.extend(self.notifier.flush())
        return deliveries

    def resolve(self, group_id: str) -> list[Delivery]:
        """Stop the group's ladder and close its alerts on the channels that keep them (PagerDuty)."""
        with self._lock:
            ladder = self._ladders.get(group_id)
            if ladder is not None:
                ladder.resolved = True
                self._save(group_id, ladder)
        sent = self.notifier.resolve(group_id)
        if sent:
            note = ladder.note if ladder is not None else None
            self.audit.append(
                AuditRecord(
                    event="escalation",
                    actor=self.actor,
                    service=note.service if note else "",
                    incident_id=group_id,
                    issue_class=note.issue_class if note else "",
                    why="resolved",
                    outcome=",".join(sorted({d.status for d in sent})),
                    result={"deliveries": [d.__dict__ for d in sent]},
                )
            )
        return sent

    def _audit(self, group: str, note: Notification, sent: list[Delivery]) -> None:
        self.audit.append(
            AuditRecord(
                event="escalation",
                actor=self.actor,
                service=note.service,
                incident_id=group,
                issue_class=note.issue_class,
                why=note.summary,
                outcome=",".join(sorted({d.status for d in sent})) or "no-channels",
                result={"level": note.level, "deliveries": [d.__dict__ for d in sent]},
            )
        )


def _at_level(note: Notification, level: int, now: float) -> Notification:
    return replace(note, level=level, created_at=now)
