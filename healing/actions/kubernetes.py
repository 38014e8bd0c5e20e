"""Kubernetes actions through the official client (``pip install forewarn[kubernetes]``).

* ``k8s-rollout-restart``: what ``kubectl rollout restart`` does: a strategic-merge PATCH of the
  workload setting ``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`` to
  now, so the controller replaces the pods one by one under the workload's own rollout rules.
* ``k8s-scale``: a PATCH of the ``scale`` subresource (``spec.replicas``); it reads the current count
  first, so undo puts exactly that back.

Access comes from ``healing.actions.kubernetes`` (a kubeconfig and context), or the pod's service
account when forewarn runs in the cluster. The client is imported when an action runs, so installs
without the extra still load every policy and fail the step with a clear message instead.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.errors import ActionFailed
from forewarn.settings import KubernetesSettings

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# DNS-1123 names, as the API server checks them.
_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def api_client(conf: KubernetesSettings) -> Any:
    """A fresh ``ApiClient`` (never the library's global configuration) for ``conf``."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise ActionFailed(
            "the Kubernetes actions need the official client: pip install 'forewarn[kubernetes]'"
        ) from None
    try:
        if conf.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        path = str(conf.kubeconfig) if conf.kubeconfig is not None else None
        return config.new_client_from_config(config_file=path, context=conf.context)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, ValueError) as exc:
        raise ActionFailed(f"kubernetes: no usable configuration ({exc})") from exc


def _call(what: str, fn: Any, *args: Any) -> Any:
    """Run one client call; API errors and transport errors become ``ActionFailed`` naming ``what``."""
    from kubernetes.client.exceptions import ApiException

    try:
        return fn(*args)
    except ApiException as exc:
        raise ActionFailed(
            f"kubernetes: {what}: API server answered {exc.status} {exc.reason}",
            retryable=exc.status in (429, 500, 502, 503, 504),
        ) from exc
    except Exception as exc:  # urllib3 raises its own hierarchy (MaxRetryError, ...): all transport
        raise ActionFailed(f"kubernetes: {what}: {type(exc).__name__}: {exc}", retryable=True) from exc


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field("default", pattern=_NAMESPACE)
    name: str = Field(pattern=_NAME)


class RolloutRestartParams(_Target):
    kind: Literal["deployment", "statefulset", "daemonset"] = "deployment"


class RolloutRestart(Action):
    name = "k8s-rollout-restart"
    description = "kubectl rollout restart: replace a workload's pods one by one (same spec)."
    params_model = RolloutRestartParams
    reversible = True  # the same image and configuration come back
    restarts = True
    _patch: ClassVar[dict[str, str]] = {
        "deployment": "patch_namespaced_deployment",
        "statefulset": "patch_namespaced_stateful_set",
        "daemonset": "patch_namespaced_daemon_set",
    }

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, RolloutRestartParams)
        from kubernetes import client

        stamp = datetime.fromtimestamp(ctx.clock.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        with api_client(ctx.settings.kubernetes) as api:
            apps = client.AppsV1Api(api)
            what = f"restart {params.kind} {params.namespace}/{params.name}"
            _call(what, getattr(apps, self._patch[params.kind]), params.name, params.namespace, body)
        return ActionOutcome(
            True,
            f"rollout restart of {params.kind} {params.namespace}/{params.name} at {stamp}",
            data={"kind": params.kind, "namespace": params.namespace, "name": params.name, "at": stamp},
        )


class ScaleParams(_Target):
    kind: Literal["deployment", "statefulset"] = "deployment"
    replicas: int | None = Field(None, ge=0, le=10_000)  # absolute; default: the current count + step
    step: int = Field(1, ge=1, le=100)
    max_replicas: int = Field(50, ge=1, le=10_000)  # never scale past this, whatever the step says


class Scale(Action):
    name = "k8s-scale"
    description = "Scale a deployment or statefulset (the scale subresource); undo restores the old count."
    params_model = ScaleParams
    reversible = True
    _verbs: ClassVar[dict[str, tuple[str, str]]] = {
        "deployment": ("read_namespaced_deployment_scale", "patch_namespaced_deployment_scale"),
        "statefulset": ("read_namespaced_stateful_set_scale", "patch_namespaced_stateful_set_scale"),
    }

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, ScaleParams)
        before = self._current(params, ctx)
        target = params.replicas if params.replicas is not None else before + params.step
        if target > params.max_replicas:
            raise ActionFailed(
                f"k8s-scale: {params.namespace}/{params.name} to {target} exceeds max_replicas "
                f"{params.max_replicas} (now {before})"
            )
        self._set(params, ctx, target)
        return ActionOutcome(
            True,
            f"scaled {params.kind} {params.namespace}/{params.name} from {before} to {target}",
            data={"before": before, "after": target},
            undo_state={"replicas": before},
        )

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        assert isinstance(params, ScaleParams)
        previous = outcome.undo_state.get("replicas")
        if not isinstance(previous, int):
            raise ActionFailed("k8s-scale: no previous replica count to restore")
        self._set(params, ctx, previous)
        return ActionOutcome(True, f"scaled {params.namespace}/{params.name} back to {previous}")

    def _current(self, params: ScaleParams, ctx: ActionContext) -> int:
        from kubernetes import client

        with api_client(ctx.settings.kubernetes) as api:
            read = getattr(client.AppsV1Api(api), self._verbs[params.kind][0])
            scale = _call(
                f"read scale of {params.namespace}/{params.name}", read, params.name, params.namespace
            )
        replicas = scale.spec.replicas if scale.spec is not None else None
        return int(replicas or 0)

    def _set(self, params: ScaleParams, ctx: ActionContext, replicas: int) -> None:
        from kubernetes import client

        with api_client(ctx.settings.kubernetes) as api:
            patch = getattr(client.AppsV1Api(api), self._verbs[params.kind][1])
            what = f"scale {params.namespace}/{params.name} to {replicas}"
            _call(what, patch, params.name, params.namespace, {"spec": {"replicas": replicas}})


KUBERNETES_ACTIONS: list[type[Action]] = [RolloutRestart, Scale]

__all__ = ["KUBERNETES_ACTIONS", "RESTARTED_AT", "RolloutRestart", "Scale", "api_client"]
