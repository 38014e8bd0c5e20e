"""Collect the docstring examples of the plain models and the redactor, under their import names.

Why a hook and not ``--doctest-modules``: that flag would doctest every module of every path pytest
is given, and it imports ``models/zscore.py`` as ``models.zscore``, a second copy of
``forewarn.models.zscore`` (pyproject's package-dir maps the folders into one namespace). Here only
``models/`` and ``incidents/redact.py`` are doctested, each imported by its real name; ``testpaths``
lists them, so a plain ``pytest`` (or ``pytest models incidents``) runs them.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
DOCTESTED = (
    ROOT / "models",
    ROOT / "incidents" / "redact.py",
    ROOT / "pipeline" / "cardinality.py",
    ROOT / "pipeline" / "counters.py",
    ROOT / "collect" / "metric_types.py",
    ROOT / "collect" / "interval_means.py",
    ROOT / "collect" / "histogram_pairs.py",
    ROOT / "collect" / "histogram_buckets.py",
    ROOT / "collect" / "exponential_buckets.py",
    ROOT / "collect" / "native_histograms.py",
    ROOT / "collect" / "last_points.py",
    ROOT / "collect" / "proto_messages.py",
)
_FOLDERS = {
    (ROOT / folder).resolve(): name
    for name, folder in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ].items()
}


def import_name(path: Path) -> str:
    """``models/zscore.py`` -> ``forewarn.models.zscore``, by pyproject's package-dir mapping."""
    package = _FOLDERS[path.resolve().parent]
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


class ImportNameDoctests(DoctestModule):
    """Pytest's doctest collector, importing the module by its import name instead of its path."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(import_name(self.path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ImportNameDoctests | None:
    resolved = file_path.resolve()
    if file_path.suffix != ".py" or not any(
        resolved == target or target in resolved.parents for target in DOCTESTED
    ):
        return None
    return ImportNameDoctests.from_parent(parent, path=file_path)
