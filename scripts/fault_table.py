"""Print the fault table (markdown) from the JSON lines the crash tests write to $FOREWARN_FAULT_REPORT.

Usage: FOREWARN_FAULT_REPORT=/tmp/faults.jsonl ./run exec python -m pytest tests/healing tests/watchdog -q
       python scripts/fault_table.py /tmp/faults.jsonl
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    print("| fault | events sent | accounted for | actions | duplicates | recovered in |")
    print("|---|---|---|---|---|---|")
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            took = row.get("recovered_seconds")
            print(
                f"| {row['fault']} | {row['events_sent']} | {row['accounted_for']} | {row['actions']} "
                f"| {row['duplicates']} | {'-' if took is None else f'{took} s'} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
