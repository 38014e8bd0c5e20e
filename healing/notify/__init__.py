"""Escalation and notifications: Slack (Block Kit), email (SMTP), generic webhook (PagerDuty v2 shape)."""

from forewarn.healing.notify.channels import (
    Channel,
    EmailChannel,
    SlackChannel,
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
    "SlackChannel",
    "WebhookChannel",
    "build_channels",
]
