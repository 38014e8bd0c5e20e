"""The layout keeps its promises: subsystems import each other one way, and the runtime never loads dev.

Why a test: a layout rule that is only written down erodes with the first hurried import. These
checks read the source (AST) for the static rules and start a fresh interpreter for the runtime one,
so a lazy import that leaks at run time is caught as well as a module-level one.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPING: dict[str, str] = CONFIG["package-dir"]
# Not part of the runtime: developer tooling and the example target app.
NOT_RUNTIME = ("forewarn.dev", "forewarn.musobuddy")
# The CLI is the composition root: its dev commands reach dev lazily, inside the command body.
LAZY_DOOR = "forewarn.commands"
MAX_FOLDER_SHARE = 0.25


def _modules() -> dict[str, Path]:
    """Every module of the package, by import name."""
    found: dict[str, Path] = {}
    for name, folder in sorted(MAPPING.items(), key=lambda kv: len(kv[0])):
        base = ROOT / folder
        for path in base.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            dotted = ".".join([name, *parts])
            found.setdefault(dotted, path)
    return found


def _mapped_folder(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    return max((f for f in MAPPING.values() if rel.startswith(f + "/")), key=len)


def _owner(module: str) -> str:
    return MAPPING[max((n for n in MAPPING if module == n or module.startswith(n + ".")), key=len)]


def _is_runtime(module: str) -> bool:
    return not any(module == p or module.startswith(p + ".") for p in NOT_RUNTIME)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of one module, among ``known`` modules.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    lazy: set[str] = set()

    def names(node: ast.AST) -> set[str]:
        out: set[str] = set()
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
        return {o for o in out if o in known}

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                walk_else = ast.Module(body=child.orelse, type_ignores=[])
                walk(walk_else, in_function)
                continue
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            (lazy if inside else top).update(names(child))
            walk(child, inside)

    walk(tree, False)
    return top, lazy


MODULES = _modules()
GRAPH = {m: _imports(m, p, set(MODULES)) for m, p in MODULES.items()}


def _subsystem(module: str) -> str:
    """The top-level folder a module lives in; the CLI, which wires them all, is a node of its own."""
    if module.startswith((LAZY_DOOR, "forewarn.cli", "forewarn.__main__")):
        return "cli"
    return _owner(module).split("/")[0]


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.unit
def test_the_module_graph_was_read() -> None:
    # guards the checks below against passing on an empty graph
    assert "forewarn.cli" in MODULES and "forewarn.healing.executor" in MODULES
    assert "forewarn.events" in GRAPH["forewarn.pipeline.dataflow"][0] | GRAPH["forewarn.pipeline.steps"][0]


@pytest.mark.unit
def test_subsystems_import_each_other_one_way() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, (top, lazy) in GRAPH.items():
        for dep in top | lazy:
            if _subsystem(dep) != _subsystem(module):
                edges[_subsystem(module)].add(_subsystem(dep))
    assert _cycle(edges) is None, f"a cycle between top-level folders: {_cycle(edges)}"


@pytest.mark.unit
def test_no_module_level_import_cycle() -> None:
    edges = {m: top for m, (top, _lazy) in GRAPH.items()}
    # a package's __init__ importing its own modules is not a cycle worth reporting
    for module, deps in edges.items():
        edges[module] = {d for d in deps if not module.startswith(d + ".")}
    assert _cycle(edges) is None, f"import cycle: {' -> '.join(_cycle(edges) or [])}"


@pytest.mark.unit
def test_the_core_imports_no_subsystem() -> None:
    """``forewarn/`` holds what the subsystems share, so it may not lean on any of them (the CLI aside)."""
    leaks = sorted(
        f"{m} -> {d}"
        for m, (top, lazy) in GRAPH.items()
        if _subsystem(m) == "forewarn"
        for d in top | lazy
        if _subsystem(d) != "forewarn"
    )
    assert not leaks, leaks


@pytest.mark.unit
def test_runtime_source_never_imports_dev() -> None:
    leaks = sorted(
        f"{m} -> {d}"
        for m, (top, lazy) in GRAPH.items()
        if _is_runtime(m)
        for d in (top | lazy if not m.startswith(LAZY_DOOR) else top)
        if not _is_runtime(d)
    )
    assert not leaks, f"runtime modules importing dev/examples code: {leaks}"


@pytest.mark.integration
def test_importing_the_runtime_loads_no_dev_module() -> None:
    runtime = sorted(m for m in MODULES if _is_runtime(m) and not m.endswith("__main__"))
    code = (
        "import importlib, json, sys\n"
        f"for name in {runtime!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({NOT_RUNTIME!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert len(runtime) > 80


@pytest.mark.unit
def test_no_folder_holds_more_than_a_quarter_of_the_code() -> None:
    lines: dict[str, int] = defaultdict(int)
    for folder in {*MAPPING.values(), "bench", "scripts", "dashboards"}:
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                lines[_mapped_folder(path) if folder in MAPPING.values() else folder] += len(
                    path.read_text().splitlines()
                )
    total = sum(lines.values())
    shares = {folder: n / total for folder, n in lines.items()}
    assert max(shares.values()) <= MAX_FOLDER_SHARE, sorted(shares.items(), key=lambda kv: -kv[1])


def _readme_table() -> dict[str, str]:
    """README architecture table: folder -> its "imports" cell."""
    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith("/`"):
            rows[cells[0].strip("`").rstrip("/")] = cells[3]
    return rows


@pytest.mark.unit
def test_the_readme_architecture_table_matches_the_tree() -> None:
    """Every mapped folder has a row, and the row's "imports" cell is what the folder really imports."""
    table = _readme_table()
    folders = {folder for folder in MAPPING.values()}
    assert folders <= set(table), f"folders missing from the README table: {sorted(folders - set(table))}"
    real: dict[str, set[str]] = defaultdict(set)
    for module, (top, lazy) in GRAPH.items():
        if _subsystem(module) == "cli":
            continue
        for dep in top | lazy:
            if _subsystem(dep) not in ("cli", _subsystem(module)):
                real[_owner(module)].add(_owner(dep))
    for folder in folders:
        cell = table[folder]
        if cell == "anything":
            continue
        said = set() if cell.startswith("nothing") else {c.split("(")[0].strip() for c in cell.split(",")}
        said = {"forewarn" if s == "core" else s for s in said}
        assert said == real[folder], (
            f"{folder}: README says {sorted(said)}, the code imports {sorted(real[folder])}"
        )
