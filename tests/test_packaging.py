"""The import layout works from the editable install and from a built wheel, which installs on its own.

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

from tests.models import HAS_C_COMPILER

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as a user builds it (``python -m build --wheel``), once for this module's tests."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("forewarn-*.whl"))


@pytest.mark.slow
def test_wheel_contains_and_imports_every_module(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    expected = {
        f"{dotted.replace('.', '/')}/{py.name}"
        for dotted, folder in _source_packages().items()
        for py in folder.glob("*.py")
    }
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert "forewarn/models/cad_native.c" in names  # the C memory is compiled from it on first use
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in expected)
    # -S skips site-packages' .pth files, so the editable install's import hook is not active:
    # only the extracted wheel (first on the path) can provide forewarn.*.
    script = (
        "import importlib, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(tmp_path / 'site')!r}), (m, mod.__file__)\n"
        "from forewarn.models import cad_native\n"
        f"assert cad_native.library() is not None or not {HAS_C_COMPILER}, 'the C memory did not build'\n"
        "print(len(mods))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), sysconfig.get_paths()["purelib"]]),
        "FOREWARN_CACHE_DIR": str(tmp_path / "cache"),  # built from the wheel's source, not found cached
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


def _metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode().splitlines()


@pytest.mark.slow
def test_wheel_metadata_bounds_python_and_keeps_postgresql_optional(wheel: Path) -> None:
    metadata = _metadata(wheel)
    # bytewax 0.21.1 (pinned) has wheels for CPython 3.11 and 3.12 only.
    assert "Requires-Python: <3.13,>=3.11" in metadata
    assert "Provides-Extra: postgresql" in metadata
    psycopg = [line for line in metadata if line.startswith("Requires-Dist: psycopg")]
    assert psycopg and all('extra == "postgresql"' in line or 'extra == "dev"' in line for line in psycopg)
    assert any('extra == "postgresql"' in line for line in psycopg)


@pytest.mark.slow
def test_wheel_installs_a_forewarn_command_that_needs_no_java(wheel: Path, tmp_path: Path) -> None:
    """A throwaway venv with only the wheel: ``forewarn --help`` and ``config check`` work, no Java/Maven.

    The dependencies come from this environment's site-packages on PYTHONPATH (a test must not fetch
    them); .pth files there are not processed, so the editable install cannot stand in for the wheel.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    bare = tmp_path / "bin"  # PATH holds the venv's scripts and nothing else: no java, no mvn
    bare.mkdir()
    env = {
        "PATH": os.pathsep.join([str(venv / "bin"), str(bare)]),
        "HOME": str(tmp_path),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "FOREWARN_CACHE_DIR": str(tmp_path / "cache"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )

    where = run(str(python), "-c", "import forewarn.cli; print(forewarn.cli.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    assert run(
        str(python), "-c", "import shutil; print(shutil.which('java'), shutil.which('mvn'))"
    ).stdout == ("None None\n")
    helped = run("forewarn", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "config" in helped.stdout and "kafka" in helped.stdout
    checked = run("forewarn", "config", "check", str(ROOT / "forewarn.example.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ")
    assert not (tmp_path / "cache").exists()  # nothing was built or downloaded
