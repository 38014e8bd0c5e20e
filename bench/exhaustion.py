"""Exhaustion lead-time benchmark script: same as ``forewarn bench exhaustion``.

Usage: python bench/exhaustion.py [--out FILE] [--seed N] [--series-per-kind N]
"""

from __future__ import annotations

import sys

from forewarn.cli import app

if __name__ == "__main__":
    sys.exit(app(["bench", "exhaustion", *sys.argv[1:]]))
