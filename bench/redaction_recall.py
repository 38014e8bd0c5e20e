"""Recall and false positives of our redactor, and of detect-secrets as a possible second line.

Why: issue #15 asks whether a second, independent detector would catch what ours misses. Both run over
the same seeded corpus (``forewarn.dev.redaction_corpus``). A planted secret counts as caught when it
no longer appears in the line once the tool's findings are masked (our redactor's output; for
detect-secrets, each reported ``secret_value`` replaced); a clean line is a false positive when
anything in it is masked. detect-secrets is never a dependency: it runs in its own interpreter
(``--detect-secrets-python``), scanning the corpus written to a ``.log`` file the way its CLI would.

Usage: ``python bench/redaction_recall.py [--seeds 5 6 7] [--detect-secrets-python /tmp/ds/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from forewarn.dev.redaction_corpus import generate
from forewarn.incidents.redact import Redactor

# Runs inside the detect-secrets interpreter: prints {line number: [secret values]} for one file.
_DETECT_SECRETS = """
import json, sys
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings
found = {}
collection = SecretsCollection()
with default_settings():
    collection.scan_file(sys.argv[1])
for _, secret in collection:
    found.setdefault(secret.line_number, []).append(secret.secret_value)
print(json.dumps(found))
"""


def leaks(secret: str, text: str) -> bool:
    """The test suite's rule: the value, or its digits and letters without separators, survive."""
    if secret in text:
        return True
    compact = re.sub(r"[ \-]", "", secret)
    return len(compact) >= 12 and compact in re.sub(r"[ \-]", "", text)


def detect_secrets_outputs(lines: list[str], python: str) -> list[str]:
    """Each line with what detect-secrets reported in it masked."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.log"
        # One physical line per corpus line: escape the real newlines a PEM block may hold.
        path.write_text("".join(line.replace("\n", "\\n") + "\n" for line in lines))
        proc = subprocess.run(
            [python, "-c", _DETECT_SECRETS, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    found: dict[str, list[str]] = json.loads(proc.stdout)
    outputs = []
    for number, line in enumerate(lines, start=1):
        out = line
        for value in found.get(str(number), []):
            out = out.replace(value, "[REDACTED:detect_secrets]")
        outputs.append(out)
    return outputs


def figures(planted_out: list[str], clean_out: list[str], seeds: list[int]) -> dict[str, object]:
    planted = [line for seed in seeds for line in generate(seed=seed)[0]]
    clean = [line for seed in seeds for line in generate(seed=seed)[1]]
    missed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line, out in zip(planted, planted_out, strict=True):
        for secret, kind in zip(line.secrets, line.kinds, strict=True):
            total[kind] += 1
            missed[kind] += leaks(secret, out)
    false = sum(out != line for line, out in zip(clean, clean_out, strict=True))
    caught = sum(total.values()) - sum(missed.values())
    return {
        "secrets": sum(total.values()),
        "caught": caught,
        "recall": caught / sum(total.values()),
        "clean_lines": len(clean),
        "false_positive_lines": false,
        "missed_by_kind": dict(sorted(missed.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[5])
    parser.add_argument("--detect-secrets-python", help="an interpreter with detect-secrets installed")
    args = parser.parse_args()
    planted = [line.text for seed in args.seeds for line in generate(seed=seed)[0]]
    clean = [text for seed in args.seeds for text in generate(seed=seed)[1]]
    redactor = Redactor()
    results = {
        "ours": figures(
            [redactor.redact(t) for t in planted], [redactor.redact(t) for t in clean], args.seeds
        )
    }
    if args.detect_secrets_python:
        outputs = detect_secrets_outputs(planted + clean, args.detect_secrets_python)
        results["detect_secrets"] = figures(outputs[: len(planted)], outputs[len(planted) :], args.seeds)
        # What a second line would add: secrets ours leaks that detect-secrets catches.
        ours_then_theirs = [redactor.redact(out) for out in outputs[: len(planted)]]
        results["ours_after_detect_secrets"] = figures(
            ours_then_theirs, [redactor.redact(out) for out in outputs[len(planted) :]], args.seeds
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
