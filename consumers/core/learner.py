"""The learner's core: join events with labels, learn test-then-train, watch the errors.

Pure computation over parsed batches, shared by the learner role and ``driftline backtest``.
Quarantined events are still predicted and scored (the error stream stays honest) but never
learned from. Concept-drift detectors see the errors one event at a time, in learning order,
so that a concept-drift alert that calls for a quarantine takes effect at the very next event,
live and in backtest alike.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from driftline.consumers.config.model import ComponentSpec, DriftlineConfig
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.intake import PartitionIntake
from driftline.consumers.core.policies import quarantines
from driftline.consumers.core.quarantine import Quarantine, QuarantineBook
from driftline.learners.errors import UnusableEvent
from driftline.learners.online import EstimatorSpec, PrequentialLearner, build_pipeline
from driftline.learners.snapshots import SnapshotRing
from driftline.stream.events import EventBatch, Reject
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.core.plan import StreamPlan


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
    #: labels that waited for their event longer than the limit: (event id, label, partition, offset)
    expired_labels: list[tuple[str, Any, int, int]] = field(default_factory=list)
    #: (index in the batch, the quarantine holding it)
    held: list[tuple[int, Quarantine]] = field(default_factory=list)
    #: labelled events the model could not use (partition, offset, the event as the learner saw
    #: it, why): not scored, not learned from; the role dead-letters them
    unusable: list[Reject] = field(default_factory=list)


def estimator_spec(item: str | ComponentSpec) -> EstimatorSpec:
    if isinstance(item, ComponentSpec):
        return EstimatorSpec(item.cls, dict(item.params))
    return EstimatorSpec(item)


class LearnerCore:
    def __init__(self, cfg: DriftlineConfig, plan: StreamPlan, *, live: bool = True):
        if cfg.stream.label is None:
            raise ValueError("the learner needs stream.label to be declared")
        self.cfg = cfg
        self.live = live
        #: the concept detectors' plan (the role builds it once and shares it across restores)
        self.plan = plan
        self.book = QuarantineBook()
        self.snapshots = SnapshotRing(cfg.models.online_snapshot_every, cfg.models.online_snapshots_kept)
        self.replayed_offsets: list[tuple[int, int]] = []
        pipeline = build_pipeline(
            estimator_spec(cfg.learner.model),
            [estimator_spec(p) for p in cfg.learner.preprocessing],
            [n for n, t in cfg.stream.feature_types().items() if t == "numeric"],
            [n for n, t in cfg.stream.feature_types().items() if t == "categorical"],
        )
        self.learner = PrequentialLearner(pipeline, cfg.stream.label.type, cfg.learner.metric_window)
        self.engines: dict[int, DriftEngine] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._orphans: OrderedDict[str, Any] = OrderedDict()
        self._orphan_pos: dict[str, tuple[int, int]] = {}
        self.expired_events = 0
        self.expired_labels = 0
        self.duplicates = 0
        self._intakes: dict[int, PartitionIntake] = {}
        self._newest_ts = -(2**62)
        #: labelled events the model could not use, in all, and those not yet handed out
        self.unusable = 0
        self._unusable: list[Reject] = []

    def engine(self) -> DriftEngine:
        """The stream's concept detectors (one judgement for the stream; key 0 in ``engines``)."""
        if 0 not in self.engines:
            self.engines[0] = DriftEngine(self.plan)
        return self.engines[0]

    def observe(self, alerts: list[Alert]) -> None:
        """Alerts from the monitor (or this learner): open the quarantines policies ask for."""
        for alert in alerts:
            if quarantines(self.cfg.policies, alert):
                reason = f"{alert.kind} {alert.severity} {alert.feature or ''} by {alert.detector}".replace("  ", " ")
                self.book.start(alert.alert_id, alert.position.partition, alert.position.offset, reason,
                                alert.position.ts)

    def admit(self, batch: EventBatch) -> tuple[EventBatch, list[Reject]]:
        """The batch without duplicates and late events, by the monitor's rules
        (:mod:`.intake`): the learner learns what the judge judges."""
        batch, dropped, _ = self._intake(batch.partition).admit(batch)
        self.duplicates += len(dropped)
        return batch, dropped

    def _intake(self, partition: int) -> PartitionIntake:
        if partition not in self._intakes:
            self._intakes[partition] = PartitionIntake.of(self.cfg, partition)
        return self._intakes[partition]

    def process_events(self, batch: EventBatch) -> LearnOutcome:
        out = LearnOutcome()
        for i, event_id in enumerate(batch.ids):
            offset, partition, ts = int(batch.offsets[i]), batch.partition_of(i), int(batch.ts[i])
            q = self.book.holding(partition, offset, ts)
            if q is not None:
                q.held += 1
                out.held.append((i, q))
            x = batch.feature_rows(i)
            y = batch.label[i]
            if y is None:
                y = self._orphans.pop(event_id, None)
                self._orphan_pos.pop(event_id, None)
            if y is None:
                if self._pending.pop(event_id, None) is not None:  # the same id again (dedupe off or
                    self.expired_events += 1  # past its window): the earlier event gives way, counted
                self._pending[event_id] = _Pending(x, partition, offset, ts, q is not None)
                if len(self._pending) > self.cfg.learner.max_pending:
                    self._pending.popitem(last=False)
                    self.expired_events += 1
                continue
            out.alerts += self._learn(x, y, event_id, partition, offset, ts, q is None)
        if len(batch):
            self._expire_by_age(int(batch.ts.max()))
        out.unusable = self.take_unusable()
        return out

    def _expire_by_age(self, newest_ts: int) -> None:
        """Events older (in event time) than ``learner.max_pending_age_ms`` stop waiting: counted."""
        max_age = self.cfg.learner.max_pending_age_ms
        if max_age is None:
            return
        self._newest_ts = max(self._newest_ts, newest_ts)
        horizon = self._newest_ts - max_age
        while self._pending:
            first = next(iter(self._pending.values()))
            if first.ts >= horizon:
                break
            self._pending.popitem(last=False)
            self.expired_events += 1

    def process_labels(self, labels: list[tuple[str, Any, int]], partition: int = 0) -> LearnOutcome:
        """Late labels (event id, label, label offset), joined with the events waiting for them.

        A label whose event has not come after ``learner.max_pending`` later labels is given
        up on and returned in ``expired_labels`` (the role dead-letters it), never dropped.
        """
        out = LearnOutcome()
        for event_id, label, offset in labels:
            pending = self._pending.pop(event_id, None)
            if pending is None:
                if event_id in self._orphans:  # a second label before any event: the first gives way
                    out.expired_labels.append((event_id, self._orphans.pop(event_id),
                                               *self._orphan_pos.pop(event_id, (partition, -1))))
                    self.expired_labels += 1
                self._orphans[event_id] = label
                self._orphan_pos[event_id] = (partition, offset)
                if len(self._orphans) > self.cfg.learner.max_pending:
                    old_id, old_label = self._orphans.popitem(last=False)
                    old_partition, old_offset = self._orphan_pos.pop(old_id, (partition, -1))
                    out.expired_labels.append((old_id, old_label, old_partition, old_offset))
                    self.expired_labels += 1
                continue
            out.alerts += self._learn(pending.x, label, event_id, pending.partition, pending.offset, pending.ts,
                                      not pending.held)
        out.unusable = self.take_unusable()
        return out

    def _learn(self, x: dict[str, Any], y: Any, event_id: str, partition: int, offset: int, ts: int,
               train: bool) -> list[Alert]:
        try:
            error = self.learner.step(x, y, train)
        except UnusableEvent as exc:  # counted and handed out to be routed, never fatal
            self._route_unusable(partition, offset, x, y, str(exc))
            return []
        if train:
            self.snapshots.maybe_take(self.learner.pipeline, partition, offset, self.learner.trained)
        alerts = self.engine().process_errors(
            np.array([error]), np.array([partition], dtype=np.int64), np.array([offset], dtype=np.int64),
            np.array([ts], dtype=np.int64), [event_id], live=self.live,
        )
        self.observe(alerts)
        return alerts

    def rollback_online(self, partition: int, before_offset: int) -> int | None:
        """Restore the newest snapshot from before ``before_offset``; the offset it was taken at.

        The concept detectors then watch the restored model's errors against the reference of
        before the drift, the errors of that model on the old concept (``restore_reference``),
        and watch at once: were they to take the restored model's errors as their new
        reference, a concept already changed would be its new normal, and after a false alarm
        the real change that follows would never be alerted. If the change was real, the
        restored model errs on the new concept too, and that is alerted once more.
        """
        snap = self.snapshots.before(partition, before_offset)
        if snap is None:
            return None
        self.learner.pipeline = copy.deepcopy(snap.pipeline)
        for engine in self.engines.values():
            for detector in engine.detectors:  # the learner's engines hold its concept detectors only
                detector.restore_reference()
        return snap.offset

    def replay(self, batch: EventBatch) -> int:
        """Learn (without scoring again) from released events, in the batch's order."""
        n = 0
        for i, event_id in enumerate(batch.ids):
            offset = int(batch.offsets[i])
            pending = self._pending.get(event_id)
            if pending is not None:
                pending.held = False  # its label is still to come: learned from then
                continue
            y = batch.label[i] if batch.label[i] is not None else self._orphans.get(event_id)
            if y is None:
                continue
            try:
                self.learner.learn(batch.feature_rows(i), y)
            except UnusableEvent as exc:
                self._route_unusable(batch.partition, offset, batch.feature_rows(i), y, str(exc))
                continue
            self.replayed_offsets.append((batch.partition, offset))
            n += 1
        return n

    def _route_unusable(self, partition: int, offset: int, x: dict[str, Any], y: Any, why: str) -> None:
        self.unusable += 1
        seen_as = orjson.dumps({"features": x, "label": y}, option=orjson.OPT_SERIALIZE_NUMPY)
        self._unusable.append(Reject(partition, offset, seen_as, why))

    def take_unusable(self) -> list[Reject]:
        """The unusable events since the last call (``replay`` leaves them here for the role)."""
        out, self._unusable = self._unusable, []
        return out

    @property
    def pending(self) -> int:
        return len(self._pending)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the model (see ``model_bytes``) and the quarantine book (rebuilt
        from the alerts and action topics on start), as JSON-serialisable data."""
        return {
            "learner": self.learner.state_dict(),
            "engines": {str(p): e.state_dict() for p, e in self.engines.items()},
            "pending": [[k, v.x, v.partition, v.offset, v.ts, v.held] for k, v in self._pending.items()],
            "orphans": [[k, v, *self._orphan_pos.get(k, (0, -1))] for k, v in self._orphans.items()],
            "expired": [self.expired_events, self.expired_labels],
            "duplicates": self.duplicates,
            "newest_ts": self._newest_ts,
            "intakes": {str(p): r.state_dict() for p, r in self._intakes.items()},
        }

    def load_state_dict(self, state: dict[str, Any], model: bytes | None) -> None:
        if model:
            self.learner.load_model_bytes(model)
        self.learner.load_state_dict(state["learner"])
        self.engines = {}
        for partition, engine_state in state["engines"].items():
            self.engine().load_state_dict(engine_state)
        self._pending = OrderedDict((k, _Pending(x, p, o, t, h)) for k, x, p, o, t, h in state["pending"])
        self._orphans = OrderedDict((k, v) for k, v, _, _ in state["orphans"])
        self._orphan_pos = {k: (p, o) for k, _, p, o in state["orphans"]}
        self.expired_events, self.expired_labels = state["expired"]
        self.duplicates = state["duplicates"]
        self._newest_ts = state["newest_ts"]
        self._intakes = {}
        for partition, intake_state in state["intakes"].items():
            self._intake(int(partition)).load_state_dict(intake_state)
