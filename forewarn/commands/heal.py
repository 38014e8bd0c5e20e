"""``forewarn heal ...``: the healing executor's controls (kill switch, overrides, approvals, config).

The executor itself runs in one process, ``forewarn respond`` (``heal run`` is an alias of it):
``approve`` and ``reject`` queue a request in the state store, which the responder applies on its
next tick; the kill switch and overrides are shared files/state every process reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from forewarn.healing.paths import HealingPaths
    from forewarn.healing.state import StateStore


def _paths(state_dir: Path | None = None) -> HealingPaths:
    from forewarn.healing.paths import HealingPaths
    from forewarn.settings import load_settings

    if state_dir is not None:
        return HealingPaths.under(state_dir)
    return HealingPaths.from_settings(load_settings().healing)


def _state(state_dir: Path | None = None) -> StateStore:
    """The executor's SQLite state, with the storage keys so sealed columns open."""
    from forewarn.field_crypto import cipher_from_settings
    from forewarn.healing.state import StateStore
    from forewarn.settings import load_settings

    return StateStore(_paths(state_dir).state_db, cipher=cipher_from_settings(load_settings().security))


def _audit_control(why: str, actor: str, state_dir: Path | None) -> None:
    from forewarn.field_crypto import cipher_from_settings
    from forewarn.healing.audit import AuditLog, AuditRecord
    from forewarn.settings import load_settings

    cipher = cipher_from_settings(load_settings().security)
    AuditLog(_paths(state_dir).audit_log, cipher=cipher).append(
        AuditRecord(event="control", actor=actor, why=why, outcome="ok")
    )


StateOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Healing state folder (default: from settings).")
]
WaitOpt = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for `forewarn respond` to apply it.")
]


def _queue(
    verb: str, approval_id: str, by: str, extra: dict[str, str], wait: float, state_dir: Path | None
) -> None:
    """Queue an approval decision for the responder; the same decision again shows the first request.

    Exits 1 if no such approval is pending (and none was queued), or if the responder refused it.
    """
    import time

    from forewarn.settings import load_settings
    from forewarn.store.control import Verb
    from forewarn.store.db import open_store

    kind: Verb = "approve" if verb == "approve" else "deny"
    request_id = f"{kind}:{approval_id}"
    store = open_store(load_settings())
    try:
        if store.control.get(request_id) is None:
            pending = {row["id"] for row in _state(state_dir).approvals("pending")}
            if approval_id not in pending:
                typer.echo(f"no pending approval {approval_id!r}", err=True)
                raise typer.Exit(1)
        request, _ = store.control.submit(
            request_id, kind, approval_id, by, {"approval_id": approval_id, **extra}
        )
        deadline = time.monotonic() + wait
        while request["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.5)
            request = store.control.get(request_id) or request
    finally:
        store.close()
    typer.echo(
        f"{request['id']}: {request['status']}"
        + (f" {json.dumps(request['result'])}" if request["result"] else "")
    )
    if request["status"] == "pending":
        typer.echo(
            "`forewarn respond` applies it on its next tick; `forewarn heal request ID` shows the outcome"
        )
    elif request["status"] == "refused":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    heal = typer.Typer(
        help="The healing executor's controls: kill switch, manual override, approvals (queued for "
        "`forewarn respond`, which runs the executor), policy checks; `heal run` is an alias of respond.",
        no_args_is_help=True,
    )

    @heal.command("kill-switch")
    def kill_switch(
        state: Annotated[str, typer.Argument(help="on, off or status")],
        reason: Annotated[str, typer.Option(help="Why (kept in the file and the audit log).")] = "",
        actor: Annotated[str, typer.Option(help="Who.")] = "cli",
        file: Annotated[
            Path | None, typer.Option("--file", help="Kill-switch file (default: from settings).")
        ] = None,
        state_dir: StateOpt = None,
    ) -> None:
        """Stop every healing action at once (on), allow them again (off), or show the switch."""
        from forewarn.healing.kill_switch import KillSwitch

        switch = KillSwitch(file or _paths(state_dir).kill_switch_file)
        if state == "on":
            switch.engage(reason, actor)
            if file is None:
                _audit_control(f"kill switch on: {reason}", actor, state_dir)
            typer.echo(f"kill switch ON ({switch.path}): no healing action will run")
        elif state == "off":
            was = switch.release()
            if file is None:
                _audit_control("kill switch off", actor, state_dir)
            typer.echo(f"kill switch OFF ({switch.path})" + ("" if was else " (it was not on)"))
        elif state == "status":
            info = switch.status()
            typer.echo(f"ON {json.dumps(info)}" if info is not None else "OFF")
        else:
            raise typer.BadParameter("state must be on, off or status")

    @heal.command("override")
    def override(
        service: Annotated[str, typer.Argument(help="Service a human takes over ('*' for all).")],
        state: Annotated[str, typer.Argument(help="on or off")],
        reason: Annotated[str, typer.Option(help="Why.")] = "",
        state_dir: StateOpt = None,
    ) -> None:
        """Manual override: on = a human owns SERVICE, the executor keeps its hands off."""
        import time

        if state not in ("on", "off"):
            raise typer.BadParameter("state must be on or off")
        _state(state_dir).set_override(service, state == "on", time.time(), reason)
        _audit_control(f"manual override {state} for {service}: {reason}", "cli", state_dir)
        typer.echo(f"override {state} for {service}")

    @heal.command("check-config")
    def check_config(
        path: Annotated[Path | None, typer.Argument(help="Healing YAML (default: the shipped one).")] = None,
    ) -> None:
        """Validate a healing config; errors name the file and line. Exits 1 when invalid."""
        from forewarn.healing.config import load_config
        from forewarn.healing.errors import ConfigError

        try:
            config = load_config(path)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"OK: {len(config.policies)} policies, {len(config.services)} services, "
            f"{len(config.signatures)} signatures, {len(config.notifications.channels)} channels"
        )

    @heal.command("actions")
    def actions() -> None:
        """List the registered actions, whether each can run early (reversible) and has an undo."""
        from forewarn.healing.actions.registry import default_registry

        registry = default_registry()
        for name in registry.names():
            action = registry.get(name)
            flags = ("reversible" if action.reversible else "IRREVERSIBLE") + (
                ", undo" if action.can_undo else ""
            )
            flags += ", restarts" if action.restarts else ""
            typer.echo(f"{name:24} [{flags}] {action.description}")

    @heal.command("rekey")
    def rekey(state_dir: StateOpt = None) -> None:
        """Re-seal the executor's state (results, approvals, override reasons) with the first storage key.

        Run after putting a new key first in security.storage_keys (with `forewarn store rekey`); the
        audit log is never re-sealed (its hash chain covers the ciphertext). Safe to repeat.
        """
        from forewarn.field_crypto import StorageKeyError

        store = _state(state_dir)
        try:
            if store.cipher is None:
                typer.echo("no storage key configured (security.storage_keys / storage_key_file)", err=True)
                raise typer.Exit(2)
            try:
                changed = store.rekey()
            except StorageKeyError as exc:
                typer.echo(f"rekey stopped, nothing changed: {exc}", err=True)
                raise typer.Exit(1) from None
            typer.echo(f"re-sealed {changed} rows of {store.path} with key {store.cipher.current_id}")
        finally:
            store.close()

    @heal.command("approvals")
    def approvals(state_dir: StateOpt = None) -> None:
        """List pending approvals (mode: approve)."""
        for row in _state(state_dir).approvals("pending"):
            typer.echo(f"{row['id']}  plan={row['payload'].get('plan')}  expires_at={row['expires_at']:.0f}")

    @heal.command("approve")
    def approve(
        approval_id: Annotated[str, typer.Argument(help="Id from `forewarn heal approvals`.")],
        by: Annotated[str, typer.Option(help="Who approves.")] = "cli",
        wait: WaitOpt = 0.0,
        state_dir: StateOpt = None,
    ) -> None:
        """Approve a pending plan: `forewarn respond` runs it on its next tick (every guard applies)."""
        _queue("approve", approval_id, by, {}, wait, state_dir)

    @heal.command("reject")
    def reject(
        approval_id: Annotated[str, typer.Argument(help="Id from `forewarn heal approvals`.")],
        by: Annotated[str, typer.Option(help="Who rejects.")] = "cli",
        reason: Annotated[str, typer.Option(help="Why.")] = "",
        wait: WaitOpt = 0.0,
        state_dir: StateOpt = None,
    ) -> None:
        """Reject a pending plan: nothing runs (applied by `forewarn respond` on its next tick)."""
        _queue("deny", approval_id, by, {"reason": reason}, wait, state_dir)

    @heal.command("request")
    def request(
        request_id: Annotated[str, typer.Argument(help="Id printed by approve, reject or the API.")],
    ) -> None:
        """Show an operator request and its outcome (pending until `forewarn respond` applies it)."""
        from forewarn.settings import load_settings
        from forewarn.store.db import open_store

        store = open_store(load_settings())
        try:
            found = store.control.get(request_id)
        finally:
            store.close()
        if found is None:
            typer.echo(f"no request {request_id!r}", err=True)
            raise typer.Exit(1)
        typer.echo(json.dumps(found, indent=2, default=str))

    @heal.command("handle")
    def handle(
        trigger_json: Annotated[str, typer.Argument(help="Trigger as a JSON file, or '-' for stdin.")],
    ) -> None:
        """Hand one trigger to the executor (as the pipeline does) and print what it did."""
        from pydantic import ValidationError

        from forewarn.healing.executor import HealingExecutor
        from forewarn.healing.triggers import Trigger

        raw = sys.stdin.read() if trigger_json == "-" else Path(trigger_json).read_text()
        try:
            trigger = Trigger.model_validate_json(raw)
        except ValidationError as exc:
            typer.echo(f"invalid trigger: {exc}", err=True)
            raise typer.Exit(2) from None
        executor = HealingExecutor.from_settings()
        try:
            for record in executor.handle(trigger):
                typer.echo(record.model_dump_json())
        finally:
            executor.close()

    @heal.command("run")
    def run(
        from_beginning: Annotated[
            bool, typer.Option("--from-beginning", help="Read detections from the topic's start.")
        ] = False,
    ) -> None:
        """Alias of `forewarn respond`: the one process that runs the healing executor.

        It reads the detections topic (exhaustion forecasts arrive there as detections), groups them
        into incidents, heals, applies queued approvals/rejections/manual triggers, and publishes
        incidents and action records. Ctrl-C stops it.
        """
        from forewarn.incidents.service import serve
        from forewarn.log_setup import setup_logging
        from forewarn.settings import load_settings

        settings = load_settings()
        setup_logging(settings.log_level)
        serve(settings, from_beginning=from_beginning)

    app.add_typer(heal, name="heal")
