"""Load YAML and remember the line of every value, so validation errors can name file and line.

Why: a policy author who gets "policies.2.trigger.min_confidence: must be <= 1" has to count list
items; "healing.yaml:41" takes them straight there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from forewarn.healing.errors import ConfigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _construct(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines)
            # Keep the key's line for the value too, unless the value sits on its own lines.
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_with_lines(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse ``path``; returns the data and a map from location tuple to 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _construct(node, (), lines), lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known location on ``loc`` (pydantic locs may go deeper than YAML)."""
    for end in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def validate_file(model: type[M], path: Path, context: dict[str, Any] | None = None) -> M:
    """Validate a YAML file against ``model``; every error names ``file:line`` and the field path."""
    data, lines = load_with_lines(path)
    try:
        return model.model_validate(data, context={**(context or {}), "lines": lines, "path": path})
    except ValidationError as exc:
        messages = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            line = line_of(lines, loc)
            where = f"{path}:{line}" if line else str(path)
            dotted = ".".join(str(p) for p in loc) or "(top)"
            messages.append(f"{where}: {dotted}: {error['msg']}")
        raise ConfigError("invalid healing config:\n  " + "\n  ".join(messages)) from None
