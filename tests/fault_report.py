"""One JSON line per fault scenario: what was sent, what came out, how long recovery took.

Why a file of its own: issue #15 closes with a table ``fault | events sent | accounted for | actions |
duplicates | recovered in``, built from real runs. Each fault test calls :func:`record` with the
counts it measured (never constants); the line goes to ``$FOREWARN_FAULT_REPORT`` when set (appended,
so one suite run fills one file) and is printed, so ``pytest -s`` shows it too.
``python -m tests.fault_report FILE`` prints the table from such a file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["FAULT_REPORT_ENV", "record", "table"]

FAULT_REPORT_ENV = "FOREWARN_FAULT_REPORT"
COLUMNS = ("fault", "events_sent", "accounted_for", "actions", "duplicates", "recovered_in_s")


def record(
    fault: str,
    *,
    events_sent: int,
    accounted_for: int,
    actions: int = 0,
    duplicates: int = 0,
    recovered_in_s: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write one scenario's counts (``extra``: anything else measured, e.g. peak RSS per process)."""
    line: dict[str, Any] = {
        "fault": fault,
        "events_sent": events_sent,
        "accounted_for": accounted_for,
        "actions": actions,
        "duplicates": duplicates,
        "recovered_in_s": None if recovered_in_s is None else round(recovered_in_s, 2),
        **extra,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    text = json.dumps(line, sort_keys=False)
    target = os.environ.get(FAULT_REPORT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(text + "\n")
    print(f"[fault report] {text}")
    return line


def table(lines: list[dict[str, Any]]) -> str:
    """The closing table (Markdown) from :func:`record`'s lines."""
    rows = [
        "| fault | events sent | accounted for | actions | duplicates | recovered in |",
        "|---|---|---|---|---|---|",
    ]
    for line in lines:
        recovered = line.get("recovered_in_s")
        shown = "-" if recovered is None else f"{recovered:.1f} s"
        rows.append(
            f"| {line['fault']} | {line['events_sent']} | {line['accounted_for']} | {line['actions']} "
            f"| {line['duplicates']} | {shown} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - a reading aid
    with Path(sys.argv[1]).open(encoding="utf-8") as source:
        print(table([json.loads(text) for text in source if text.strip()]))
