"""What ``HealingExecutor.from_settings`` builds from ``forewarn.settings``: config, paths, admin clients.

Why apart from the executor: reading settings, loading the YAML config and signing admin requests
(one httpx client per admin base URL, with the signing key from settings) is wiring, not acting; tests
build the executor from explicit parts and never need it.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from forewarn.healing.config import HealingConfig
from forewarn.healing.paths import HealingPaths

__all__ = ["parts_from_settings"]


def parts_from_settings(
    settings: Any, overrides: dict[str, Any]
) -> tuple[HealingConfig, HealingPaths, dict[str, Any]]:
    """(config, paths, keyword options) for the executor; ``overrides`` win over settings."""
    from forewarn.admin_signing import AdminAuth, signing_key_from_settings
    from forewarn.field_crypto import cipher_from_settings
    from forewarn.healing.config import load_config
    from forewarn.settings import load_settings

    settings = settings or load_settings()
    healing = settings.healing
    config = overrides.pop("config", None) or load_config(healing.config)
    paths = overrides.pop("paths", None) or HealingPaths.from_settings(healing)
    clients: dict[str, httpx.Client] = {}
    key = signing_key_from_settings(healing)
    auth = AdminAuth(healing.admin_key_id, key) if key is not None else None

    # An https admin URL signed by a private CA: trust that CA (and still verify host names).
    verify: ssl.SSLContext | bool = True
    if healing.admin_ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(healing.admin_ca_bundle))

    def admin_client_for(service: str) -> httpx.Client | None:
        if auth is None:
            return None
        conf = config.services.get(service)
        base = (conf.admin_url if conf and conf.admin_url else healing.admin_base_url).rstrip("/")
        if base not in clients:
            clients[base] = httpx.Client(base_url=base, auth=auth, timeout=10.0, verify=verify)
        return clients[base]

    overrides.setdefault("admin_client_for", admin_client_for)
    overrides.setdefault("http_verify", verify)
    if "audit_cipher" not in overrides:
        overrides["audit_cipher"] = cipher_from_settings(settings.security)
    overrides.setdefault("default_base_url", healing.admin_base_url)
    overrides.setdefault("global_mode", healing.mode)
    overrides.setdefault("dependencies", settings.dependencies)
    overrides.setdefault("action_settings", healing.actions)
    return config, paths, overrides
