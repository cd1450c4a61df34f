"""The learner's errors per segment: detectors, metrics over time, rankings at an alert.

A :class:`SegmentWatch` takes each block of learned events the learner judges (their errors,
features, labels and predictions, in learning order) and

* runs, per segment, a copy of the stream's error detectors whose reference is the segment's
  first ``segments.min_events`` errors (alerts name the segment: ``Alert.segment``);
* keeps per segment its events, errors and alerts, and its mean error every
  ``segments.every`` of its events (the report's series);
* keeps the stream's reference (the first ``reference_n`` learned events) binned by feature
  and by segment, and the last ``segments.window`` learned events, for :meth:`explain`:
  ``segment_ranking`` and ``feature_ranking`` at a stream-level alert (:mod:`.rank`);
* feeds ``fairness`` (:mod:`.fairness`).

Pure computation: the same blocks give the same alerts, ids included, live and in backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.engine import DriftEngine, _Where
from driftline.consumers.core.segments.explain import Explainer
from driftline.consumers.core.segments.fairness import FairnessGap
from driftline.consumers.core.segments.slicing import OTHER, Slicing, load_segments
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.core.plan import StreamPlan

#: points of a segment's series kept
SERIES = 200


@dataclass
class Block:
    """The learned events of one block, in learning order."""

    errors: np.ndarray
    partitions: np.ndarray
    offsets: np.ndarray
    ts: np.ndarray
    ids: list[str]
    rows: list[dict[str, Any]]
    labels: list[Any]
    predictions: list[Any]

    def part(self, part: slice) -> Block:
        return Block(self.errors[part], self.partitions[part], self.offsets[part], self.ts[part], self.ids[part],
                     self.rows[part], self.labels[part], self.predictions[part])


@dataclass
class SegmentStats:
    """One segment's counts, and its mean error every ``every`` of its events."""

    events: int = 0
    errors: float = 0.0
    alerts: int = 0
    #: [end ts, end offset, events, mean error] per point
    series: list[list[float]] = field(default_factory=list)
    open_n: int = 0
    open_sum: float = 0.0

    def add(self, errors: np.ndarray, ts: np.ndarray, offsets: np.ndarray, every: int) -> None:
        self.events += errors.shape[0]
        self.errors += float(errors.sum())
        pos = 0
        while pos < errors.shape[0]:
            stop = min(errors.shape[0], pos + every - self.open_n)
            self.open_n += stop - pos
            self.open_sum += float(errors[pos:stop].sum())
            pos = stop
            if self.open_n >= every:
                point = [int(ts[stop - 1]), int(offsets[stop - 1]), self.open_n, round(self.open_sum / self.open_n, 6)]
                self.series = [*self.series[-(SERIES - 1):], point]
                self.open_n, self.open_sum = 0, 0.0

    def to_list(self) -> list[Any]:
        return [self.events, self.errors, self.alerts, self.series, self.open_n, self.open_sum]


def reference_n(cfg: DriftlineConfig) -> int:
    """The stream's reference in learned events (the concept detector's)."""
    return cfg.reference.first_n or cfg.reference.sliding or 10_000


class SegmentWatch:
    """Segments, rankings and fairness over the learner's error stream (see the module)."""

    def __init__(self, cfg: DriftlineConfig, learner: StreamPlan):
        seg = cfg.segments
        self.cfg = cfg
        self.stream = learner.stream
        self.plan = learner.segment
        self.slicings = [Slicing(name=f, feature=f, cap=seg.max_segments) for f in seg.by]
        self.slicings += [Slicing.of_filter(f) for f in seg.filters]
        assert cfg.stream.label is not None
        self.binary = cfg.stream.label.type != "regression"
        self.types = cfg.stream.feature_types()
        self.reference_n = reference_n(cfg)
        self.window, self.bins, self.every = seg.window, seg.bins, seg.every
        #: per (slicing, segment name): its detectors and its counts
        self.engines: dict[tuple[int, str], DriftEngine] = {}
        self.stats: dict[tuple[int, str], SegmentStats] = {}
        self._stream_engine = DriftEngine(learner)  # the fairness alerts are the stream's
        self.fairness: FairnessGap | None = None
        self._fair = learner.fairness
        if cfg.fairness is not None and self._fair is not None:
            self.fairness = FairnessGap(self.reference_n, cfg.fairness.window, cfg.fairness.min_group,
                                        self._fair.alpha_drift, self._fair.alpha_warning)
        self._reset_reference()

    def _reset_reference(self) -> None:
        self.selected = False
        self._ref_cols: dict[str, list[Any]] = {f: [] for f in self.types}
        self._ref_codes: list[list[int]] = [[] for _ in self.slicings]
        self._ref_errors: list[float] = []
        self.explainer = Explainer(self.types, self.slicings, self.window, self.bins, self.binary)

    # ------------------------------------------------------------------ judging
    def process(self, block: Block, live: bool) -> list[Alert]:
        """The segments' alerts over one block (and the fairness alert), in stream order: the
        same however the events are cut into blocks (the reference ends at its own event)."""
        room = self.reference_n - len(self._ref_errors)
        if not self.selected and room < len(block.ids):
            return self._process(block.part(slice(0, room)), live) + self._process(block.part(slice(room, None)), live)
        return self._process(block, live)

    def _process(self, block: Block, live: bool) -> list[Alert]:
        alerts: list[Alert] = []
        codes = [s.codes(block.rows) for s in self.slicings]
        where = _Where(block.partitions, block.offsets, block.ts, block.ids)
        for i, (slicing, c) in enumerate(zip(self.slicings, codes)):
            seg_of, names = slicing.segment_codes(c)
            for j in np.unique(seg_of[seg_of >= 0]).tolist():
                idx, name = np.flatnonzero(seg_of == j), names[j]
                fired = self._engine(i, name).process_errors(
                    block.errors[idx], block.partitions[idx], block.offsets[idx], block.ts[idx],
                    [block.ids[k] for k in idx.tolist()], live=live)
                stats = self.stats.setdefault((i, name), SegmentStats())
                stats.add(block.errors[idx], block.ts[idx], block.offsets[idx], self.every)
                stats.alerts += len(fired)
                alerts += fired
        if self.fairness is not None:
            alerts += self._fairness(block, where, live)
        if not self.selected:
            self._keep_reference(block, codes)
        else:
            self.explainer.add({f: [r.get(f) for r in block.rows] for f in self.types}, codes, block.errors, block.ts)
        return sorted(alerts, key=lambda a: (a.position.ts or 0, a.position.event_id or "", a.detector))

    def _engine(self, i: int, name: str) -> DriftEngine:
        if (i, name) not in self.engines:
            assert self.plan is not None
            self.engines[(i, name)] = DriftEngine(self.plan, segment=self.slicings[i].key(name))
        return self.engines[(i, name)]

    def _fairness(self, block: Block, where: _Where, live: bool) -> list[Alert]:
        assert self.fairness is not None and self.cfg.fairness is not None and self._fair is not None
        fair = self.cfg.fairness
        groups = [str(r.get(fair.attribute)) for r in block.rows]
        positive = np.array([_positive(p) for p in block.predictions], dtype=np.int64)
        if fair.metric == "accuracy":
            values, included = 1 - block.errors.astype(np.int64), np.ones(len(groups), bool)
        elif fair.metric == "positive_rate":
            values, included = positive, np.ones(len(groups), bool)
        else:
            values, included = positive, np.array([_positive(y) for y in block.labels], dtype=bool)
        out = []
        for det in self.fairness.update(groups, values, included):
            details = {"fairness": {"attribute": fair.attribute, "metric": fair.metric,
                                    **self.fairness.last[det.index]}}
            out.append(self._stream_engine._alert(self._fair.planned, self.fairness, det, where,  # type: ignore[arg-type]
                                                  live, details))
        return out

    def _keep_reference(self, block: Block, codes: list[np.ndarray]) -> None:
        for f, col in self._ref_cols.items():
            col += [r.get(f) for r in block.rows]
        for kept, c in zip(self._ref_codes, codes):
            kept += c.tolist()
        self._ref_errors += block.errors.tolist()
        if len(self._ref_errors) >= self.reference_n:
            self._select()

    def _select(self) -> None:
        """The reference is complete: the tracked segments chosen, the features' bins fitted."""
        errors = np.asarray(self._ref_errors, dtype=float)
        for i, slicing in enumerate(self.slicings):
            ref_codes = np.asarray(self._ref_codes[i], dtype=np.int64)
            slicing.select(ref_codes)
            if slicing.feature is not None:
                kept = {slicing.names[c] for c in slicing.tracked or []}
                self.engines = {k: e for k, e in self.engines.items() if k[0] != i or k[1] in kept}
                self.engines.pop((i, OTHER), None)  # the pool's detector starts afresh
                for key in [k for k in self.stats if k[0] == i and k[1] not in kept and k[1] != OTHER]:
                    gone = self.stats.pop(key)  # counted in the pool from here on, and until now
                    pool = self.stats.setdefault((i, OTHER), SegmentStats())
                    pool.events, pool.errors, pool.alerts = (pool.events + gone.events, pool.errors + gone.errors,
                                                             pool.alerts + gone.alerts)
        self.explainer.fit(self._ref_cols, [np.asarray(c, dtype=np.int64) for c in self._ref_codes], errors)
        self.selected = True
        self._ref_cols, self._ref_codes, self._ref_errors = {}, [], []

    def explain(self, alert: Alert) -> dict[str, Any]:
        """The rankings for a stream-level alert (:meth:`.explain.Explainer.explain`)."""
        return self.explainer.explain(alert)

    # ------------------------------------------------------------------ state
    def table(self, series: bool = True) -> list[dict[str, Any]]:
        """One row per segment: its key, events, mean error, alerts (and its series)."""
        rows = []
        for (i, name), st in sorted(self.stats.items()):
            rows.append({"segment": self.slicings[i].key(name), "events": st.events,
                         "error_rate": round(st.errors / st.events, 6) if st.events else None,
                         "alerts": st.alerts, **({"series": list(st.series)} if series else {})})
        return rows

    def state_dict(self) -> dict[str, Any]:
        return {
            "slicings": [s.to_list() for s in self.slicings],
            "engines": [[i, n, e.state_dict()] for (i, n), e in self.engines.items()],
            "stats": [[i, n, s.to_list()] for (i, n), s in self.stats.items()],
            "selected": self.selected,
            "ref": [self._ref_cols, self._ref_codes, self._ref_errors],
            "explainer": self.explainer.state_dict(),
            "fairness": None if self.fairness is None else self.fairness.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engines = {}
        load_segments(self.slicings, state, self._engine)
        self.stats = {(i, n): SegmentStats(*s) for i, n, s in state["stats"]}
        self.selected = state["selected"]
        self._ref_cols, self._ref_codes, self._ref_errors = state["ref"]
        self.explainer.load_state_dict(state["explainer"])
        if self.fairness is not None and state["fairness"] is not None:
            self.fairness.load_state_dict(state["fairness"])


def _positive(value: Any) -> bool:
    """A binary class value is the positive class: 1, True or "1"/"true"."""
    return str(value).strip().lower() in ("1", "true", "1.0")
