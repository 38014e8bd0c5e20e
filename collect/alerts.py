"""Alertmanager webhooks in: firing alerts become detections, resolved alerts close their incidents.

The payload is Alertmanager's webhook JSON, version 4 (``{"version": "4", "status", "alerts": [...]}``;
each alert has ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt`` and ``fingerprint``).

Why detections: the responder already turns detections into incidents (grouped with forewarn's own
by service and dependency), asks healing and writes the report, so an outside alert gets the same
treatment with no second path. Each alert is one series, ``<service>/alert/<alertname>/<fingerprint>``;
the firing detection's id comes from that series and ``startsAt``, so Alertmanager's repeats of a
still-firing alert are one detection. A resolved alert is an ``alert_resolved`` detection on the same
series, which the responder reads as "this alert is over" (see ``IncidentGrouper.end_series``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.collect.converted import Converted, pick_service, tame
from forewarn.events import ALERT_DETECTOR, ALERT_FIRING, ALERT_RESOLVED, Detection, Severity

__all__ = ["Alert", "AlertmanagerWebhook", "detections_from_webhook"]

MAX_REASON = 500
# Alertmanager's severity label has no fixed vocabulary; these are the common spellings.
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body; unknown fields are ignored, as the format grows them."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert] = Field(max_length=10_000)


def detections_from_webhook(
    webhook: AlertmanagerWebhook,
    *,
    service_labels: Iterable[str],
    default_service: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Converted:
    """One detection per alert: ``alert`` when firing, ``alert_resolved`` when resolved."""
    out = Converted()
    candidates = list(service_labels)
    for alert in webhook.alerts:
        service = pick_service(alert.labels, candidates, default_service)
        alertname = tame(alert.labels.get("alertname", "alert")) or "alert"
        if service is None:
            out.drop("bad_name")
            continue
        series = f"{service}/alert/{alertname}/{alert.fingerprint or _fingerprint(alert.labels)}"
        firing = alert.status == "firing"
        kind = ALERT_FIRING if firing else ALERT_RESOLVED
        ends = alert.endsAt if alert.endsAt is not None and alert.endsAt.year > 1 else None
        at = _utc(alert.startsAt) if firing else _utc(ends) if ends is not None else now()
        out.events.append(
            Detection(
                id=Detection.make_id(series, ALERT_DETECTOR, kind, at),
                service=service,
                series=series,
                detection_kind=kind,
                detector=ALERT_DETECTOR,
                timestamp=at,
                detected_at=now(),
                score=1.0 if firing else 0.0,
                confidence=1.0,
                severity=_severity(alert.labels.get("severity")) if firing else Severity.INFO,
                value=1.0 if firing else 0.0,
                reason=_reason(alertname, alert),
            )
        )
    return out


def _severity(label: str | None) -> Severity:
    """The alert's ``severity`` label as forewarn's severity; warning when absent or unknown."""
    return _SEVERITIES.get((label or "").strip().lower(), Severity.WARNING)


def _reason(alertname: str, alert: Alert) -> str:
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    state = "" if alert.status == "firing" else " (resolved)"
    reason = f"alert {alertname}{state}" + (f": {text}" if text else "")
    return reason[:MAX_REASON]


def _fingerprint(labels: dict[str, str]) -> str:
    """A stable id of the label set when Alertmanager sent none (older versions)."""
    return hashlib.sha256("\x00".join(f"{k}={v}" for k, v in sorted(labels.items())).encode()).hexdigest()[
        :16
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
