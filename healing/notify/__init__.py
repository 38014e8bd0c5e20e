"""Escalation and notifications: Slack (Block Kit), email (SMTP, STARTTLS, login), PagerDuty v2, Teams."""

from forewarn.healing.notify.channels import (
    Channel,
    EmailChannel,
    Resolvable,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    build_channels,
)
from forewarn.healing.notify.message import Notification
from forewarn.healing.notify.router import Delivery, NotificationRouter

__all__ = [
    "Channel",
    "Delivery",
    "EmailChannel",
    "Notification",
    "NotificationRouter",
    "Resolvable",
    "SlackChannel",
    "TeamsChannel",
    "WebhookChannel",
    "build_channels",
]
