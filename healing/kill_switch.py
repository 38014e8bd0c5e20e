"""The kill switch: one file whose existence stops every healing action at once.

Why a file: it is the one control every path can reach, even when the API is down or the executor
is wedged: an operator can ``touch`` it by hand, the CLI (``forewarn heal kill-switch on``) and the
API hook (``KillSwitch.engage``) write it, and the executor checks it before every single action.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from forewarn.healing.clock import Clock, SystemClock, iso


class KillSwitch:
    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()

    def engaged(self) -> bool:
        return self.path.exists()

    def engage(self, reason: str = "", actor: str = "operator") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(
            json.dumps({"engaged_at": iso(self.clock.now()), "by": actor, "reason": reason}) + "\n"
        )
        os.replace(tmp, self.path)

    def release(self) -> bool:
        """Turn it off; False if it was not on."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def status(self) -> dict[str, Any] | None:
        """Who engaged it and why, or None when off (an empty or hand-made file still counts as on)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            return data if isinstance(data, dict) else {"raw": text[:200]}
        except ValueError:
            return {"raw": text[:200]}


__all__ = ["KillSwitch"]
