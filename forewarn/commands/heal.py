"""``forewarn heal ...``: the healing executor's controls (kill switch, overrides, approvals, config)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from forewarn.healing.paths import HealingPaths


def _paths(state_dir: Path | None = None) -> HealingPaths:
    from forewarn.healing.paths import HealingPaths
    from forewarn.settings import load_settings

    if state_dir is not None:
        return HealingPaths.under(state_dir)
    return HealingPaths.from_settings(load_settings().healing)


def _audit_control(why: str, actor: str, state_dir: Path | None) -> None:
    from forewarn.healing.audit import AuditLog, AuditRecord

    AuditLog(_paths(state_dir).audit_log).append(
        AuditRecord(event="control", actor=actor, why=why, outcome="ok")
    )


StateOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Healing state folder (default: from settings).")
]


def register(app: typer.Typer) -> None:
    heal = typer.Typer(
        help="The healing executor: kill switch, manual override, approvals, policy checks.",
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

        from forewarn.healing.state import StateStore

        if state not in ("on", "off"):
            raise typer.BadParameter("state must be on or off")
        paths = _paths(state_dir)
        StateStore(paths.state_db).set_override(service, state == "on", time.time(), reason)
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

    @heal.command("approvals")
    def approvals(state_dir: StateOpt = None) -> None:
        """List pending approvals (mode: approve)."""
        from forewarn.healing.state import StateStore

        for row in StateStore(_paths(state_dir).state_db).approvals("pending"):
            typer.echo(f"{row['id']}  plan={row['payload'].get('plan')}  expires_at={row['expires_at']:.0f}")

    @heal.command("approve")
    def approve(
        approval_id: Annotated[str, typer.Argument(help="Id from `forewarn heal approvals`.")],
        by: Annotated[str, typer.Option(help="Who approves.")] = "cli",
    ) -> None:
        """Approve a pending plan and run it now (every guard still applies)."""
        from forewarn.healing.errors import HealingError
        from forewarn.healing.executor import HealingExecutor

        executor = HealingExecutor.from_settings()
        try:
            records = executor.approve(approval_id, by)
        except HealingError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        finally:
            executor.close()
        for record in records:
            typer.echo(f"{record.action}: {record.status} {record.detail}")

    @heal.command("reject")
    def reject(
        approval_id: Annotated[str, typer.Argument(help="Id from `forewarn heal approvals`.")],
        by: Annotated[str, typer.Option(help="Who rejects.")] = "cli",
        state_dir: StateOpt = None,
    ) -> None:
        """Reject a pending plan: nothing runs."""
        from forewarn.healing.state import StateStore

        if not StateStore(_paths(state_dir).state_db).decide_approval(approval_id, "rejected", by):
            typer.echo(f"no pending approval {approval_id!r}", err=True)
            raise typer.Exit(1)
        _audit_control(f"rejected {approval_id}", by, state_dir)
        typer.echo(f"rejected {approval_id}")

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
        sources: Annotated[
            str,
            typer.Option(
                "--from",
                help="Comma-separated inputs: detections, forecasts, incidents. Use incidents instead "
                "of detections when the incident service runs, so one incident is one heal.",
            ),
        ] = "detections,forecasts",
        duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    ) -> None:
        """Consume triggers from Kafka, heal, and publish every decision to the actions topic."""
        import signal
        import threading

        from kafka import KafkaConsumer

        from forewarn.healing.executor import HealingExecutor
        from forewarn.healing.runner import HealingRunner
        from forewarn.kafka.io import make_producer
        from forewarn.settings import load_settings

        settings = load_settings()
        topics = settings.topics
        names = {"detections": (topics.detections, "detection"), "forecasts": (topics.forecasts, "forecast")}
        names["incidents"] = (topics.incidents, "incident")
        wanted = [part.strip() for part in sources.split(",") if part.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown or not wanted:
            raise typer.BadParameter(f"--from takes detections, forecasts, incidents (got {sources!r})")
        mapping = dict(names[w] for w in wanted)
        executor = HealingExecutor.from_settings(settings)
        consumer = KafkaConsumer(
            *mapping,
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=f"{settings.kafka.consumer_group}-healing",
            client_id=f"{settings.kafka.client_id}-healing",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        producer = make_producer(settings)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if duration is not None:
            threading.Timer(duration, stop.set).start()

        def show(record: object) -> None:
            from forewarn.healing.records import ActionDecision

            assert isinstance(record, ActionDecision)
            typer.echo(
                f"{record.service:10} {record.action or '-':24} {record.status:16} {record.detail[:80]}"
            )

        runner = HealingRunner(executor, consumer, producer, mapping, topics.actions, on_record=show)
        typer.echo(f"healing: mode {executor.global_mode}; consuming {', '.join(mapping)}", err=True)
        try:
            stats = runner.run(stop)
        finally:
            consumer.close()
            producer.close()
            executor.close()
        typer.echo(f"healing: {stats}", err=True)

    app.add_typer(heal, name="heal")
