"""Notification channels. Each one formats for its receiver and delivers; failures raise ``NotifyError``.

A channel that can close what it opened (PagerDuty) also has ``resolve(group_key)``; the router calls
it when the incident resolves, for the groups that channel was told about.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from forewarn.healing.config import ChannelConfig
from forewarn.healing.errors import NotifyError
from forewarn.healing.notify.message import Notification

_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class Channel(Protocol):
    name: str

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None: ...


@runtime_checkable
class Resolvable(Protocol):
    """A channel whose receiver keeps an open alert per group (PagerDuty): it can be closed."""

    name: str

    def resolve(self, group_key: str) -> None: ...


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


def pagerduty_resolve(group_key: str, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2 ``resolve``: closes the alert opened under the same ``dedup_key``."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": group_key}


_TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def teams_payload(note: Notification, extra: list[Notification] | None = None) -> dict[str, Any]:
    """A Teams incoming-webhook (Workflows) message carrying one Adaptive Card 1.4."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": note.title[:200],
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_COLOR.get(note.severity, "Default"),
        },
        {"type": "TextBlock", "text": note.summary[:2000], "wrap": True},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Service", "value": note.service},
                {"title": "Severity", "value": note.severity},
                {"title": "Issue", "value": note.issue_class},
                {"title": "Escalation level", "value": str(note.level)},
                {"title": "Group", "value": note.group_key},
            ],
        },
    ]
    lines = _action_lines(note)
    if lines:
        body.append(
            {"type": "TextBlock", "text": "Actions taken\n\n" + "\n".join(lines)[:2000], "wrap": True}
        )
    if note.report:
        body.append({"type": "TextBlock", "text": f"Report\n\n{note.report}"[:3000], "wrap": True})
    if extra:
        more = "\n".join(f"- {n.title}: {n.summary}"[:200] for n in extra)
        body.append(
            {"type": "TextBlock", "text": f"{len(extra)} grouped update(s)\n\n{more}"[:3000], "wrap": True}
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "summary": f"{note.title}: {note.summary}"[:200],
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


class TeamsChannel:
    def __init__(self, name: str, url: str, client: httpx.Client | None = None, timeout: float = 5.0) -> None:
        self.name = name
        self.url = url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None:
        _post(self.client, self.url, teams_payload(note, extra), self.name)


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

    def resolve(self, group_key: str) -> None:
        _post(self.client, self.url, pagerduty_resolve(group_key, self.routing_key), self.name)


def _post(client: httpx.Client, url: str, payload: dict[str, Any], name: str) -> None:
    try:
        response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise NotifyError(f"{name}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise NotifyError(f"{name}: receiver answered {response.status_code}: {response.text[:200]}")


class EmailChannel:
    """SMTP: plain, STARTTLS (``tls="starttls"``) or TLS from the start (``"ssl"``), with optional login.

    The server's certificate is always verified (``ca_bundle`` for a private CA); with a username the
    login happens only after TLS is up, unless ``tls`` is ``"none"``, so a password is never sent in
    clear by accident of a missing STARTTLS.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        sender: str,
        to: list[str],
        timeout: float = 5.0,
        *,
        tls: str = "none",
        username: str | None = None,
        password: str | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.to = list(to)
        self.timeout = timeout
        self.tls = tls
        self.username = username
        self.password = password
        self.ca_bundle = ca_bundle

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                smtp.starttls(context=context)  # raises SMTPNotSupportedError if the server cannot
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

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
            with self._connect() as smtp:
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
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
        elif conf.type == "teams":
            assert conf.url is not None
            channels[name] = TeamsChannel(name, conf.url.get_secret_value(), client, conf.timeout_seconds)
        else:
            assert conf.host is not None and conf.sender is not None
            channels[name] = EmailChannel(
                name,
                conf.host,
                conf.port,
                conf.sender,
                conf.to,
                conf.timeout_seconds,
                tls=conf.tls,
                username=conf.username,
                password=conf.password.get_secret_value() if conf.password else None,
                ca_bundle=conf.ca_bundle,
            )
    return channels
