"""``forewarn config check FILE`` and ``forewarn config show``: will it load, and what is in force?

Why: a team installing forewarn on its own stack writes a config file before anything runs. ``check``
answers "will it load?" with one line per problem (file:line, key, allowed values) and exit 2;
``show`` answers "what does forewarn use after the file and the FOREWARN_* variables?", with every
secret masked, so it can be pasted into a ticket. Neither starts a broker or touches the network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from forewarn.config_file import ConfigFileError
from forewarn.settings import CONFIG_ENV_VAR, Settings, load_settings, settings_problems

# Exit code of an invalid config, as for any bad command-line input (typer/click use 2 too).
INVALID = 2


def load_or_exit(path: Path | None) -> Settings:
    """Settings from ``path`` (else FOREWARN_CONFIG) and the environment; exit 2 with one line per problem."""
    try:
        return load_settings(path)
    except (ConfigFileError, ValidationError) as exc:
        problems = settings_problems(exc)
    except FileNotFoundError as exc:
        problems = [str(exc)]
    for line in problems:
        typer.echo(line, err=True)
    raise typer.Exit(INVALID)


def masked_url(url: str | None) -> str | None:
    """A database URL with its password hidden (``postgresql+psycopg://app:***@db/forewarn``)."""
    if not url:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def shown(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets (and a store URL's password) masked."""
    data = settings.model_dump(mode="json")
    data["store"]["url"] = masked_url(settings.store.url)
    return data


def summary(settings: Settings) -> str:
    """The few settings that decide what a run touches, on one line."""
    llm = settings.llm.base_url or "off (offline reports)"
    store = masked_url(settings.store.url) or "SQLite in the cache dir"
    return (
        f"kafka {settings.kafka.bootstrap_servers}, detector {settings.detector.model}, "
        f"healing {settings.healing.mode}, store {store}, llm {llm}"
    )


def security_problems(settings: Settings) -> list[str]:
    """Storage or admin keys that cannot be used (bad base64, wrong length, unreadable key file)."""
    from forewarn.admin_signing import AdminKeyError, signing_key_from_settings
    from forewarn.field_crypto import StorageKeyError, cipher_from_settings

    problems = []
    try:
        cipher_from_settings(settings.security)
    except StorageKeyError as exc:
        problems.append(f"security: {exc}")
    try:
        signing_key_from_settings(settings.healing)
    except AdminKeyError as exc:
        problems.append(f"healing: {exc}")
    return problems


def security_warnings(settings: Settings) -> list[str]:
    """What runs in the clear: said by ``check``, so nobody mistakes plain storage for a choice made."""
    warnings = []
    if not settings.security.encrypts():
        warnings.append(
            "no storage key (security.storage_keys / storage_key_file): the state store's payloads, "
            "the audit log's details, the healing state and the recovery snapshots are written in plain text"
        )
    if settings.healing.admin_secret.get_secret_value():
        warnings.append(
            "healing.admin_secret signs with HMAC, so the target holds the same secret; prefer an "
            "Ed25519 key (healing.admin_private_key, `forewarn keys admin`): the target then holds "
            "only the public key"
        )
    return warnings


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Check a settings file, or show the settings in force (file + FOREWARN_* variables).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="config")

    @group.command("check")
    def check(
        path: Annotated[Path, typer.Argument(help="YAML or TOML settings file.", dir_okay=False)],
    ) -> None:
        """Validate a settings file (with the FOREWARN_* variables set now). Exit 0 ok, 2 invalid."""
        settings = load_or_exit(path)
        problems = security_problems(settings)
        for line in problems:
            typer.echo(line, err=True)
        if problems:
            raise typer.Exit(INVALID)
        typer.echo(f"ok: {path}")
        typer.echo(f"  {summary(settings)}")
        for line in security_warnings(settings):
            typer.echo(f"  warning: {line}")

    @group.command("show")
    def show(
        path: Annotated[
            Path | None,
            typer.Argument(help="Settings file (default: --config or FOREWARN_CONFIG).", dir_okay=False),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
    ) -> None:
        """Print the effective settings (defaults < file < FOREWARN_* variables), secrets masked."""
        settings = load_or_exit(path)
        data = shown(settings)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        import yaml

        source = path or os.environ.get(CONFIG_ENV_VAR) or "defaults only, no config file"
        typer.echo(f"# forewarn settings in force ({source}; FOREWARN_* variables applied)")
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
