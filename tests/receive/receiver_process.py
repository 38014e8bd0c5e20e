"""``forewarn receive`` as a real process for a test, as an operator starts it: config file, free port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from forewarn.settings import REVEAL_SECRETS, Settings


@dataclass
class ReceiverProcess:
    url: str
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def start_receiver(settings: Settings, tmp_path: Path) -> Iterator[ReceiverProcess]:
    """Run ``forewarn receive --port 0`` with ``settings`` until the block ends, then SIGTERM it."""
    config = tmp_path / "receiver.yaml"
    config.write_text(
        yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True, context={REVEAL_SECRETS: True}))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update({"FOREWARN_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
    if "FOREWARN_CACHE_DIR" in os.environ:
        env["FOREWARN_CACHE_DIR"] = os.environ["FOREWARN_CACHE_DIR"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from forewarn.cli import app; app()", "receive", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            match = re.search(r"forewarn receiver on (http://[0-9.]+:[0-9]+)", line)
            if match:
                found.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert ready.wait(60) and found, "forewarn receive did not start:\n" + "\n".join(lines)
        yield ReceiverProcess(found[0], proc, lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
    assert proc.returncode == 0, "forewarn receive failed:\n" + "\n".join(lines[-30:])
    assert any("forewarn receiver stopped" in line for line in lines)
