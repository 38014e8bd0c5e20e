"""Did the action work? Poll the health endpoint until N consecutive OK answers, or give up.

Why consecutive: one lucky OK right after a restart proves little; a run of them within the window
shows the service is back. Time comes from the injected clock, so tests run minutes in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from forewarn.healing.clock import Clock
from forewarn.healing.config import HealingConfig, ValidationCheck


@dataclass
class ValidationResult:
    ok: bool
    url: str
    consecutive_ok: int
    probes: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "url": self.url,
            "consecutive_ok": self.consecutive_ok,
            "probes": self.probes[-10:],
            "probe_count": len(self.probes),
            "detail": self.detail,
        }


def probe_once(client: httpx.Client, url: str, check: ValidationCheck) -> dict[str, Any]:
    try:
        response = client.get(url, timeout=check.timeout_seconds)
    except httpx.HTTPError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    status: str | None = None
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("status"), str):
            status = body["status"]
    except ValueError:
        pass
    ok = response.status_code < 400 and (status in check.expect_status if status is not None else True)
    return {"ok": ok, "http": response.status_code, "status": status}


def validate_health(client: httpx.Client, url: str, check: ValidationCheck, clock: Clock) -> ValidationResult:
    deadline = clock.now() + check.within_seconds
    result = ValidationResult(ok=False, url=url, consecutive_ok=0)
    while True:
        probe = probe_once(client, url, check)
        probe["t"] = round(clock.now(), 3)
        result.probes.append(probe)
        result.consecutive_ok = result.consecutive_ok + 1 if probe["ok"] else 0
        if result.consecutive_ok >= check.probes:
            result.ok = True
            result.detail = f"{check.probes} consecutive OK probes of {url}"
            return result
        if clock.now() + check.interval_seconds > deadline:
            last = probe.get("status") or probe.get("error") or probe.get("http")
            result.detail = (
                f"not healthy within {check.within_seconds:.0f}s: {result.consecutive_ok}/{check.probes} "
                f"consecutive OK, last answer {last}"
            )
            return result
        clock.sleep(check.interval_seconds)


__all__ = ["ValidationResult", "probe_once", "validate_health"]


def health_url(config: HealingConfig, service: str, endpoint: str | None, default_base_url: str) -> str:
    """Where to validate ``service``: the policy's endpoint, the service's health path, or the default."""
    conf = config.services.get(service)
    path = endpoint or (conf.health_path if conf and conf.health_path else f"/api/health/{service}")
    if path.startswith(("http://", "https://")):
        return path
    base = (conf.admin_url if conf and conf.admin_url else default_base_url).rstrip("/")
    return base + (path if path.startswith("/") else "/" + path)
