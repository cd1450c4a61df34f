"""Typed JSON decoding with msgspec: a poll's messages to rows at about the cost of reading.

:class:`FastJson` builds, from a :class:`~.layout.Layout`, nested msgspec structs holding only
the fields the stream watches, each typed as the columns accept it (a numeric feature
``float | None``, a categorical ``str | int | None``, ...). msgspec then skips everything else
in C and checks the types while it reads. A message it refuses (not JSON, a value of another
type, ``null`` where an object is expected, a field the envelope does not name) is not judged
here: it goes back to the caller, which reads it with the per-message path
(:meth:`.layout.Layout.row` over ``orjson.loads``) that says why, or accepts it. So both paths
give the same result for every message; this one is only faster for the messages it takes.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from driftline.stream.shape.layout import Layout, Path

_ID = str | int | None
_TS = int | float | str | None
_NUMBER = float | None
_CATEGORY = str | int | None
_TARGET = bool | int | float | str | None


class FastJson:
    """Rows of the messages msgspec reads into the layout's typed structs."""

    def __init__(self, layout: Layout):
        leaves: list[tuple[Path, Any]] = [(layout.id_path, _ID), (layout.ts_path, _TS)]  # type: ignore[list-item]
        leaves += [(p, _NUMBER) for _, p in layout.numeric] + [(p, _CATEGORY) for _, p in layout.categorical]
        leaves += [(layout.label_path, _TARGET), (layout.prediction_path, _TARGET)]  # type: ignore[list-item]
        names = itertools.count()
        tree: dict[str, Any] = {}
        attrs: list[str | None] = []
        for path, kind in leaves:
            if path is None:
                attrs.append(None)
                continue
            node, attr = tree, []
            for key in path[:-1]:
                child = node.setdefault(key, {"": f"s{next(names)}"})
                node = child
                attr.append(child[""])
            if path[-1] not in node:
                node[path[-1]] = (f"f{next(names)}", kind)
            leaf = node[path[-1]]
            if isinstance(leaf, dict):  # a path that is also another path's object: only the slow path
                raise TypeError(f"{'.'.join(path)!r} is both a value and an object")
            attrs.append(".".join([*attr, leaf[0]]))
        self._struct = _struct("Event", tree, strict=layout.envelope)
        self._decoder = msgspec.json.Decoder(self._struct)
        #: the attribute path of each value of a row, in the layout's order
        self.present = [a for a in attrs if a is not None]
        self._getter = _flat_getter(self._struct, self.present) or _attr_getter(self.present)

    def rows(self, values: Sequence[bytes]) -> list[tuple[Any, ...] | None]:
        """Each message's row (the values of the layout's present paths, in order), or None for
        one this decoder does not take."""
        decode = self._decoder.decode
        try:
            docs = [decode(v) for v in values]
        except (msgspec.DecodeError, msgspec.ValidationError):  # one at least it does not take: each alone
            return [None if d is None else self._getter(d) for d in map(self._one, values)]
        return list(map(self._getter, docs))

    def _one(self, value: bytes) -> Any:
        try:
            return self._decoder.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


def _attr_getter(present: list[str]) -> Any:
    """The row of a decoded event: its values at the ``present`` attribute paths, in order."""
    getter = operator.attrgetter(*present) if present else (lambda _: ())
    if len(present) == 1:
        one = getter
        return lambda doc: (one(doc),)
    return getter


def _flat_getter(struct: type, present: list[str]) -> Any:
    """The same rows as :func:`_attr_getter`'s, by ``msgspec.structs.astuple`` (one C call per
    struct, several times faster than a getattr per value), for an event struct whose nested
    structs (at most one) hold values only; None for any other shape."""
    fields = struct.__struct_fields__
    nested = [i for i, f in enumerate(fields) if _is_struct(struct.__annotations__.get(f))]
    if len(nested) > 1:
        return None
    order: list[str] = []  # the attribute path of each value of the flat tuple
    for i, name in enumerate(fields):
        if i in nested:
            inner = struct.__annotations__[name]
            if any(_is_struct(inner.__annotations__.get(g)) for g in inner.__struct_fields__):
                return None
            order += [f"{name}.{g}" for g in inner.__struct_fields__]
        else:
            order.append(name)
    if not present or set(present) - set(order):
        return None
    astuple = msgspec.structs.astuple
    if nested:
        k = nested[0]

        def flat(doc: Any) -> tuple[Any, ...]:
            values = astuple(doc)
            return values[:k] + astuple(values[k]) + values[k + 1:]
    else:
        flat = astuple
    places = [order.index(a) for a in present]
    if places == list(range(len(order))):
        return flat
    pick = operator.itemgetter(*places)
    if len(places) == 1:
        return lambda doc: (pick(flat(doc)),)
    return lambda doc: pick(flat(doc))


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _struct(name: str, tree: dict[str, Any], strict: bool) -> type:
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for key, node in tree.items():
        if key == "":
            continue
        if isinstance(node, dict):
            sub = _struct(f"{name}_{node['']}", node, strict)
            fields.append((node[""], sub, msgspec.field(default_factory=sub)))
            rename[node[""]] = key
        else:
            attr, kind = node
            fields.append((attr, kind, None))
            rename[attr] = key
    return msgspec.defstruct(name, fields, rename=rename, forbid_unknown_fields=strict, gc=False)
