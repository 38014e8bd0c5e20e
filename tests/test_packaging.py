"""The import layout works both from the editable install and from a built wheel.

Why: pyproject maps top-level folders (pipeline/, models/, ...) to forewarn.* import names. A folder
missing from the explicit package list would import fine in development and be absent from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPING: dict[str, str] = CONFIG["package-dir"]
PACKAGES: list[str] = CONFIG["packages"]


def _source_packages() -> dict[str, Path]:
    """Every folder with an __init__.py under a mapped folder, by its import name."""
    found: dict[str, Path] = {}
    for name, folder in MAPPING.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base)
            dotted = ".".join([name, *rel.parts]) if rel.parts else name
            # A nested mapped folder (e.g. forewarn.commands inside forewarn/) is reached once.
            found.setdefault(dotted, init.parent)
    return found


@pytest.mark.unit
def test_every_source_package_is_listed() -> None:
    missing = sorted(set(_source_packages()) - set(PACKAGES))
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


@pytest.mark.unit
def test_editable_install_imports_from_the_repository() -> None:
    import forewarn.api
    import forewarn.healing
    import forewarn.models
    import forewarn.musobuddy
    import forewarn.pipeline

    for module, folder in [
        (forewarn.pipeline, "pipeline"),
        (forewarn.models, "models"),
        (forewarn.healing, "healing"),
        (forewarn.api, "api"),
        (forewarn.musobuddy, "examples/musobuddy"),
    ]:
        assert Path(module.__file__ or "").parent == ROOT / folder


@pytest.mark.slow
def test_wheel_contains_and_imports_every_module(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("forewarn-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    expected = {
        f"{dotted.replace('.', '/')}/{py.name}"
        for dotted, folder in _source_packages().items()
        for py in folder.glob("*.py")
    }
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in expected)
    # -S skips site-packages' .pth files, so the editable install's import hook is not active:
    # only the extracted wheel (first on the path) can provide forewarn.*.
    script = (
        "import importlib, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(tmp_path / 'site')!r}), (m, mod.__file__)\n"
        "print(len(mods))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), sysconfig.get_paths()["purelib"]]),
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env=env,
        cwd=tmp_path,  # not the repository: its forewarn/ folder must not shadow the wheel
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == len(modules)
