"""run-command and systemd-restart run real processes: allow-list, no shell, timeout, bounded and
redacted output. systemd-restart is tested against systemctl's contract (argv in, exit code out) with
a fake ``systemctl`` first on PATH: this machine has no systemd."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from forewarn.healing.actions.base import ActionContext
from forewarn.healing.actions.command import RunCommand
from forewarn.healing.actions.output import basic_redact
from forewarn.healing.actions.registry import default_registry
from forewarn.healing.actions.systemd import SystemdRestart
from forewarn.healing.clock import ManualClock, SystemClock
from forewarn.healing.config import load_config
from forewarn.healing.errors import ActionFailed
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.settings import ActionSettings

from .helpers import detection

pytestmark = pytest.mark.integration

SH = shutil.which("sh") or "/bin/sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"


def _ctx(settings: ActionSettings) -> ActionContext:
    return ActionContext(
        service="worker", clock=SystemClock(), idempotency_key="inc-1:run-command:0", settings=settings
    )


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_an_allowed_command_runs_without_a_shell_and_its_output_is_kept(tmp_path: Path) -> None:
    script = _script(tmp_path, "flush.sh", 'echo "flushed $1 for $FOREWARN_SERVICE"; echo warn >&2\n')
    action = RunCommand()
    params = action.parse({"command": [str(script), "mail; rm -rf /tmp/x", "$HOME"]})
    outcome = action.run(params, _ctx(ActionSettings(command_allowlist=[script])))
    # The argument with a ';' is one argv entry, never interpreted: no shell ran it.
    assert outcome.data["stdout"] == "flushed mail; rm -rf /tmp/x for worker\n"
    assert outcome.data["stderr"] == "warn\n"
    assert outcome.data["exit_code"] == 0 and outcome.data["truncated"] is False
    assert outcome.undo_state == {}  # no undo_command: nothing for rollback to run


def test_a_command_off_the_allow_list_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    allowed = _script(tmp_path, "ok.sh", "true\n")
    other = _script(tmp_path, "other.sh", f"touch {marker}\n")
    action = RunCommand()
    with pytest.raises(ActionFailed, match=r"not in healing\.actions\.command_allowlist"):
        action.run(action.parse({"command": [str(other)]}), _ctx(ActionSettings(command_allowlist=[allowed])))
    # A symlink to an allowed name does not get round it: the target is compared, not the link.
    link = tmp_path / "ok-link.sh"
    link.symlink_to(other)
    with pytest.raises(ActionFailed, match="refused"):
        action.run(action.parse({"command": [str(link)]}), _ctx(ActionSettings(command_allowlist=[allowed])))
    with pytest.raises(ActionFailed, match="command_allowlist is empty"):
        action.run(action.parse({"command": [str(allowed)]}), _ctx(ActionSettings()))
    assert not marker.exists()


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The script starts a grandchild and waits: killing only the script would leave the grandchild.
    script = _script(tmp_path, "hang.sh", f"{SLEEP} 60 & echo $! > {pidfile}; echo started; wait\n")
    action = RunCommand()
    params = action.parse({"command": [str(script)], "timeout_seconds": 0.5})
    with pytest.raises(ActionFailed, match=r"timed out after 0\.5s") as err:
        action.run(params, _ctx(ActionSettings(command_allowlist=[script])))
    assert err.value.retryable
    grandchild = int(pidfile.read_text())
    for _ in range(250):  # the signal lands asynchronously
        if not _alive(grandchild):
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"the grandchild {grandchild} survived the timeout")


def _alive(pid: int) -> bool:
    """Running, not merely unreaped: a killed grandchild is a zombie until PID 1 reaps it, which a
    container's init may do seconds later (a full suite once saw it outlast a 2 s wait)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): exists is all we can know
    return state != "Z"


def test_a_failing_command_fails_the_step_with_its_redacted_stderr(tmp_path: Path) -> None:
    script = _script(tmp_path, "bad.sh", 'echo "cannot connect: password=hunter2" >&2; exit 3\n')
    action = RunCommand()
    with pytest.raises(ActionFailed, match="exited 3") as err:
        action.run(action.parse({"command": [str(script)]}), _ctx(ActionSettings(command_allowlist=[script])))
    assert "hunter2" not in str(err.value) and "password=[REDACTED]" in str(err.value)


def test_output_is_truncated_to_its_end_and_redacted(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "noisy.sh",
        "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; echo token=abc123\n",
    )
    action = RunCommand()
    params = action.parse({"command": [str(script)], "max_output_bytes": 64})
    outcome = action.run(params, _ctx(ActionSettings(command_allowlist=[script])))
    assert outcome.data["truncated"] is True
    # Cut to the last 64 bytes first, then redacted (a mask may be longer than what it hides).
    assert len(outcome.data["stdout"]) <= 64 + len("[REDACTED]") and "abc123" not in outcome.data["stdout"]
    assert outcome.data["stdout"].endswith("token=[REDACTED]\n") and "line 499" in outcome.data["stdout"]


def test_params_are_checked_when_the_policy_loads() -> None:
    action = RunCommand()
    with pytest.raises(ValidationError):
        action.parse({"command": []})
    with pytest.raises(ValidationError):
        action.parse({"command": ["x"], "shell": True})


def test_basic_redaction() -> None:
    assert basic_redact("DB_PASSWORD=hunter2 ok") == "DB_PASSWORD=[REDACTED] ok"
    assert basic_redact("postgresql://app:s3cret@db/app") == "postgresql://app:[REDACTED]@db/app"
    assert "abcdefghijkl" not in basic_redact("Authorization: Bearer abcdefghijkl")
    assert basic_redact("took 35 ms, 200 OK") == "took 35 ms, 200 OK"


def test_the_executor_runs_a_command_step_under_its_guards_and_audits_redacted_output(tmp_path: Path) -> None:
    script = _script(tmp_path, "fix.sh", 'echo "fixed with api_key=sk-123456"\n')
    clock = ManualClock(1_800_000_000.0)
    config_path = tmp_path / "healing.yaml"
    config_path.write_text(
        f"""version: 1
signatures: [{{issue_class: outage, kinds: [failure]}}]
policies:
  - name: run-fix
    trigger: {{issue_class: outage}}
    actions:
      - action: run-command
        params: {{command: [{script}]}}
"""
    )
    executor = HealingExecutor(
        load_config(config_path),
        HealingPaths.under(tmp_path / "state"),
        clock=clock,
        action_settings=ActionSettings(command_allowlist=[script]),
    )
    try:
        records = executor.handle(detection(clock, "worker", severity="critical"))
        assert [r.status for r in records] == ["succeeded"], records
        audit = (tmp_path / "state" / "audit.jsonl").read_text()
        assert "fixed with api_key=[REDACTED]" in audit and "sk-123456" not in audit
        # The kill switch stops it like any other action.
        executor.kill_switch.engage("test", "operator")
        again = executor.handle(detection(clock, "worker", severity="critical", id="d2", incident_id="inc-2"))
        assert [r.status for r in again] == ["rejected"] and "kill" in again[0].detail
    finally:
        executor.close()


# -- systemd, against systemctl's contract ------------------------------------------------------------


def _fake_systemctl(folder: Path, log: Path, active_exit: int = 0) -> Path:
    """A ``systemctl`` that records its argv (one line per call) and answers like the real one."""
    folder.mkdir(exist_ok=True)
    return _script(
        folder,
        "systemctl",
        f'echo "$*" >> {log}\n'
        'case "$1$2" in\n'
        f"  *is-active*) [ {active_exit} -eq 0 ] && echo active || echo failed; exit {active_exit};;\n"
        "esac\nexit 0\n",
    )


def test_systemd_restart_calls_systemctl_restart_then_is_active(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "argv.log"
    _fake_systemctl(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    action = SystemdRestart()
    outcome = action.run(action.parse({"unit": "checkout.service"}), _ctx(ActionSettings()))
    assert log.read_text().splitlines() == ["restart -- checkout.service", "is-active -- checkout.service"]
    assert outcome.data["state"] == "active"
    action.run(action.parse({"unit": "worker@2.service", "user": True}), _ctx(ActionSettings()))
    assert log.read_text().splitlines()[-2] == "--user restart -- worker@2.service"


def test_systemd_restart_fails_when_the_unit_is_not_active_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "argv.log"
    fake = _fake_systemctl(tmp_path / "bin", log, active_exit=3)
    action = SystemdRestart()
    with pytest.raises(ActionFailed, match="the unit is failed afterwards"):
        action.run(action.parse({"unit": "checkout.service"}), _ctx(ActionSettings(systemctl=str(fake))))


def test_systemd_unit_names_cannot_be_options() -> None:
    action = SystemdRestart()
    for bad in ("--now", "-H", "a b.service", "x;reboot"):
        with pytest.raises(ValidationError):
            action.parse({"unit": bad})


def test_every_new_action_is_registered_and_says_if_it_can_be_undone() -> None:
    registry = default_registry()
    flags = {n: (registry.get(n).reversible, registry.get(n).restarts) for n in registry.names()}
    assert flags["run-command"] == (False, False)
    assert flags["webhook"] == (False, False)
    assert flags["systemd-restart"] == (True, True)
    assert flags["k8s-rollout-restart"] == (True, True)
    assert flags["k8s-scale"] == (True, False)
    assert SH  # sh exists: the scripts above need it
