"""Each guard refuses on its own, and says which guard it was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forewarn.healing.clock import ManualClock
from forewarn.healing.config import GuardConfig
from forewarn.healing.dependencies import DependencyMap
from forewarn.healing.errors import GuardRejected
from forewarn.healing.guards import Guards
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.state import StateStore

from .fakes import Irreversible, Recorder, config, registry_with_fakes

pytestmark = pytest.mark.unit


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Guards, ManualClock]:
    clock = ManualClock(1_800_000_000.0)
    registry, *_ = registry_with_fakes()
    deps = DependencyMap(config(registry).services)
    store = StateStore(tmp_path / "state.db")
    return Guards(store, KillSwitch(tmp_path / "KILL", clock), clock, deps), clock


def _rejected_by(guards: Guards, guard_config: GuardConfig, service: str = "email") -> str | None:
    try:
        guards.check(Recorder(), service, guard_config)
    except GuardRejected as exc:
        return exc.guard
    return None


def _run(guards: Guards, clock: ManualClock, service: str = "email", restart: bool = True) -> None:
    guards.store.record_run(clock.now(), service, "fake-fix", restart)


def test_cooldown(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    conf = GuardConfig(cooldown_seconds=120)
    _run(guards, clock)
    clock.advance(119)
    assert _rejected_by(guards, conf) == "cooldown"
    clock.advance(2)
    assert _rejected_by(guards, conf) is None


def test_restart_budget_only_counts_restarts(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    conf = GuardConfig.model_validate({"restart_budget": {"max": 2, "per_seconds": 3600}})
    _run(guards, clock)
    _run(guards, clock, restart=False)
    assert _rejected_by(guards, conf) is None
    _run(guards, clock)
    assert _rejected_by(guards, conf) == "restart-budget"
    assert _rejected_by(guards, conf, service="auth") is None, "budgets are per service"
    # A non-restarting action is not held by the restart budget.
    guards.check(Irreversible(), "email", conf)
    clock.advance(3601)
    assert _rejected_by(guards, conf) is None


def test_rate_limits(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    per_action = GuardConfig.model_validate({"rate_limit": {"max": 2, "per_seconds": 60}})
    overall = GuardConfig.model_validate({"global_rate_limit": {"max": 3, "per_seconds": 60}})
    _run(guards, clock, "a")
    _run(guards, clock, "b")
    assert _rejected_by(guards, per_action, "c") == "rate-limit"
    guards.store.record_run(clock.now(), "c", "other", False)
    assert _rejected_by(guards, overall, "d") == "global-rate-limit"
    clock.advance(61)
    assert _rejected_by(guards, per_action, "c") is None


def test_kill_switch_override_and_maintenance(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    conf = GuardConfig()
    guards.kill_switch.engage("stop", "test")
    assert _rejected_by(guards, conf) == "kill-switch"
    guards.kill_switch.release()
    guards.kill_switch.path.write_text("")  # a hand-made empty file counts too
    assert _rejected_by(guards, conf) == "kill-switch"
    guards.kill_switch.release()
    guards.store.set_override("email", True, clock.now(), "on it")
    assert _rejected_by(guards, conf) == "manual-override"
    guards.store.set_override("email", False, clock.now())
    now = datetime.fromtimestamp(clock.now(), tz=UTC)
    hhmm = now.strftime("%H:%M")
    end = datetime.fromtimestamp(clock.now() + 3600, tz=UTC).strftime("%H:%M")
    daily = GuardConfig.model_validate(
        {"maintenance_windows": [{"service": "email", "daily": f"{hhmm}-{end}"}]}
    )
    assert _rejected_by(guards, daily) == "maintenance-window"
    assert _rejected_by(guards, daily, "auth") is None


def test_breaker_opens_then_half_opens_once(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    conf = GuardConfig.model_validate({"breaker": {"failures": 2, "pause_seconds": 100}})
    assert guards.record_heal("fake-fix", "email", False, conf) == "closed"
    assert guards.record_heal("fake-fix", "email", False, conf) == "open"
    assert _rejected_by(guards, conf) == "circuit-breaker"
    clock.advance(100)
    assert _rejected_by(guards, conf) is None  # the half-open trial
    assert _rejected_by(guards, conf) == "circuit-breaker", "only one trial while half-open"
    assert guards.record_heal("fake-fix", "email", True, conf) == "closed"
    assert _rejected_by(guards, conf) is None


def test_concurrency_and_cascade_slots(setup: tuple[Guards, ManualClock]) -> None:
    guards, _ = setup
    conf = GuardConfig(max_concurrent=2)
    with guards.slot("database", conf):
        with pytest.raises(GuardRejected, match="cascade"), guards.slot("auth", conf):
            pass
        with (
            guards.slot("email", conf),
            pytest.raises(GuardRejected, match="max-concurrent"),
            guards.slot("other", conf),
        ):
            pass
    with guards.slot("auth", conf):
        assert guards.healing_now() == {"auth"}


def test_absolute_maintenance_window_and_policy_overrides(setup: tuple[Guards, ManualClock]) -> None:
    guards, clock = setup
    start = datetime.fromtimestamp(clock.now() - 60, tz=UTC)
    end = datetime.fromtimestamp(clock.now() + 60, tz=UTC)
    base = GuardConfig.model_validate(
        {"cooldown_seconds": 600, "restart_budget": {"max": 5, "per_seconds": 60}}
    )
    policy = GuardConfig.model_validate(
        {"cooldown_seconds": 0, "maintenance_windows": [{"start": start, "end": end, "reason": "db upgrade"}]}
    )
    merged = base.merged(policy)
    assert merged.cooldown_seconds == 0 and merged.restart_budget == base.restart_budget
    assert _rejected_by(guards, merged) == "maintenance-window"
    clock.advance(61)
    _run(guards, clock)
    assert _rejected_by(guards, merged) is None, "the policy's cool-down of 0 overrides the global 600 s"
    assert _rejected_by(guards, base) == "cooldown"
