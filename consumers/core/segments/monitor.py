"""The judge's side of the segments: per segment of ``segments.by``, the label-free estimate
(CBPE's expected correctness, DLE's estimated loss, where the stream has one) and the drift
detectors of the features ``segments.features`` names.

Events come in stream order, in batches of any size (the judge's releases, a backtest's
chunks): the tracked segments are chosen at the reference's own last event (the stream's first
``reference.first_n`` events), as the learner chooses its own among the learned events, by the
rule of :mod:`.slicing`; each segment's detectors are batch-invariant, so its alerts are the
same live and in backtest. Pure computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.consumers.core.segments.explain import Explainer
from driftline.consumers.core.segments.slicing import MISSING, OTHER, Slicing, load_segments, segment_label
from driftline.detectors.levels import factorize_categories
from driftline.stream.events import EventBatch
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.core.engine import DriftEngine
    from driftline.consumers.core.performance import Segment
    from driftline.consumers.core.plan import StreamPlan


@dataclass(frozen=True)
class SlicingPlan:
    """What the judge slices by, the detectors each segment runs, and the rankings' shape."""

    by: tuple[str, ...]
    cap: int
    reference_n: int
    plan: StreamPlan
    types: dict[str, str]
    window: int
    bins: int
    #: the estimate is a loss (DLE's MAE), not an expected correctness (CBPE's accuracy)
    loss: bool = False


def column_codes(slicing: Slicing, values: np.ndarray) -> np.ndarray:
    """:meth:`Slicing.codes` of a batch's categorical column, vectorised: new levels numbered in
    the order they first appear (missing ones as :data:`MISSING`)."""
    names, codes, _ = factorize_categories(values)
    levels = [*names.tolist(), MISSING]
    codes = np.where(codes < 0, len(names), codes)
    present, first = np.unique(codes, return_index=True)
    order = present[np.argsort(first)]  # the levels in the order they first appear
    lookup = np.full(len(levels), -1, dtype=np.int64)
    rows = [{slicing.feature: None if levels[c] == MISSING else levels[c]} for c in order.tolist()]
    lookup[order] = slicing.codes(rows)  # type: ignore[arg-type]
    return lookup[codes]


def batch_estimate(batch: EventBatch, judged: list[Segment], loss: bool) -> np.ndarray | None:
    """Each event's estimated error from the performance watch's output for ``batch`` (past
    its reference: ``judged`` without the reference's values; NaN for the reference's events):
    1 - CBPE's expected correctness, or DLE's estimated loss (``loss``). None without one."""
    for seg in judged:
        n = seg.offsets.shape[0]
        if n and n <= len(batch) and np.array_equal(seg.offsets, batch.offsets[len(batch) - n:]) \
                and seg.ids[-1] == batch.ids[-1]:
            out = np.full(len(batch), np.nan)
            out[len(batch) - n:] = seg.values if loss else 1.0 - seg.values
            return out
    return None


class MonitorSegments:
    """Per segment: its detectors (a :class:`DriftEngine` of ``plan.plan``) and its estimate."""

    def __init__(self, plan: SlicingPlan, engine: type[DriftEngine]):
        self.plan = plan
        self._engine_type = engine
        self.slicings = [Slicing(name=f, feature=f, cap=plan.cap) for f in plan.by]
        self.engines: dict[tuple[int, str], DriftEngine] = {}
        #: per (slicing, segment): [events estimated, sum of the estimate]
        self.estimates: dict[tuple[int, str], list[float]] = {}
        self.seen = 0
        self.selected = False
        self._ref_codes: list[list[int]] = [[] for _ in self.slicings]
        self._ref_cols: dict[str, list[Any]] = {f: [] for f in plan.types}
        #: the reference's estimated errors, once the performance watch gives them
        self._ref_errors: np.ndarray | None = None
        self.explainer = Explainer(plan.types, self.slicings, plan.window, plan.bins, binary=False)

    def process(self, batch: EventBatch, estimate: np.ndarray | None, live: bool,
                reference: np.ndarray | None = None) -> list[Alert]:
        """The segments' alerts over ``batch``; ``estimate``: each event's estimated error (NaN:
        none); ``reference``: the reference's estimated errors, when they come (for the rankings)."""
        if reference is not None:
            self._ref_errors = reference
        room = self.plan.reference_n - self.seen
        if not self.selected and 0 < room < len(batch):
            head, tail = np.arange(room), np.arange(room, len(batch))
            return (self._process(batch.take(head), None if estimate is None else estimate[head], live)
                    + self._process(batch.take(tail), None if estimate is None else estimate[tail], live))
        return self._process(batch, estimate, live)

    def _process(self, batch: EventBatch, estimate: np.ndarray | None, live: bool) -> list[Alert]:
        alerts: list[Alert] = []
        cols = {f: batch.numeric[f] if t == "numeric" else batch.categorical[f] for f, t in self.plan.types.items()}
        all_codes = []
        for i, slicing in enumerate(self.slicings):
            codes = column_codes(slicing, batch.categorical[slicing.name])
            all_codes.append(codes)
            seg_of, names = slicing.segment_codes(codes)
            for j in np.unique(seg_of[seg_of >= 0]).tolist():
                idx = np.flatnonzero(seg_of == j)
                if self.plan.plan.planned:
                    alerts += self._engine(i, names[j]).process(batch.take(idx), live=live)
                if estimate is not None:
                    values = estimate[idx]
                    values = values[np.isfinite(values)]
                    acc = self.estimates.setdefault((i, names[j]), [0, 0.0])
                    acc[0], acc[1] = acc[0] + int(values.shape[0]), acc[1] + float(values.sum())
            if not self.selected:
                self._ref_codes[i] += codes.tolist()
        if not self.selected:
            for f, col in cols.items():
                self._ref_cols[f] += col.tolist()
        elif estimate is not None:
            self.explainer.add(cols, all_codes, estimate, batch.ts)
        self.seen += len(batch)
        if not self.selected and self.seen >= self.plan.reference_n:
            self._select()
        return alerts

    def _engine(self, i: int, name: str) -> DriftEngine:
        if (i, name) not in self.engines:
            self.engines[(i, name)] = self._engine_type(self.plan.plan, segment=self.slicings[i].key(name))
        return self.engines[(i, name)]

    def _select(self) -> None:
        for i, slicing in enumerate(self.slicings):
            slicing.select(np.asarray(self._ref_codes[i], dtype=np.int64))
            kept = {slicing.names[c] for c in slicing.tracked or []}
            self.engines = {k: e for k, e in self.engines.items() if k[0] != i or k[1] in kept}
            self.engines.pop((i, OTHER), None)  # the pool's detectors start afresh
            for key in [k for k in self.estimates if k[0] == i and k[1] not in kept and k[1] != OTHER]:
                n, total = self.estimates.pop(key)
                pool = self.estimates.setdefault((i, OTHER), [0, 0.0])
                pool[0], pool[1] = pool[0] + n, pool[1] + total
        if self._ref_errors is not None and self._ref_errors.shape[0] == self.seen:
            self.explainer.fit(self._ref_cols, [np.asarray(c, dtype=np.int64) for c in self._ref_codes],
                               self._ref_errors)
        self.selected = True
        self._ref_codes, self._ref_cols, self._ref_errors = [[] for _ in self.slicings], {}, None

    def explain(self, alert: Alert) -> dict[str, Any]:
        """The rankings for a stream-level alert, on the estimated errors (empty without an estimate)."""
        return self.explainer.explain(alert)

    def estimated(self) -> dict[str, float]:
        """Each segment's estimated metric since the reference (accuracy, or MAE), by its name
        (``country=DE``)."""
        return {segment_label(self.slicings[i].key(name)): round(total / n if self.plan.loss else 1.0 - total / n, 6)
                for (i, name), (n, total) in sorted(self.estimates.items()) if n}

    def state_dict(self) -> dict[str, Any]:
        return {"slicings": [s.to_list() for s in self.slicings],
                "engines": [[i, n, e.state_dict()] for (i, n), e in self.engines.items()],
                "estimates": [[i, n, v] for (i, n), v in self.estimates.items()],
                "seen": self.seen, "selected": self.selected, "ref": self._ref_codes, "ref_cols": self._ref_cols,
                "ref_errors": None if self._ref_errors is None else self._ref_errors.tolist(),
                "explainer": self.explainer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engines = {}
        load_segments(self.slicings, state, self._engine)
        self.estimates = {(i, n): list(v) for i, n, v in state["estimates"]}
        self.seen, self.selected, self._ref_codes = state["seen"], state["selected"], state["ref"]
        self._ref_cols = state["ref_cols"]
        self._ref_errors = None if state["ref_errors"] is None else np.asarray(state["ref_errors"], dtype=float)
        self.explainer.load_state_dict(state["explainer"])
