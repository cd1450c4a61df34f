"""Which segment each learned event belongs to: one feature's levels, or a named filter.

A slicing by a feature gives each level its own segment until the stream's reference is
complete; then the ``max_segments`` levels with the most reference events (ties by name) stay
tracked and every other level, seen or yet to come, is pooled as :data:`OTHER`. Levels past
``CANDIDATES`` times the cap are pooled from the start (the state stays bounded whatever the
feature's cardinality). All of it is decided by the events in learning order: the same
segments live and in backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from driftline.consumers.config.segments import SegmentFilter

OTHER = "(other)"
MISSING = "(missing)"
#: levels given their own segment before the selection, per tracked segment
CANDIDATES = 4
#: the segment code of an event outside a filter
OUTSIDE = -2
#: the segment code of a pooled level
POOLED = -1


@dataclass
class Slicing:
    """One feature's levels as segments (``feature``), or one filter's segment (``where``)."""

    name: str
    feature: str | None = None
    where: dict[str, Any] | None = None
    cap: int = 20
    names: list[str] = field(default_factory=list)
    #: after the selection: the codes of the levels tracked (None: not selected yet)
    tracked: list[int] | None = None

    @classmethod
    def of_filter(cls, flt: SegmentFilter) -> Slicing:
        return cls(name=flt.name, where=dict(flt.where))

    def key(self, segment: str) -> dict[str, str]:
        """The segment as alerts name it: ``{"country": "DE"}``, ``{"filter": "young"}``."""
        return {self.feature: segment} if self.feature is not None else {"filter": self.name}

    def codes(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Each event's code: a level's (new levels numbered as they come), :data:`POOLED`, or
        :data:`OUTSIDE` (a filter's non-matching events)."""
        if self.where is not None:
            return np.array([0 if _matches(row, self.where) else OUTSIDE for row in rows], dtype=np.int64)
        index = {n: i for i, n in enumerate(self.names)}
        out = np.empty(len(rows), dtype=np.int64)
        room = CANDIDATES * self.cap if self.tracked is None else 0
        for i, row in enumerate(rows):
            v = row.get(self.feature)  # type: ignore[arg-type]
            level = MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            code = index.get(level)
            if code is None and len(self.names) < room:
                code = index[level] = len(self.names)
                self.names.append(level)
            out[i] = POOLED if code is None else code
        return out

    def segment_codes(self, codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(each event's segment index, -1 outside; the segments' names) from :meth:`codes`."""
        if self.where is not None:
            return np.where(codes == 0, 0, -1), [self.name]
        kept = list(range(len(self.names))) if self.tracked is None else self.tracked
        names = [self.names[c] for c in kept] + [OTHER]
        lookup = np.full(len(self.names) + 1, len(kept), dtype=np.int64)  # last slot: POOLED
        lookup[kept] = np.arange(len(kept))
        return lookup[np.where(codes >= 0, codes, len(self.names))], names

    def select(self, reference_codes: np.ndarray) -> None:
        """Keep the ``cap`` levels with the most events among ``reference_codes`` (ties by name)."""
        if self.where is not None:
            return
        counts = np.bincount(reference_codes[reference_codes >= 0], minlength=len(self.names))
        order = sorted(range(len(self.names)), key=lambda c: (-counts[c], self.names[c]))
        self.tracked = sorted(c for c in order[:self.cap] if counts[c] > 0)

    def to_list(self) -> list[Any]:
        return [self.names, self.tracked]

    def load_list(self, state: list[Any]) -> None:
        """Restore what :meth:`to_list` saved."""
        names, tracked = state
        self.names, self.tracked = list(names), tracked


def load_segments(slicings: list[Slicing], state: dict[str, Any], engine_of: Any) -> None:
    """Restore the slicings and the segments' engines (``engine_of(i, name)`` makes one) of a
    state whose ``slicings`` and ``engines`` keys :meth:`Slicing.to_list` and the engines wrote."""
    for slicing, saved in zip(slicings, state["slicings"]):
        slicing.load_list(saved)
    for i, name, engine_state in state["engines"]:
        engine_of(i, name).load_state_dict(engine_state)


def segment_label(segment: dict[str, str] | None) -> str:
    """A segment as one string, ``country=DE`` (a metric label, a report's row); ``stream`` for None."""
    return "stream" if not segment else ",".join(f"{k}={v}" for k, v in sorted(segment.items()))


def _matches(row: dict[str, Any], where: dict[str, Any]) -> bool:
    for feature, cond in where.items():
        v = row.get(feature)
        if isinstance(cond, dict):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
                return False
            if ("min" in cond and v < cond["min"]) or ("max" in cond and v >= cond["max"]):
                return False
        elif isinstance(cond, list):
            if v is None or str(v) not in {str(c) for c in cond}:
                return False
        elif v is None or str(v) != str(cond):
            return False
    return True
