"""``forewarn heal approve/reject`` queue a request; the responder's executor applies it (real store).

The CLI runs no executor: it checks the approval is pending, writes a control request to the state
store (SQLite here) and, with ``--wait``, shows the outcome once the responder applied it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.healing.clock import ManualClock
from forewarn.healing.control import ControlApplier
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.store.db import Store, make_engine
from tests.healing.fakes import config, registry_with_fakes
from tests.healing.helpers import detection

pytestmark = pytest.mark.unit


def test_cli_approval_is_applied_by_the_process_that_owns_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("FOREWARN_STORE__URL", url)
    clock = ManualClock(1_800_000_000.0)
    registry, fix, _, _ = registry_with_fakes()
    state = tmp_path / "healing"
    executor = HealingExecutor(
        config(registry), HealingPaths.under(state), clock=clock, registry=registry, global_mode="approve"
    )
    store = Store(make_engine(url))
    try:
        [record] = executor.handle(detection(clock, "email"))
        approval_id = str(record.result["approval_id"])
        runner = CliRunner()
        missing = runner.invoke(app, ["heal", "approve", "nope", "--state-dir", str(state)])
        assert missing.exit_code == 1 and "no pending approval" in missing.output

        queued = runner.invoke(
            app, ["heal", "approve", approval_id, "--by", "alice", "--state-dir", str(state)]
        )
        assert queued.exit_code == 0, queued.output
        assert f"approve:{approval_id}: pending" in queued.output and fix.runs == []

        applier = ControlApplier(executor, store.control, clock.now)
        # The responder's tick, a little later, in its own thread (as in its own process).
        ticker = threading.Timer(0.3, applier.apply_pending)
        ticker.start()
        waited = runner.invoke(
            app, ["heal", "approve", approval_id, "--wait", "10", "--state-dir", str(state)]
        )
        ticker.join()
        # The same id again: the request queued first is the one applied, once.
        assert waited.exit_code == 0 and f"approve:{approval_id}: applied" in waited.output, waited.output
        assert len(fix.runs) == 1
        shown = runner.invoke(app, ["heal", "request", f"approve:{approval_id}"])
        assert '"actor": "alice"' in shown.output and '"status": "succeeded"' in shown.output
    finally:
        executor.close()
        store.close()
