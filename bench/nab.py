"""NAB benchmark script: same as ``forewarn bench nab`` (kept here so bench/ holds every benchmark).

Usage: python bench/nab.py [--data DIR] [--out DIR] [--detector NAME]
"""

from __future__ import annotations

import sys

from forewarn.cli import app

if __name__ == "__main__":
    sys.exit(app(["bench", "nab", *sys.argv[1:]]))
