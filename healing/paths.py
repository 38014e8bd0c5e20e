"""Where the healing executor keeps its files, resolved from settings in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forewarn.settings import HealingSettings, cache_dir


@dataclass(frozen=True, slots=True)
class HealingPaths:
    state_dir: Path
    audit_log: Path
    kill_switch_file: Path
    state_db: Path

    @classmethod
    def from_settings(cls, settings: HealingSettings) -> HealingPaths:
        state = settings.state_dir or cache_dir() / "healing"
        return cls(
            state_dir=state,
            audit_log=settings.audit_log or state / "audit.jsonl",
            kill_switch_file=settings.kill_switch_file or state / "KILL_SWITCH",
            state_db=state / "state.sqlite3",
        )

    @classmethod
    def under(cls, state_dir: Path) -> HealingPaths:
        """Everything under one folder (tests, the demo)."""
        return cls(
            state_dir=state_dir,
            audit_log=state_dir / "audit.jsonl",
            kill_switch_file=state_dir / "KILL_SWITCH",
            state_db=state_dir / "state.sqlite3",
        )
