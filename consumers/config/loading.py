"""Reading a YAML configuration into a :class:`~.model.DriftlineConfig`, problems located.

Every problem names the key path, the line in the file and why, as a
:class:`~driftline.consumers.errors.ConfigError`. ``checks`` are further checks of a
validated configuration (the detectors' own, :mod:`driftline.consumers.core.checks`), whose
problems are located the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from driftline.consumers.config.model import DriftlineConfig, cross_check, dotted_key
from driftline.consumers.config.yamlsource import SourceDoc, load_yaml
from driftline.consumers.errors import ConfigError

#: a check of a valid configuration: its problems as (key path, message)
Check = Callable[[DriftlineConfig], list[tuple[tuple[str | int, ...], str]]]


def read_config(
    text: str, filename: str = "<string>", env: Mapping[str, str] | None = None, checks: Sequence[Check] = ()
) -> DriftlineConfig:
    doc = load_yaml(text, filename=filename, env=env)
    problems = [(dotted_key(path), doc.line_of(path), msg) for path, msg in doc.problems]
    if doc.data is not None and not isinstance(doc.data, dict):
        problems.append(("", 1, "the configuration must be a mapping of keys"))
    if problems:
        raise ConfigError(filename, problems)
    try:
        cfg = DriftlineConfig.model_validate(doc.data, context={"defer_cross_checks": True})
    except ValidationError as exc:
        raise ConfigError(filename, _problems(exc, doc)) from None
    crossed = cross_check(cfg)
    for check in checks:
        crossed += check(cfg)
    if crossed:
        raise ConfigError(filename, [(dotted_key(p), doc.line_of(p), msg) for p, msg in crossed])
    return cfg


def read_config_file(
    path: str | Path, env: Mapping[str, str] | None = None, checks: Sequence[Check] = ()
) -> DriftlineConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("", None, f"cannot read the file: {exc.strerror}")]) from None
    return read_config(text, filename=str(path), env=env, checks=checks)


def _problems(exc: ValidationError, doc: SourceDoc) -> list[tuple[str, int | None, str]]:
    seen = set()
    out = []
    for err in exc.errors():
        path = _data_path(doc.data, err["loc"])
        if path == ("detectors",) and isinstance(doc.data.get("detectors"), list):
            continue  # the 'auto' branch of the union: the list's own errors say more
        message = _message(err)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        out.append((dotted_key(path), doc.line_of(path), message))
    return out


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    message = err["msg"]
    return message.removeprefix("Value error, ")


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Keep the parts of a pydantic error location that exist in the data (drop union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key: name it
            node = None
    return tuple(path)


def _is_tag(part: str) -> bool:
    return "[" in part or part in {"str", "int", "float", "bool", "literal['auto']"} or part.startswith(
        ("function-", "literal[", "list[", "dict[", "ComponentSpec", "DetectorConfig")
    )
