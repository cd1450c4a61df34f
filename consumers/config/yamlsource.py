"""Read YAML with the line of every key kept, and ``${VAR}`` taken from the environment.

Configuration errors must name the key, where it is in the file and why; pydantic gives the
key path and the reason, this module gives the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path_ = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """A parsed YAML document, the line of each key path, and the problems found while reading."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[tuple[Path_, str]] = field(default_factory=list)
    filename: str = "<string>"

    def line_of(self, path: Path_) -> int | None:
        """The line (1-based) of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def load_yaml(text: str, filename: str = "<string>", env: Mapping[str, str] | None = None) -> SourceDoc:
    """Parse ``text``; ``${VAR}`` and ``${VAR:-default}`` in string values come from ``env``.

    A variable that is unset and has no default is reported as a problem at its key, never
    replaced by an empty string silently.
    """
    env = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        doc = SourceDoc(data=None, filename=filename)
        doc.lines[()] = line or 1
        doc.problems.append(((), f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return doc
    doc = SourceDoc(data=None, filename=filename)
    if node is None:
        doc.data = {}
        return doc
    doc.data = _convert(node, (), doc, env)
    return doc


def _convert(node: yaml.Node, path: Path_, doc: SourceDoc, env: Mapping[str, str]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            doc.lines[child] = key_node.start_mark.line + 1
            if key in out:
                doc.problems.append((child, "key appears twice"))
            out[key] = _convert(value_node, child, doc, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc, env) for i, item in enumerate(node.value)]
    value = yaml.SafeLoader("").construct_object(node)  # scalar: resolved by its tag
    if isinstance(value, str) and "${" in value:
        value = _substitute(value, path, doc, env)
    return value


def _substitute(value: str, path: Path_, doc: SourceDoc, env: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        doc.problems.append((path, f"environment variable {name} is not set"))
        return ""

    return _ENV.sub(repl, value)
