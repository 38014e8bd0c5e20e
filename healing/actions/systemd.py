"""``systemd-restart``: ``systemctl restart UNIT``, then ``systemctl is-active UNIT`` to check it came back.

Why through ``systemctl`` and not D-Bus: it is what an operator would type, it needs no extra library,
and its contract (argv in, exit code out: 0 = done / active) is stable across systemd versions. The
unit name is checked against systemd's own character set and never starts with ``-``, so it cannot be
read as an option. ``healing.actions.systemctl`` names the executable (default: found on PATH).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from forewarn.healing.actions.argv import resolve_executable, run_argv
from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.output import tail
from forewarn.healing.errors import ActionFailed

# systemd.unit(5): ASCII letters, digits, ":", "-", "_", ".", "\" and "@" (templates); a type suffix.
UNIT_PATTERN = r"^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@\-]{0,250}$"


class SystemdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = Field(pattern=UNIT_PATTERN)
    user: bool = False  # the user manager (systemctl --user) instead of the system one
    timeout_seconds: float = Field(90.0, gt=0, le=900)
    check_active: bool = True  # after the restart, systemctl is-active must say "active"


class SystemdRestart(Action):
    name = "systemd-restart"
    description = "Restart a systemd unit through systemctl and check it is active again."
    params_model = SystemdParams
    reversible = True  # the same unit, version and configuration come back
    restarts = True

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, SystemdParams)
        systemctl = str(resolve_executable(ctx.settings.systemctl))
        scope = ["--user"] if params.user else []
        done = run_argv([systemctl, *scope, "restart", "--", params.unit], timeout=params.timeout_seconds)
        if done.timed_out or done.returncode != 0:
            why = "timed out" if done.timed_out else f"exited {done.returncode}"
            err, _ = tail(done.stderr, 300)
            raise ActionFailed(
                f"systemctl restart {params.unit} {why}: {ctx.redact(err.strip())}".rstrip(": "),
                retryable=done.timed_out,
            )
        state = "not checked"
        if params.check_active:
            check = run_argv([systemctl, *scope, "is-active", "--", params.unit], timeout=30.0)
            state = check.stdout.decode("utf-8", "replace").strip() or f"exit {check.returncode}"
            if check.returncode != 0:
                raise ActionFailed(f"systemctl restart {params.unit}: the unit is {state} afterwards")
        return ActionOutcome(
            True,
            f"restarted {params.unit} ({state})",
            data={"unit": params.unit, "user": params.user, "state": state},
        )


__all__ = ["SystemdParams", "SystemdRestart"]
