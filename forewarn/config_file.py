"""Read a config file (YAML or TOML) and report what is wrong with it one line per problem.

Why here, in the core: the settings (``forewarn.settings``), the healing config and the demo app all
read operator-written files, and an operator who gets "policies.2.trigger.min_confidence: must be <= 1"
or a YAML traceback has to hunt; "healing.yaml:41: ..." takes them straight there. YAML keeps the line
of every value; TOML (read by tomllib, which keeps none) names the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


class ConfigFileError(ValueError):
    """A config file cannot be read, parsed or validated; each line of the message is one problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _construct(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _construct(value_node, (*path, key), lines)
            # The key's line stands for its value too (a block value starts a line below): an
            # unknown key or a bad section is reported where its name is written.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError([f"{path}: cannot read ({exc.strerror or exc})"]) from None


def load_with_lines(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML at ``path``; returns the data and a map from location tuple to 1-based line."""
    text = _read(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigFileError([f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})"]) from None
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _construct(node, (), lines), lines


def load_mapping(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    """A settings file (``.yaml``/``.yml`` or ``.toml``) as a mapping, with the lines YAML knows."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(_read(path)), {}
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError([f"{path}: invalid TOML ({exc})"]) from None
    if suffix not in {".yaml", ".yml"}:
        raise ConfigFileError([f"{path}: a config file must end in .yaml, .yml or .toml"])
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigFileError([f"{path}:{lines.get((), 1)}: the top level must be a mapping of settings"])
    return data, lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known location on ``loc`` (pydantic locs may go deeper than YAML)."""
    for end in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def describe(errors: Iterable[ErrorDetails], where: str, lines: dict[Loc, int] | None = None) -> list[str]:
    """One ``<where>[:line]: <key>: <problem>`` line per pydantic error, in the file's order.

    An unknown key says so by name; a value that is not among the allowed ones (an enum, a Literal)
    shows the value given as well as the allowed ones.
    """
    out: list[tuple[int, str]] = []
    for error in errors:
        loc = tuple(error["loc"])
        line = line_of(lines, loc) if lines else None
        place = f"{where}:{line}" if line else where
        dotted = ".".join(str(p) for p in loc) or "(top)"
        if error["type"] == "extra_forbidden":
            text = f"{place}: unknown key {dotted!r}"
        elif error["type"] in {"literal_error", "enum"}:
            allowed = (error.get("ctx") or {}).get("expected") or error["msg"]
            text = f"{place}: {dotted}: {error['input']!r} is not allowed (allowed: {allowed})"
        else:
            text = f"{place}: {dotted}: {error['msg']}"
        out.append((line or 0, text))
    return [text for _, text in sorted(out, key=lambda item: item[0])]
