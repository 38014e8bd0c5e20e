"""Shared by the model tests: the mark for tests that need the C memory built.

Why a skip and not a failure: without a C compiler forewarn runs CAD on the numpy memory (tested
against the same oracle), so a newcomer's machine without ``cc`` still passes; with a compiler, a C
memory that does not build fails ``tests/models/test_cad_native.py``.
"""

from __future__ import annotations

import os
import shutil

import pytest

HAS_C_COMPILER = shutil.which(os.environ.get("CC", "cc")) is not None
NEEDS_C = pytest.mark.skipif(not HAS_C_COMPILER, reason="no C compiler: the C memory cannot be built here")
