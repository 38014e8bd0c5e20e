"""One dependency map in settings: the grouper and the healing executor read the same one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from forewarn.incidents.service import build_responder
from forewarn.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def test_the_responder_parts_share_the_configured_map(tmp_path: Path) -> None:
    path = tmp_path / "forewarn.yaml"
    path.write_text(
        f"""dependencies:
  checkout: [cart, postgres]
  cart: [redis]
healing:
  state_dir: {tmp_path / "healing"}
"""
    )
    settings = load_settings(path)
    responder, executor = build_responder(settings, lambda topic, key, value: None)
    try:
        assert responder.tracker.grouper.dependencies == {
            "checkout": frozenset({"cart", "postgres"}),
            "cart": frozenset({"redis"}),
        }
        assert executor.deps.ancestors("checkout") == {"cart", "postgres", "redis"}
        assert executor.deps.order(["checkout", "redis", "cart"]) == ["redis", "cart", "checkout"]
        assert executor.deps.ancestors("auth") == set()  # the demo's map is gone, not merged
    finally:
        executor.close()


def test_a_cycle_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="dependency cycle: a -> b -> a"):
        Settings(dependencies={"a": ["b"], "b": ["a"]})


def test_depends_on_in_slo_services_points_to_the_one_map() -> None:
    with pytest.raises(ValidationError, match="moved to the top-level `dependencies:`"):
        Settings.model_validate({"slo": {"services": {"auth": {"depends_on": ["database"]}}}})
