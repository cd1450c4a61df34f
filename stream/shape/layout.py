"""Where each field of an event is in a message: the stream's mapping compiled to paths.

A path is a tuple of object keys from the message's root (``("applicant", "income")`` for
the configuration's ``applicant.income``). A message that lacks a path, or holds ``null`` on
the way, has a missing value there; a value on the way that is not an object is a schema
error naming the path. The default layout is driftline's envelope (``id``, ``ts``,
``features: {...}``, ``prediction``, ``label``).

A :class:`Layout` turns a decoded message into a *row*: the values of the id, the event time,
each numeric feature, each categorical feature, the label and the prediction, in that order,
as the message holds them (types are checked afterwards, column by column), leaving out those
that are not in the message's value (an id from the key, no label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]


def split_path(dotted: str) -> Path:
    """``"applicant.income"`` -> ``("applicant", "income")``."""
    return tuple(dotted.split("."))


def dotted(path: Path) -> str:
    return ".".join(path)


@dataclass(frozen=True)
class Layout:
    """The paths of one stream's fields; ``None`` for a field not in the message's value (the
    id from the message key or a header, the event time from the record, no label)."""

    id_path: Path | None
    ts_path: Path | None
    numeric: tuple[tuple[str, Path], ...]
    categorical: tuple[tuple[str, Path], ...]
    label_path: Path | None
    prediction_path: Path | None
    #: the envelope's shape (features under ``features``): fields it does not name are
    #: counted as undeclared; a message of a user's own shape usually holds more than is watched
    envelope: bool = True

    @property
    def paths(self) -> tuple[Path | None, ...]:
        """Every path, in a row's order."""
        return (self.id_path, self.ts_path, *(p for _, p in self.numeric), *(p for _, p in self.categorical),
                self.label_path, self.prediction_path)

    @property
    def present(self) -> tuple[int, ...]:
        """The places in :attr:`paths` of the fields a message's value holds (a row's values)."""
        return tuple(i for i, p in enumerate(self.paths) if p is not None)

    def row(self, doc: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
        """The row of ``doc`` (the values of the present paths) and, when a value on a path is
        not an object, why ("" if none)."""
        values = []
        why = ""
        for path in self.paths:
            if path is None:
                continue
            value, problem = lookup(doc, path)
            values.append(value)
            why = why or problem
        return tuple(values), why

    def undeclared(self, doc: dict[str, Any]) -> int:
        """How many fields ``doc`` has that the envelope does not name (0 for other layouts)."""
        if not self.envelope:
            return 0
        known = {p[0] for p in self.paths if p}
        names = {name for name, _ in (*self.numeric, *self.categorical)}
        features = doc.get("features")
        inner = len(features.keys() - names) if isinstance(features, dict) else 0
        return len(doc.keys() - known - {"features"}) + inner


def lookup(doc: dict[str, Any], path: Path | None) -> tuple[Any, str]:
    """The value at ``path`` (None when absent or under a null) and the schema error, if any."""
    if path is None:
        return None, ""
    node: Any = doc
    for depth, key in enumerate(path[:-1]):
        node = node.get(key)
        if node is None:
            return None, ""
        if not isinstance(node, dict):
            return None, (f"field {dotted(path[:depth + 1])!r} must be an object (it holds "
                          f"{dotted(path)!r}), got {type(node).__name__}")
    return node.get(path[-1]), ""
