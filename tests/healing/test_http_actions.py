"""The signed webhook against a real receiver that checks the signature itself, the Kubernetes actions
against the API server's HTTP contract (a local server that checks the PATCH paths, bodies and content
types the official client sends: there is no cluster here), and third-party action plugins."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, SecretStr

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.kubernetes import RESTARTED_AT, RolloutRestart, Scale
from forewarn.healing.actions.registry import ENTRY_POINT_GROUP, ActionRegistry, default_registry
from forewarn.healing.actions.webhook import SignedWebhook, verify
from forewarn.healing.clock import ManualClock
from forewarn.healing.errors import ActionFailed, UnknownAction
from forewarn.settings import ActionSettings, KubernetesSettings

pytestmark = pytest.mark.integration

SECRET = "whsec-test-0123456789"


class Server:
    """A real HTTP server; ``answer(method, path, headers, body) -> (status, json)`` decides."""

    def __init__(self, answer: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
                outer.requests.append(seen)
                status, reply = answer(seen)
                seen["status"] = status
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signed_hook_answer(secret: str) -> Any:
    """A webhook receiver's handler that checks the signature with its own HMAC code (not forewarn's)."""

    def answer(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        stamp = req["headers"].get("X-Forewarn-Timestamp", "")
        expected = (
            "v1=" + hmac.new(secret.encode(), stamp.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
        )
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        if not fresh or not hmac.compare_digest(expected, req["headers"].get("X-Forewarn-Signature", "")):
            return 401, {"detail": "bad signature"}
        return 202, {"accepted": True}

    return answer


@pytest.fixture
def hook_receiver() -> Iterator[Server]:
    server = Server(signed_hook_answer(SECRET))
    yield server
    server.close()


def _ctx(settings: ActionSettings, key: str = "inc-7:webhook:0") -> ActionContext:
    return ActionContext(
        service="checkout",
        clock=ManualClock(1_800_000_000.0),
        idempotency_key=key,
        reason="queue_backlog on checkout",
        settings=settings,
    )


def test_the_webhook_is_signed_and_the_receiver_verifies_it(hook_receiver: Server) -> None:
    action = SignedWebhook()
    params = action.parse(
        {"url": f"{hook_receiver.url}/hooks/restart", "secret": "ops", "payload": {"target": "checkout"}}
    )
    outcome = action.run(params, _ctx(ActionSettings(webhook_secrets={"ops": SecretStr(SECRET)})))
    assert outcome.data["status"] == 202
    req = hook_receiver.requests[-1]
    assert req["method"] == "POST" and req["path"] == "/hooks/restart"
    assert req["headers"]["Idempotency-Key"] == "inc-7:webhook:0"
    body = json.loads(req["body"])
    assert body == {
        "service": "checkout",
        "reason": "queue_backlog on checkout",
        "idempotency_key": "inc-7:webhook:0",
        "rollback": False,
        "params": {"target": "checkout"},
    }
    headers = req["headers"]
    assert verify(
        SECRET, headers["X-Forewarn-Timestamp"], req["body"], headers["X-Forewarn-Signature"], time.time()
    )
    assert not verify(
        SECRET,
        headers["X-Forewarn-Timestamp"],
        req["body"] + b" ",
        headers["X-Forewarn-Signature"],
        time.time(),
    )


def test_a_wrong_secret_is_refused_by_the_receiver_and_fails_the_step(hook_receiver: Server) -> None:
    action = SignedWebhook()
    params = action.parse({"url": hook_receiver.url, "secret": "ops"})
    with pytest.raises(ActionFailed, match="answered 401"):
        action.run(params, _ctx(ActionSettings(webhook_secrets={"ops": SecretStr("not-the-secret")})))
    with pytest.raises(ActionFailed, match="no secret 'ops'"):
        action.run(params, _ctx(ActionSettings()))
    assert len(hook_receiver.requests) == 1  # without a secret nothing was sent


def test_the_webhook_undo_posts_a_rollback_with_its_own_key(hook_receiver: Server) -> None:
    action = SignedWebhook()
    params = action.parse(
        {"url": f"{hook_receiver.url}/do", "secret": "ops", "undo_url": f"{hook_receiver.url}/undo"}
    )
    ctx = _ctx(ActionSettings(webhook_secrets={"ops": SecretStr(SECRET)}))
    outcome = action.run(params, ctx)
    action.undo(params, ctx, outcome)
    undo = hook_receiver.requests[-1]
    assert undo["path"] == "/undo" and undo["headers"]["Idempotency-Key"] == "inc-7:webhook:0:undo"
    assert json.loads(undo["body"])["rollback"] is True


# -- Kubernetes: the API server's HTTP contract -----------------------------------------------------


@pytest.fixture
def api_server() -> Iterator[Server]:
    replicas = {"value": 3}

    def answer(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if {k.lower(): v for k, v in req["headers"].items()}.get("authorization") != "Bearer test-token":
            return 401, {"kind": "Status", "code": 401}
        path = req["path"]
        meta = {"name": path.split("/")[6], "namespace": path.split("/")[4]}
        if path.endswith("/scale"):
            if req["method"] == "PATCH":
                replicas["value"] = json.loads(req["body"])["spec"]["replicas"]
            scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta}
            return 200, {
                **scale,
                "spec": {"replicas": replicas["value"]},
                "status": {"replicas": replicas["value"]},
            }
        if req["method"] == "PATCH":  # the patched workload, as the API server answers with it
            labels = {"app": meta["name"]}
            template = {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            }
            spec: dict[str, Any] = {"replicas": replicas["value"], "selector": {"matchLabels": labels}}
            spec["template"] = template
            kind = "StatefulSet" if "/statefulsets/" in path else "Deployment"
            if kind == "StatefulSet":
                spec["serviceName"] = meta["name"]
            return 200, {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
        return 404, {"kind": "Status", "code": 404}

    server = Server(answer)
    yield server
    server.close()


def _kubeconfig(tmp_path: Path, server: Server) -> KubernetesSettings:
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: "{server.url}"}}}}]
users: [{{name: forewarn, user: {{token: test-token}}}}]
contexts: [{{name: test, context: {{cluster: test, user: forewarn}}}}]
current-context: test
"""
    )
    return KubernetesSettings(kubeconfig=path)


def test_rollout_restart_patches_the_pod_template_annotation(tmp_path: Path, api_server: Server) -> None:
    action = RolloutRestart()
    ctx = _ctx(ActionSettings(kubernetes=_kubeconfig(tmp_path, api_server)))
    outcome = action.run(action.parse({"namespace": "shop", "name": "checkout"}), ctx)
    req = api_server.requests[-1]
    assert req["method"] == "PATCH"
    assert req["path"] == "/apis/apps/v1/namespaces/shop/deployments/checkout"
    assert req["headers"]["Content-Type"] == "application/strategic-merge-patch+json"
    assert json.loads(req["body"]) == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2027-01-15T08:00:00Z"}}}}
    }
    assert outcome.data["at"] == "2027-01-15T08:00:00Z"
    action.run(action.parse({"namespace": "shop", "name": "ledger", "kind": "statefulset"}), ctx)
    assert api_server.requests[-1]["path"] == "/apis/apps/v1/namespaces/shop/statefulsets/ledger"


def test_scale_reads_then_patches_the_scale_subresource_and_undo_restores(
    tmp_path: Path, api_server: Server
) -> None:
    action = Scale()
    ctx = _ctx(ActionSettings(kubernetes=_kubeconfig(tmp_path, api_server)))
    params = action.parse({"namespace": "shop", "name": "checkout", "step": 2})
    outcome = action.run(params, ctx)
    read, patch = api_server.requests[-2:]
    assert (read["method"], read["path"]) == (
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments/checkout/scale",
    )
    assert (patch["method"], patch["path"]) == (
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/checkout/scale",
    )
    assert json.loads(patch["body"]) == {"spec": {"replicas": 5}}
    assert outcome.data == {"before": 3, "after": 5} and outcome.undo_state == {"replicas": 3}
    action.undo(params, ctx, outcome)
    assert json.loads(api_server.requests[-1]["body"]) == {"spec": {"replicas": 3}}
    with pytest.raises(ActionFailed, match="exceeds max_replicas 4"):
        action.run(
            action.parse({"namespace": "shop", "name": "checkout", "replicas": 9, "max_replicas": 4}), ctx
        )


def test_kubernetes_errors_become_failed_steps(tmp_path: Path, api_server: Server) -> None:
    action = RolloutRestart()
    conf = _kubeconfig(tmp_path, api_server)
    conf.kubeconfig.write_text(conf.kubeconfig.read_text().replace("test-token", "wrong"))  # type: ignore[union-attr]
    with pytest.raises(ActionFailed, match="answered 401"):
        action.run(
            action.parse({"namespace": "shop", "name": "checkout"}), _ctx(ActionSettings(kubernetes=conf))
        )
    missing = KubernetesSettings(kubeconfig=tmp_path / "nope")
    with pytest.raises(ActionFailed, match="no usable configuration"):
        action.run(action.parse({"name": "checkout"}), _ctx(ActionSettings(kubernetes=missing)))


# -- plugins ------------------------------------------------------------------------------------------


class Page(Action):
    """A third-party action, as a plugin package would ship it."""

    name: ClassVar[str] = "acme-page"
    description: ClassVar[str] = "page the on-call through ACME"

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        return ActionOutcome(True, "paged")


class ClashingName(Page):
    name: ClassVar[str] = "restart-service"


NOT_AN_ACTION = object()


def _point(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attr}", group=ENTRY_POINT_GROUP)


def test_the_builtins_are_declared_as_entry_points() -> None:
    registry = ActionRegistry()
    registry.load_entry_points()  # forewarn's own metadata only: no built-in registered by hand
    assert {
        "webhook",
        "run-command",
        "systemd-restart",
        "k8s-rollout-restart",
        "k8s-scale",
        "failover",
    } <= set(registry.names())
    assert registry.plugin_errors == {}
    assert set(registry.names()) == set(default_registry().names())


def test_a_third_party_plugin_is_registered_and_a_broken_one_is_reported() -> None:
    registry = default_registry(plugins=False)
    registry.load_entry_points(
        [
            _point("acme", "Page"),
            _point("clash", "ClashingName"),
            _point("junk", "NOT_AN_ACTION"),
            EntryPoint(name="gone", value="no_such_package.actions:X", group=ENTRY_POINT_GROUP),
        ]
    )
    assert "acme-page" in registry and registry.origins["acme-page"].startswith("acme = ")
    assert type(registry.get("restart-service")).__name__ == "RestartService"  # a plugin cannot replace it
    assert sorted(p.split(" = ")[0] for p in registry.plugin_errors) == ["clash", "gone", "junk"]
    with pytest.raises(UnknownAction, match="plugins that failed: clash"):
        registry.get("acme-missing")
