"""The app's own log: JSON lines that ``forewarn ship-logs PATH`` tails into Kafka.

Why not the stdlib logging tree: the demo must write exactly one JSON object per line with a stable
set of fields (``timestamp``, ``level``, ``logger``, ``message``, ``service`` plus context), to a
file chosen at run time, without touching the logging configuration of the process that embeds it
(tests, uvicorn, the forewarn demo). A recent-lines ring buffer lets tests read what was written.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


class AppLog:
    """Writes JSON log lines to a file and/or a stream, and keeps the last ones in memory."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        stream: TextIO | None = None,
        level: str = "INFO",
        service: str = "musobuddy",
        wall_clock: Callable[[], float] | None = None,
        keep: int = 2000,
    ) -> None:
        self.path = path
        self.stream = stream
        self.min_level = LEVELS[level]
        self.service = service
        self.wall_clock = wall_clock or time.time
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered append: a tailing shipper sees each line as soon as it is written.
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def log(self, level: str, logger: str, message: str, **context: Any) -> None:
        if LEVELS[level] < self.min_level:
            return
        record: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(self.wall_clock(), UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": logger,
            "message": message,
            "service": context.pop("service", self.service),
        }
        record.update(context)
        line = json.dumps(record, default=str)
        with self._lock:
            self.recent.append(record)
            if self._file is not None:
                self._file.write(line + "\n")
            if self.stream is not None:
                self.stream.write(line + "\n")
                self.stream.flush()

    def debug(self, logger: str, message: str, **context: Any) -> None:
        self.log("DEBUG", logger, message, **context)

    def info(self, logger: str, message: str, **context: Any) -> None:
        self.log("INFO", logger, message, **context)

    def warning(self, logger: str, message: str, **context: Any) -> None:
        self.log("WARNING", logger, message, **context)

    def error(self, logger: str, message: str, **context: Any) -> None:
        self.log("ERROR", logger, message, **context)

    def critical(self, logger: str, message: str, **context: Any) -> None:
        self.log("CRITICAL", logger, message, **context)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
