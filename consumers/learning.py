"""The learner's core: join events with labels, learn test-then-train, watch the errors.

Pure computation over parsed batches, shared by the learner role and ``driftline backtest``.
Quarantined events are still predicted and scored (the error stream stays honest) but never
learned from. Concept-drift detectors see the errors one event at a time, in learning order,
so that a concept-drift alert that calls for a quarantine takes effect at the very next event,
live and in backtest alike.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.consumers.config import ComponentSpec, DriftlineConfig
from driftline.consumers.engine import DriftEngine
from driftline.consumers.policies import quarantines
from driftline.consumers.quarantine import Quarantine, QuarantineBook
from driftline.learners.online import EstimatorSpec, PrequentialLearner, build_pipeline
from driftline.stream.events import EventBatch
from driftline.stream.messages import Alert


@dataclass
class _Pending:
    x: dict[str, Any]
    partition: int
    offset: int
    ts: int
    held: bool


@dataclass
class LearnOutcome:
    alerts: list[Alert] = field(default_factory=list)
    #: (index in the batch, the quarantine holding it)
    held: list[tuple[int, Quarantine]] = field(default_factory=list)


def estimator_spec(item: str | ComponentSpec) -> EstimatorSpec:
    if isinstance(item, ComponentSpec):
        return EstimatorSpec(item.cls, dict(item.params))
    return EstimatorSpec(item)


class LearnerCore:
    def __init__(self, cfg: DriftlineConfig, *, live: bool = True):
        if cfg.stream.label is None:
            raise ValueError("the learner needs stream.label to be declared")
        self.cfg = cfg
        self.live = live
        self.book = QuarantineBook()
        pipeline = build_pipeline(
            estimator_spec(cfg.learner.model),
            [estimator_spec(p) for p in cfg.learner.preprocessing],
            [n for n, t in cfg.stream.features.items() if t == "numeric"],
            [n for n, t in cfg.stream.features.items() if t == "categorical"],
        )
        self.learner = PrequentialLearner(pipeline, cfg.stream.label.type, cfg.learner.metric_window)
        self.engines: dict[int, DriftEngine] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._orphans: OrderedDict[str, Any] = OrderedDict()
        self.expired_events = 0
        self.expired_labels = 0

    def engine(self, partition: int) -> DriftEngine:
        if partition not in self.engines:
            self.engines[partition] = DriftEngine(self.cfg, partition, ("error",))
        return self.engines[partition]

    def observe(self, alerts: list[Alert]) -> None:
        """Alerts from the monitor (or this learner): open the quarantines policies ask for."""
        for alert in alerts:
            if quarantines(self.cfg.policies, alert):
                reason = f"{alert.kind} {alert.severity} {alert.feature or ''} by {alert.detector}".replace("  ", " ")
                self.book.start(alert.alert_id, alert.position.partition, alert.position.offset, reason)

    def process_events(self, batch: EventBatch) -> LearnOutcome:
        out = LearnOutcome()
        for i, event_id in enumerate(batch.ids):
            offset = int(batch.offsets[i])
            q = self.book.holding(batch.partition, offset)
            if q is not None:
                q.held += 1
                out.held.append((i, q))
            x = batch.feature_rows(i)
            y = batch.label[i]
            if y is None:
                y = self._orphans.pop(event_id, None)
            if y is None:
                self._pending[event_id] = _Pending(x, batch.partition, offset, int(batch.ts[i]), q is not None)
                if len(self._pending) > self.cfg.learner.max_pending:
                    self._pending.popitem(last=False)
                    self.expired_events += 1
                continue
            out.alerts += self._learn(x, y, batch.partition, offset, int(batch.ts[i]), q is None)
        return out

    def process_labels(self, labels: list[tuple[str, Any, int]]) -> LearnOutcome:
        """Late labels (event id, label, label offset), joined with the events waiting for them."""
        out = LearnOutcome()
        for event_id, label, _ in labels:
            pending = self._pending.pop(event_id, None)
            if pending is None:
                self._orphans[event_id] = label
                if len(self._orphans) > self.cfg.learner.max_pending:
                    self._orphans.popitem(last=False)
                    self.expired_labels += 1
                continue
            out.alerts += self._learn(pending.x, label, pending.partition, pending.offset, pending.ts, not pending.held)
        return out

    def _learn(self, x: dict[str, Any], y: Any, partition: int, offset: int, ts: int, train: bool) -> list[Alert]:
        error = self.learner.step(x, y, train)
        alerts = self.engine(partition).process_errors(
            np.array([error]), np.array([offset], dtype=np.int64), np.array([ts], dtype=np.int64), live=self.live
        )
        self.observe(alerts)
        return alerts

    @property
    def pending(self) -> int:
        return len(self._pending)
