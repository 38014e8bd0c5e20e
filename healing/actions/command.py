"""``run-command``: run an allow-listed executable with arguments (a runbook script), never a shell.

Why an allow-list in settings and not in the policy: the healing YAML says *what* to run, the
deployer says what *may* run (``healing.actions.command_allowlist``); a policy cannot widen it, and a
path is compared after symlinks are resolved, so a link in a writable folder does not get round it.
Arguments are a list passed as is (no shell, no globbing, no ``$VAR``), the command runs with a timeout
(its whole process group is killed), and its output is truncated and redacted before the audit.

Explicitly irreversible: what a script changes is unknown here. A step may name an
``undo_command`` (allow-listed too) that rollback runs after a failed validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from forewarn.healing.actions.argv import Completed, resolve_executable, run_argv
from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.output import tail
from forewarn.healing.errors import ActionFailed


class RunCommandParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)  # [executable, arg, ...]; the executable is allow-listed
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)  # added to PATH, LANG, HOME and FOREWARN_*
    max_output_bytes: int = Field(4096, ge=0, le=1_048_576)  # per stream, the end is kept
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    undo_command: list[str] | None = Field(None, min_length=1)


class RunCommand(Action):
    name = "run-command"
    description = "Run an allow-listed executable with arguments (no shell), with a timeout; output audited."
    params_model = RunCommandParams
    reversible = False  # what a script changes is unknown; undo_command, when given, is best effort

    @property
    def can_undo(self) -> bool:
        return True  # only when the step names an undo_command (then undo_state is set)

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, RunCommandParams)
        done = self._run(params.command, params, ctx)
        undo = {"command": params.undo_command} if params.undo_command else {}
        return ActionOutcome(True, _summary(done), data=_evidence(done, params, ctx), undo_state=undo)

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        assert isinstance(params, RunCommandParams)
        command = outcome.undo_state.get("command")
        if not isinstance(command, list) or not command:
            raise ActionFailed("run-command: this step named no undo_command")
        done = self._run([str(part) for part in command], params, ctx)
        return ActionOutcome(True, "undo: " + _summary(done), data=_evidence(done, params, ctx))

    def _run(self, command: list[str], params: RunCommandParams, ctx: ActionContext) -> Completed:
        executable = allowed(command[0], ctx.settings.command_allowlist)
        env = {
            **params.env,
            "FOREWARN_SERVICE": ctx.service,
            "FOREWARN_REASON": ctx.reason,
            "FOREWARN_IDEMPOTENCY_KEY": ctx.idempotency_key,
        }
        done = run_argv(
            [str(executable), *command[1:]], timeout=params.timeout_seconds, env=env, cwd=params.cwd
        )
        if done.timed_out:
            raise ActionFailed(
                f"run-command: {command[0]} timed out after {params.timeout_seconds:g}s "
                "(its process group was killed)" + _stderr_hint(done, params, ctx),
                retryable=True,
            )
        if done.returncode not in params.ok_exit_codes:
            raise ActionFailed(
                f"run-command: {command[0]} exited {done.returncode}" + _stderr_hint(done, params, ctx)
            )
        return done


def allowed(name: str, allowlist: list[Path]) -> Path:
    """The resolved executable when it is on the allow-list; ``ActionFailed`` naming it otherwise."""
    if not allowlist:
        raise ActionFailed(
            f"run-command: {name} refused: healing.actions.command_allowlist is empty (nothing may run)"
        )
    executable = resolve_executable(name)
    permitted = {Path(p).resolve() for p in allowlist}
    if executable not in permitted:
        raise ActionFailed(
            f"run-command: {name} ({executable}) refused: not in healing.actions.command_allowlist"
        )
    return executable


def _summary(done: Completed) -> str:
    return f"{Path(done.argv[0]).name} exited {done.returncode}"


def _evidence(done: Completed, params: RunCommandParams, ctx: ActionContext) -> dict[str, Any]:
    stdout, out_cut = tail(done.stdout, params.max_output_bytes)
    stderr, err_cut = tail(done.stderr, params.max_output_bytes)
    return {
        "argv": [ctx.redact(part) for part in done.argv],
        "exit_code": done.returncode,
        "stdout": ctx.redact(stdout),
        "stderr": ctx.redact(stderr),
        "truncated": out_cut or err_cut,
    }


def _stderr_hint(done: Completed, params: RunCommandParams, ctx: ActionContext) -> str:
    text, _ = tail(done.stderr or done.stdout, min(params.max_output_bytes, 300))
    text = ctx.redact(text.strip())
    return f": {text}" if text else ""


__all__ = ["RunCommand", "RunCommandParams", "allowed"]
