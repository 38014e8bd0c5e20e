"""Notification channels. Each one formats for its receiver and delivers; failures raise ``NotifyError``."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from forewarn.healing.config import ChannelConfig
from forewarn.healing.errors import NotifyError
from forewarn.healing.notify.message import Notification

_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class Channel(Protocol):
    name: str

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None: ...


def _action_lines(note: Notification) -> list[str]:
    lines = []
    for action in note.actions:
        status = action.get("status", "?")
        lines.append(f"- {action.get('action', '?')}: {status} {action.get('detail', '')}".rstrip())
    return lines


def slack_payload(note: Notification, extra: list[Notification] | None = None) -> dict[str, Any]:
    """A Block Kit message: header, summary, facts, actions taken, the report, and grouped updates."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": note.title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{_EMOJI.get(note.severity, '')} {note.summary}"[:3000]},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Service*\n{note.service}"},
                {"type": "mrkdwn", "text": f"*Severity*\n{note.severity}"},
                {"type": "mrkdwn", "text": f"*Issue*\n{note.issue_class}"},
                {"type": "mrkdwn", "text": f"*Escalation level*\n{note.level}"},
            ],
        },
    ]
    lines = _action_lines(note)
    if lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": ("*Actions taken*\n" + "\n".join(lines))[:3000]},
            }
        )
    if note.report:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Report*\n{note.report}"[:3000]}}
        )
    if extra:
        more = "\n".join(f"- {n.title}: {n.summary}"[:200] for n in extra)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{len(extra)} grouped update(s)*\n{more}"[:3000]},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"forewarn · group `{note.group_key}`"}]}
    )
    return {"text": f"{note.title}: {note.summary}"[:3000], "blocks": blocks}


def pagerduty_payload(
    note: Notification, routing_key: str, extra: list[Notification] | None = None
) -> dict[str, Any]:
    """PagerDuty Events API v2 ``trigger`` event; ``dedup_key`` groups updates of one incident."""
    stamp = datetime.fromtimestamp(note.created_at or 0, tz=UTC).isoformat()
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": note.group_key,
        "payload": {
            "summary": f"{note.title}: {note.summary}"[:1024],
            "source": note.service,
            "severity": _PD_SEVERITY.get(note.severity, "error"),
            "timestamp": stamp,
            "component": note.service,
            "group": note.issue_class,
            "class": note.issue_class,
            "custom_details": {
                "level": note.level,
                "actions": note.actions,
                "details": note.details,
                "report": note.report,
                "grouped_updates": [f"{n.title}: {n.summary}" for n in extra or []],
            },
        },
        "client": "forewarn",
    }


class SlackChannel:
    def __init__(self, name: str, url: str, client: httpx.Client | None = None, timeout: float = 5.0) -> None:
        self.name = name
        self.url = url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None:
        _post(self.client, self.url, slack_payload(note, extra), self.name)


class WebhookChannel:
    def __init__(
        self,
        name: str,
        url: str,
        routing_key: str = "",
        client: httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.url = url
        self.routing_key = routing_key
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None:
        _post(self.client, self.url, pagerduty_payload(note, self.routing_key, extra), self.name)


def _post(client: httpx.Client, url: str, payload: dict[str, Any], name: str) -> None:
    try:
        response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise NotifyError(f"{name}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise NotifyError(f"{name}: receiver answered {response.status_code}: {response.text[:200]}")


class EmailChannel:
    def __init__(
        self, name: str, host: str, port: int, sender: str, to: list[str], timeout: float = 5.0
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.to = list(to)
        self.timeout = timeout

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None:
        message = EmailMessage()
        message["Subject"] = f"[forewarn][{note.severity}] {note.title}"[:200]
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        body = [
            note.summary,
            "",
            f"Service: {note.service}",
            f"Issue: {note.issue_class}",
            f"Level: {note.level}",
        ]
        lines = _action_lines(note)
        if lines:
            body += ["", "Actions taken:", *lines]
        if note.report:
            body += ["", "Report:", note.report]
        if extra:
            body += ["", f"{len(extra)} grouped update(s):", *(f"- {n.title}: {n.summary}" for n in extra)]
        body += ["", f"group: {note.group_key}"]
        message.set_content("\n".join(body))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"{self.name}: SMTP {self.host}:{self.port}: {exc}") from exc


def build_channels(
    configs: dict[str, ChannelConfig], client: httpx.Client | None = None
) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, conf in configs.items():
        if conf.type == "slack":
            assert conf.url is not None
            channels[name] = SlackChannel(name, conf.url.get_secret_value(), client, conf.timeout_seconds)
        elif conf.type == "webhook":
            assert conf.url is not None
            channels[name] = WebhookChannel(
                name,
                conf.url.get_secret_value(),
                conf.routing_key.get_secret_value() if conf.routing_key else "",
                client,
                conf.timeout_seconds,
            )
        else:
            assert conf.host is not None and conf.sender is not None
            channels[name] = EmailChannel(
                name, conf.host, conf.port, conf.sender, conf.to, conf.timeout_seconds
            )
    return channels
