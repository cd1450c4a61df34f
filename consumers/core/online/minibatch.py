"""The learner's pending mini-batch: the rows scored (or to score) since the last count boundary.

With ``models.minibatch: N`` (N > 1) and a pipeline that has a
:class:`~driftline.learners.minibatch.MiniBatchPlan`, the model changes only every N learning
steps (counted in the learning order, quarantined events included, sampled-out ones not),
never at a poll's end. Between two boundaries every row is scored by the same model, so the
rows can be scored as soon as their errors are needed, in any grouping; they wait here,
learned with one ``learn_many`` once the N-th is in. The rows are in the learner's checkpoint,
so a restart learns the same mini-batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.consumers.core.order.learning import WaitingEvent
from driftline.learners.minibatch import Columns


@dataclass
class PendingRow:
    event: WaitingEvent
    #: learned at the boundary (False: quarantined, scored only)
    train: bool


@dataclass
class PendingBatch:
    """The learning steps since the last boundary, in learning order; the first ``scored`` scored."""

    size: int
    rows: list[PendingRow] = field(default_factory=list)
    scored: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def unscored(self) -> list[PendingRow]:
        return self.rows[self.scored:]

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.size

    def add(self, event: WaitingEvent, train: bool) -> None:
        self.rows.append(PendingRow(event, train))

    def to_learn(self) -> list[PendingRow]:
        return [r for r in self.rows if r.train]

    def clear(self) -> None:
        self.rows, self.scored = [], 0

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [[r.event.to_list(), r.train] for r in self.rows], "scored": self.scored}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` (None: a checkpoint of a version without mini-batches)."""
        state = state or {"rows": [], "scored": 0}
        self.rows = [PendingRow(WaitingEvent.from_list(e), bool(t)) for e, t in state["rows"]]
        self.scored = int(state["scored"])


def gather(events: Sequence[WaitingEvent], numeric: Sequence[str], categorical: Sequence[str]) -> Columns:
    """The events' feature columns, in their order: sliced from the batches they came in (one
    fancy index per batch and feature), from their dicts for those restored from a checkpoint."""
    sources = [e.source for e in events]
    first = sources[0][0] if sources and sources[0] is not None else None
    if first is not None and all(s is not None and s[0] is first for s in sources):  # the usual: one poll's rows
        idx = np.fromiter((s[1] for s in sources), dtype=np.int64, count=len(sources))  # type: ignore[index]
        return _rows(first, idx, numeric, categorical)
    by_batch: dict[int, tuple[Any, list[int], list[int]]] = {}
    loose: tuple[list[int], list[dict[str, Any]]] = ([], [])
    for pos, event in enumerate(events):
        if event.source is None:
            loose[0].append(pos)
            loose[1].append(event.features())
            continue
        batch, index = event.source
        group = by_batch.get(id(batch))
        if group is None:
            group = by_batch[id(batch)] = (batch, [], [])
        group[1].append(pos)
        group[2].append(index)
    parts: list[tuple[list[int], Columns]] = []
    for batch, positions, index in by_batch.values():
        parts.append((positions, _rows(batch, np.asarray(index, dtype=np.int64), numeric, categorical)))
    if loose[0]:
        parts.append((loose[0], Columns.from_rows(loose[1], numeric, categorical)))
    if len(parts) == 1 and parts[0][0] == list(range(len(events))):
        return parts[0][1]
    return _concat(parts, len(events), numeric, categorical)


def _rows(columns: Any, idx: np.ndarray, numeric: Sequence[str], categorical: Sequence[str]) -> Columns:
    """Rows ``idx`` of a poll's columns (a feature it lacks: missing)."""
    n = len(idx)
    return Columns(n, {k: columns.numeric[k][idx] if k in columns.numeric else np.full(n, np.nan) for k in numeric},
                   {k: columns.categorical[k][idx] if k in columns.categorical else np.full(n, None, dtype=object)
                    for k in categorical})


def _concat(parts: list[tuple[list[int], Columns]], n: int, numeric: Sequence[str],
            categorical: Sequence[str]) -> Columns:
    order = np.asarray([p for positions, _ in parts for p in positions], dtype=np.int64)
    out = Columns(n, {}, {})
    for k in numeric:
        col = np.empty(n, dtype=np.float64)
        col[order] = np.concatenate([c.numeric[k] for _, c in parts])
        out.numeric[k] = col
    for k in categorical:
        obj = np.empty(n, dtype=object)
        obj[order] = np.concatenate([c.categorical[k] for _, c in parts])
        out.categorical[k] = obj
    return out
