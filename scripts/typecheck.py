"""Run mypy over the import layout (forewarn.pipeline, ...) that pyproject's package-dir maps.

Why this exists: the repository keeps pipeline/, models/, ... at the top, but their import names are
forewarn.pipeline, forewarn.models, ...; mypy derives module names from paths and cannot follow
setuptools' editable-install import hook. We build a tree of symlinks that has the import layout,
run mypy on it, and print paths back as repository paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    with tempfile.TemporaryDirectory(prefix="forewarn-mypy-") as tmp:
        tree = Path(tmp)
        top = tree / "forewarn"
        top.mkdir()
        for entry in (ROOT / mapping["forewarn"]).iterdir():
            if entry.name != "__pycache__":
                (top / entry.name).symlink_to(entry)
        links: dict[str, str] = {str(top): str(ROOT / mapping["forewarn"])}
        for name, folder in sorted(mapping.items()):
            if name == "forewarn":
                continue
            target = tree / Path(*name.split("."))
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(ROOT / folder)
            links[str(target)] = str(ROOT / folder)
        extra = [str(ROOT / d) for d in ("tests", "bench", "scripts") if any((ROOT / d).rglob("*.py"))]
        extra += [str(ROOT / "conftest.py")] if (ROOT / "conftest.py").exists() else []
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "forewarn", *extra],
            cwd=tree,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYPATH": str(tree)},
        )
        output = proc.stdout + proc.stderr
        for link, real in sorted(links.items(), key=lambda kv: -len(kv[0])):
            output = output.replace(link, real)
        for name, folder in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            prefix = "/".join(name.split(".")) + "/"
            output = output.replace(f"\n{prefix}", f"\n{folder}/")
            if output.startswith(prefix):
                output = folder + "/" + output[len(prefix) :]
        sys.stdout.write(output)
        return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
