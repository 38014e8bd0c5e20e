"""Notifications without a policy (routes by service, severity, labels), PagerDuty resolve, Microsoft
Teams and SMTP with STARTTLS and login, each against a real local receiver."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from forewarn.healing.clock import ManualClock
from forewarn.healing.config import ChannelConfig, HealingConfig, NotificationConfig
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.notify import Notification, NotificationRouter, build_channels
from forewarn.healing.paths import HealingPaths
from tests.tls import Pki, make_pki

from .conftest import HttpReceiver, free_port
from .helpers import detection

pytestmark = pytest.mark.integration


def _executor(tmp_path: Path, receiver: HttpReceiver, clock: ManualClock) -> HealingExecutor:
    config = HealingConfig.model_validate(
        {
            "signatures": [{"issue_class": "outage", "kinds": ["failure"]}],
            "notifications": {
                "channels": {
                    "pager": {"type": "webhook", "url": f"{receiver.url}/pd", "routing_key": "RK"},
                    "teams": {"type": "teams", "url": f"{receiver.url}/teams"},
                },
                "routes": [
                    {"channels": ["pager"], "services": ["checkout"], "min_severity": "critical"},
                    {"channels": ["teams"], "labels": {"team": "payments"}},
                ],
            },
            "policies": [],  # nothing heals: every trigger is "no policy"
        }
    )
    return HealingExecutor(config, HealingPaths.under(tmp_path / "state"), clock=clock)


def test_unmatched_triggers_are_routed_by_service_severity_and_labels(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    clock = ManualClock(1_800_000_000.0)
    executor = _executor(tmp_path, receiver, clock)
    try:
        records = executor.handle(detection(clock, "checkout", incident_id="inc-1"))
        assert [r.status for r in records] == ["no_policy"]
        paths = [r["path"] for r in receiver.received]
        assert paths == ["/pd"]  # critical on checkout: the pager; no team label: not Teams
        page = receiver.received[0]["json"]
        assert page["event_action"] == "trigger" and page["dedup_key"] == "inc-1"
        assert "no healing policy" in page["payload"]["summary"]

        executor.handle(detection(clock, "checkout", severity="warning", id="w1", incident_id="inc-2"))
        executor.handle(
            detection(
                clock, "ledger", severity="warning", id="l1", incident_id="inc-3", labels={"team": "payments"}
            )
        )
        paths = [r["path"] for r in receiver.received]
        assert paths == ["/pd", "/teams"]  # a warning does not page; the payments label goes to Teams

        executor.resolve("inc-1")  # the incident went quiet: the page is closed with the same key
        resolve = receiver.received[-1]
        assert resolve["path"] == "/pd"
        assert resolve["json"] == {"routing_key": "RK", "event_action": "resolve", "dedup_key": "inc-1"}
        executor.resolve("inc-1")  # once only
        executor.resolve("inc-3")  # Teams keeps no alert open: nothing to send
        assert len(receiver.received) == 3
        audit = (tmp_path / "state" / "audit.jsonl").read_text()
        assert '"resolved"' in audit
    finally:
        executor.close()


def test_teams_gets_an_adaptive_card(receiver: HttpReceiver) -> None:
    channels = {"teams": ChannelConfig(type="teams", url=f"{receiver.url}/teams")}
    router = NotificationRouter(
        NotificationConfig(channels=channels), build_channels(channels), ManualClock()
    )
    note = Notification(
        title="db_outage on database: needs a human",
        summary="reset failed",
        service="database",
        severity="critical",
        group_key="inc-9",
        issue_class="db_outage",
        actions=[{"action": "reset-connections", "status": "failed", "detail": "503"}],
    )
    assert [d.status for d in router.notify(note, ["teams"])] == ["sent"]
    message = receiver.received[-1]["json"]
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [b.get("text", "") for b in card["body"]]
    assert texts[0] == note.title and "reset-connections: failed 503" in "\n".join(texts)
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Service"] == "database" and facts["Group"] == "inc-9"


class TlsSmtp:
    """aiosmtpd requiring STARTTLS and AUTH (LOGIN/PLAIN) with one user, keeping every message."""

    def __init__(self, pki: Pki) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[Message] = []
        self.logins: list[str] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(message_from_bytes(envelope.original_content or envelope.content))
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = data.login == b"forewarn" and data.password == b"s3cret-pass"
            if ok:
                outer.logins.append(mechanism)
            return AuthResult(success=ok)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
        )
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("smtp-pki"))


@pytest.fixture
def tls_smtp(pki: Pki) -> Iterator[TlsSmtp]:
    server = TlsSmtp(pki)
    yield server
    server.close()


def _mail_router(tls_smtp: TlsSmtp, pki: Pki, **conf: Any) -> NotificationRouter:
    values: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": tls_smtp.port,
        "sender": "forewarn@test",
        "to": ["oncall@test"],
        "tls": "starttls",
        "username": "forewarn",
        "password": "s3cret-pass",
        "ca_bundle": pki.ca_cert,
    }
    values.update(conf)
    channels = {"mail": ChannelConfig.model_validate(values)}
    return NotificationRouter(NotificationConfig(channels=channels), build_channels(channels), ManualClock())


def _mail_note(group: str) -> Notification:
    return Notification(
        title="disk_filling on worker",
        summary="97% full",
        service="worker",
        severity="warning",
        group_key=group,
    )


def test_email_over_starttls_with_login_reaches_the_server(tls_smtp: TlsSmtp, pki: Pki) -> None:
    deliveries = _mail_router(tls_smtp, pki).notify(_mail_note("g1"), ["mail"])
    assert [d.status for d in deliveries] == ["sent"], deliveries
    assert tls_smtp.logins and len(tls_smtp.messages) == 1
    assert tls_smtp.messages[0]["Subject"] == "[forewarn][warning] disk_filling on worker"


def test_email_fails_cleanly_without_starttls_or_a_trusted_ca(
    tls_smtp: TlsSmtp, pki: Pki, tmp_path: Path
) -> None:
    plain = _mail_router(tls_smtp, pki, tls="none").notify(_mail_note("g2"), ["mail"])
    assert plain[0].status == "failed"  # the server insists on STARTTLS before AUTH and mail
    other = make_pki(tmp_path / "other")
    untrusted = _mail_router(tls_smtp, pki, ca_bundle=other.ca_cert).notify(_mail_note("g3"), ["mail"])
    assert untrusted[0].status == "failed" and "certificate" in untrusted[0].detail.lower()
    assert tls_smtp.messages == []
