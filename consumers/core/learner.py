"""The learner's core: join events with labels, learn test-then-train, watch the errors.

Pure computation over parsed batches, shared by the learner role and ``driftline backtest``.
Events and labels go into a :class:`~driftline.consumers.core.order.learning.LearningOrder`,
which gives back their steps in an order fixed by the data (an event's arrival at its event
time, its learning at ``max(event time, label time)``), so the model, its errors and the
concept alerts are the same for any partitioning and any interleaving of the two topics'
fetches, live and in backtest.

Quarantined events are still predicted and scored (the error stream stays honest) but never
learned from. Concept-drift detectors see the errors one step at a time, in learning order,
so that a concept-drift alert that calls for a quarantine takes effect at the very next step.
With ``models.minibatch: N`` (N > 1) and a pipeline that supports it
(:class:`~driftline.learners.minibatch.MiniBatchPlan`), the model learns every N learning steps
in one ``learn_many`` (:mod:`.online.minibatch`): the rows between two boundaries are scored by the same
model, a row's prediction the same in any grouping, so the errors, the alerts and the model do
not depend on polls; a pause in the stream does not cut a mini-batch. Rollback and replay
first learn the pending mini-batch. Other pipelines learn one by one. Live, behind the judge,
the events it found late are late here too (:mod:`.order.judged`).

Quarantines end on their detector's quiet time (:mod:`.quiet`), and drift alerts roll the
online model back (:mod:`.rollback`), at points fixed by the data, the same live and in backtest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from driftline.consumers.config.model import ComponentSpec, DriftlineConfig
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.online.bulk import in_bulk, take_in_bulk
from driftline.consumers.core.online.error_block import ErrorBlock
from driftline.consumers.core.online.judging import SealedBlocks, alerts_can_act
from driftline.consumers.core.online.minibatch import PendingBatch, gather
from driftline.consumers.core.online.outcome import HeldEvent, LearnOutcome
from driftline.consumers.core.online.quiet import QuietTimes
from driftline.consumers.core.online.replay import learn_released
from driftline.consumers.core.online.rollback import OnlineRollbacks
from driftline.consumers.core.online.sample import in_sample
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.learning import ARRIVE, Label, LearningOrder, Turned, WaitingEvent
from driftline.consumers.core.order.watermark import NO_TIME
from driftline.consumers.core.policies import quarantines
from driftline.consumers.core.quarantine import QuarantineBook
from driftline.consumers.core.segments.slicing import segment_label
from driftline.consumers.core.segments.watch import SegmentWatch
from driftline.learners.errors import UnusableEvent
from driftline.learners.minibatch import Columns
from driftline.learners.online import EstimatorSpec, PrequentialLearner, build_pipeline
from driftline.learners.snapshots import SnapshotRing, pack, unpack
from driftline.stream.events import EventBatch, Reject
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.core.plan import StreamPlan


def estimator_spec(item: str | ComponentSpec) -> EstimatorSpec:
    if isinstance(item, ComponentSpec):
        return EstimatorSpec(item.cls, dict(item.params))
    return EstimatorSpec(item)


class LearnerCore:
    """One stream's online model, its joins and its concept detectors.

    Feed it with :meth:`add_events` and :meth:`add_labels` (and :meth:`heard` for polls that
    brought nothing), then :meth:`step` to take every step the frontier allows.
    """

    def __init__(self, cfg: DriftlineConfig, plan: StreamPlan, *, live: bool = True,
                 event_partitions: Sequence[int] = (0,), label_partitions: Sequence[int] = (), now_ms: float = 0.0,
                 follow_judge: bool = False):
        if cfg.stream.label is None:
            raise ValueError("the learner needs stream.label to be declared")
        self.cfg = cfg
        self.live = live
        #: the concept detectors' plan (the role builds it once and shares it across restores)
        self.plan = plan
        self.book = QuarantineBook()
        self.snapshots = SnapshotRing(cfg.models.online_snapshot_every, cfg.models.online_snapshots_kept,
                                      cfg.models.online_snapshots_max_bytes)
        self.replayed_offsets: list[tuple[int, int]] = []
        pipeline = build_pipeline(
            estimator_spec(cfg.learner.model),
            [estimator_spec(p) for p in cfg.learner.preprocessing],
            [n for n, t in cfg.stream.feature_types().items() if t == "numeric"],
            [n for n, t in cfg.stream.feature_types().items() if t == "categorical"],
        )
        self.learner = PrequentialLearner(pipeline, cfg.stream.label.type, cfg.learner.metric_window)
        types = cfg.stream.feature_types()
        self._numeric = [n for n, t in types.items() if t == "numeric"]
        self._categorical = [n for n, t in types.items() if t == "categorical"]
        #: the learning steps since the last mini-batch boundary (``models.minibatch``)
        self.minibatch = PendingBatch(cfg.models.minibatch)
        self.engines: dict[int, DriftEngine] = {}
        #: the errors per segment, the rankings and fairness (None: neither configured)
        self.segments = SegmentWatch(cfg, plan) if cfg.segments.enabled or cfg.fairness is not None else None
        s = cfg.stream
        self.order = LearningOrder(event_partitions, label_partitions, s.allowed_lateness_ms, s.idle_partition_ms,
                                   cfg.learner.max_pending_age_ms, cfg.learner.max_pending, now_ms)
        if follow_judge:  # live behind the stream's judge: its decisions on the events are the learner's
            self.order.follow_judge()
        self.sample = cfg.learner.sample
        self.quiet = QuietTimes(cfg.models.quarantine_quiet_events)
        self.rollbacks = OnlineRollbacks(cfg.policies, cfg.models.retrain.debounce_seconds * 1000)
        self.block_ms = cfg.learner.error_block_ms
        self.errors = ErrorBlock()
        #: judge the blocks closed during a call of the steps at its end, together (:mod:`.online.judging`):
        #: when no policy can act on the learner's alerts and no segment watch needs each block
        self.judge_later = self.segments is None and not alerts_can_act(cfg.policies, plan.planned)
        self._sealed = SealedBlocks()
        #: labelled events outside ``learner.sample``: neither scored nor learned from
        self.sampled_out = 0
        self.expired_events = 0
        self.expired_labels = 0
        self.late_events = 0
        self.duplicates = 0
        self._intakes: dict[int, PartitionIntake] = {}
        #: labelled events the model could not use, in all, and those not yet handed out
        self.unusable = 0
        self._unusable: list[Reject] = []
        self._turned: list[tuple[Label, str]] = []

    def engine(self) -> DriftEngine:
        """The stream's concept detectors (one judgement for the stream; key 0 in ``engines``)."""
        if 0 not in self.engines:
            self.engines[0] = DriftEngine(self.plan)
        return self.engines[0]

    def observe(self, alerts: list[Alert]) -> None:
        """Alerts from the monitor (or this learner): open the quarantines policies ask for."""
        for alert in alerts:
            # a segment's detector is its own: its alerts do not count for the stream's detector
            who = alert.detector if alert.segment is None else f"{alert.detector}@{segment_label(alert.segment)}"
            if alert.severity == "drift" and alert.position.ts is not None:
                self.quiet.drift(who, alert.position.ts)
            self.rollbacks.plan(alert)
            if quarantines(self.cfg.policies, alert):
                reason = f"{alert.kind} {alert.severity} {alert.feature or ''} by {alert.detector}".replace("  ", " ")
                self.book.start(alert.alert_id, alert.position.partition, alert.position.offset, reason,
                                alert.position.ts, who)
                if alert.alert_id in self.quiet.ended:
                    self.book.release(alert.alert_id)

    # -- taking in ---------------------------------------------------------------------
    def add_events(self, batch: EventBatch, *, caught_up: bool = False, now_ms: float = 0.0,
                   headers: Mapping[int, list[tuple[str, bytes]]] | None = None) -> list[Reject]:
        """One poll of an ``events`` partition (``headers``: the messages' headers by offset, kept
        for the quarantine topic). Duplicates and late events are turned away by the monitor's
        rules (:mod:`.order.intake`: the learner learns what the judge judges) and returned (the
        monitor dead-letters them)."""
        intake = self._intake(batch.partition)
        batch, dropped, _ = intake.admit(batch)
        self.duplicates += len(dropped)
        if self.order.judge is not None:  # those the judge found late are late here too
            batch, late = self.order.judge.judged(batch)
            self.late_events += late
        columns = Columns(len(batch), batch.numeric, batch.categorical)  # held by the waiting events, not the raws
        raw = batch.raw if len(batch.raw) == len(batch) else None
        keys = batch.keys if len(batch.keys) == len(batch) else None
        events = (
            WaitingEvent(event_id, None, batch.partition, offset, t, raw[i] if raw is not None else None,
                         keys[i] if keys is not None else None, headers.get(offset) if headers else None, y,
                         t if y is not None else NO_TIME, source=(columns, i))
            for i, (event_id, offset, t, y) in enumerate(zip(batch.ids, batch.offsets.tolist(), batch.ts.tolist(),
                                                             batch.label.tolist()))
        )
        turned = Turned([])
        self.order.add_events(batch.partition, events, intake.max_ts, caught_up, now_ms, turned)
        self._count(turned)
        return dropped

    def add_labels(self, partition: int, labels: Sequence[tuple[str, Any, int, int]], *, caught_up: bool = False,
                   now_ms: float = 0.0) -> None:
        """One poll of a ``labels`` partition: (event id, label, offset, label time) in its order."""
        turned = Turned([])
        self.order.add_labels(partition, (Label(i, y, ts, partition, o) for i, y, o, ts in labels), caught_up,
                              now_ms, turned)
        self._count(turned)

    def heard(self, topic: str, partition: int, caught_up: bool, now_ms: float) -> None:
        """A poll that brought nothing from ``topic``'s partition (``"events"`` or ``"labels"``)."""
        self.order.heard(topic, partition, caught_up, now_ms)

    def judge_heard(self, frontier: int, offsets: dict[int, int], quiet: bool = False) -> None:
        """One of the judge's progress records (with ``follow_judge``): see :mod:`.order.judged`."""
        turned = Turned([])
        self.order.judge_heard(frontier, offsets, quiet, turned)
        self._count(turned)

    def _count(self, turned: Turned) -> None:
        self.expired_events += turned.expired_events
        self.late_events += turned.late_events
        self.expired_labels += len(turned.labels)
        self._turned += turned.labels

    def _intake(self, partition: int) -> PartitionIntake:
        if partition not in self._intakes:
            self._intakes[partition] = PartitionIntake.of(self.cfg, partition)
        return self._intakes[partition]

    # -- the steps ---------------------------------------------------------------------
    def step(self, now_ms: float = 0.0, judged_to: int | None = None, flush: bool = False) -> LearnOutcome:
        """Take every step before the frontier (``judged_to``: the judge's, live), in order.

        ``flush``: what is seen is all there is (the end of a backtest's file): the frontier
        moves past everything and the pending mini-batch is learned, a boundary of its own; a
        caller that flushes after every poll cuts the mini-batches there (the live role never does)."""
        out = LearnOutcome()
        self.order.advance(now_ms, flush)
        if self.rollbacks:  # an alert of a time already passed (the learner's own, at its last step)
            out.rollbacks += self.rollbacks.take_due(self.order.reached, self.rollback_online)
        steps: Iterator[tuple[int, WaitingEvent]] = iter(())
        if in_bulk(self):
            take_in_bulk(self, out, judged_to)
        else:
            steps = self.order.steps(judged_to)
        for kind, event in steps:
            out.steps += 1
            at = event.ts if kind == ARRIVE else event.learn_at
            if at // self.block_ms > self.errors.bucket and self._block_open():
                out.alerts += self._judge_errors()  # the block's time is over: its errors judged here
            if self.rollbacks:
                out.rollbacks += self.rollbacks.take_due(at, self.rollback_online)
            if kind == ARRIVE:
                self._hold(event, out)
                out.released = self.quiet.arrive(event.ts, event.event_id, self.book.active)
                for end in out.released:
                    self.book.release(end.quarantine.alert_id)
                if out.released:  # the caller replays the held events before any later step
                    self.order.reached = event.ts
                    break
                continue
            self._hold(event, out)  # a quarantine opened since it arrived (a concept alert's) holds it too
            self._learn(event, event.held is None)
        if flush:  # what is seen is all there is: the pending mini-batch is learned (a boundary)
            self.flush_minibatch()
        self._score_pending()  # the errors are known at once (the model is the same until the boundary)
        if self._block_open() and self.order.reached >= (self.errors.bucket + 1) * self.block_ms:
            out.alerts += self._judge_errors()
        if self._sealed:
            out.alerts += self._judge_sealed()
        turned = Turned([])
        self.order.expire(turned)
        self._count(turned)
        out.turned_labels, self._turned = self._turned, []
        out.unusable = self.take_unusable()
        return out

    def process_events(self, batch: EventBatch) -> LearnOutcome:
        """A whole batch in and every step it allows out (backtest-style: what is seen is all there is)."""
        self.add_events(batch)
        return self.step(flush=True)

    def _hold(self, event: WaitingEvent, out: LearnOutcome) -> None:
        if event.held is not None:
            return
        q = self.book.holding(event.partition, event.offset, event.ts)
        if q is not None:
            q.held += 1
            event.held = q.alert_id
            if not event.copied:
                event.copied = True
                out.held.append(HeldEvent(event.partition, event.offset, event.raw, event.key, event.headers, q,
                                          event.ts))

    @property
    def pending(self) -> int:
        """Events waiting for their label."""
        return self.order.pending

    @property
    def minibatch_pending(self) -> int:
        """Scored events waiting in the mini-batch to be learned at its boundary."""
        return len(self.minibatch.to_learn())

    def _rows(self) -> int:
        """The error rows in learning order: those in ``errors``, then the mini-batch's unscored ones."""
        return len(self.errors) + len(self.minibatch) - self.minibatch.scored

    def _block_open(self) -> bool:
        """Whether the current error block has steps (scored, or waiting to be in the mini-batch)."""
        return self._rows() > self._sealed.rows

    def _batched(self) -> bool:
        return self.minibatch.size > 1 and self.learner.plan() is not None

    def _learn(self, event: WaitingEvent, train: bool) -> None:
        """Score and (``train``) learn one event; its error joins the block of its learning time.
        In mini-batches, the event joins the pending batch (scored by the end of the step, or
        sooner if its block is judged or the batch is full; learned at the boundary)."""
        if self.sample < 1.0 and not in_sample(event.event_id, self.sample):
            self.sampled_out += 1
            return
        if self._batched():
            self.errors.bucket = event.learn_at // self.block_ms
            self.minibatch.add(event, train)
            if self.minibatch.full:
                self._boundary()
            return
        x, y = event.features(), event.label
        try:
            error = self.learner.step(x, y, train)
        except UnusableEvent as exc:  # counted and handed out to be routed, never fatal
            inline = event.label_offset < 0  # else the message lacks the label: the event as the learner saw it
            self.route_unusable(event.partition, event.offset, x, y, str(exc), event.raw if inline else None)
            return
        if train:
            self.snapshots.maybe_take(self.learner.pipeline, event.partition, event.offset, self.learner.trained,
                                      event.ts)
        self.errors.add(event.learn_at // self.block_ms, error, event, self.learner.last_prediction,
                        self.segments is not None)

    def _score_pending(self) -> None:
        """Score the pending mini-batch's rows not scored yet (all of one error block), by the
        model as it is since the last boundary: their errors join the block in their order."""
        rows = self.minibatch.unscored
        if not rows:
            return
        events = [r.event for r in rows]
        errors, predictions = self.learner.score_many(gather(events, self._numeric, self._categorical),
                                                      [e.label for e in events])
        self.minibatch.scored = len(self.minibatch)
        keep_rows = self.segments is not None
        self.errors.extend(self.errors.bucket, errors.tolist(), events,
                           predictions.tolist() if keep_rows else [], keep_rows)

    def _boundary(self) -> None:
        """The mini-batch's count is reached (or a flush): score what is left, learn its
        training rows in one step, snapshot if one is due."""
        self._score_pending()
        rows = self.minibatch.to_learn()
        self.minibatch.clear()
        if not rows:
            return
        events = [r.event for r in rows]
        before = self.learner.trained
        try:
            self.learner.learn_many(gather(events, self._numeric, self._categorical), [e.label for e in events])
        except UnusableEvent:  # learned one by one: the event the model refuses is routed with its reason
            events = self._learn_each(events)
        for e in events:
            self.snapshots.learned(e.ts)
        if events:
            self.snapshots.take_if_due(self.learner.pipeline, events[-1].partition, events[-1].offset, before,
                                       self.learner.trained)

    def _learn_each(self, events: list[WaitingEvent]) -> list[WaitingEvent]:
        """Learn the events one by one (a mini-batch the model refused); those it learned."""
        learned = []
        for e in events:
            try:
                self.learner.learn(e.features(), e.label)
            except UnusableEvent as exc:
                self.route_unusable(e.partition, e.offset, e.features(), e.label, str(exc),
                                     e.raw if e.label_offset < 0 else None)
                continue
            learned.append(e)
        return learned

    def flush_minibatch(self) -> None:
        """Score and learn the pending mini-batch now (before a replay or a rollback acts on the model)."""
        if len(self.minibatch):
            self._boundary()

    def _judge_errors(self) -> list[Alert]:
        """The block's errors through the concept detectors, as one array (the same alerts as
        one by one); the quarantines their alerts call for hold the steps that follow. With
        :attr:`judge_later`, the block is only sealed here, judged at the end of the steps."""
        if self.judge_later:
            self._sealed.seal(self._rows())
            return []
        self._score_pending()
        block, self.errors = self.errors, ErrorBlock()
        return self._judged(self.engine().process_errors(*block.arrays(), block.ids, live=self.live), block)

    def _judge_sealed(self) -> list[Alert]:
        """The blocks sealed during the steps, judged together (their rows scored by now)."""
        self._score_pending()
        block, cuts, self.errors = self._sealed.take(self.errors)
        return self._judged(self.engine().process_errors(*block.arrays(), block.ids, live=self.live, cuts=cuts),
                            block)

    def _judged(self, alerts: list[Alert], block: ErrorBlock) -> list[Alert]:
        """The stream's alerts on ``block`` with the segments' and the sample's word; observed."""
        if self.segments is not None:
            found = self.segments.process(block.block(), self.live)
            for alert in alerts:  # the stream's alerts say where the errors rose
                alert.details.update(self.segments.explain(alert))
            alerts = sorted(alerts + found, key=lambda a: (a.position.ts or 0, a.position.event_id or "", a.detector))
        if self.sample < 1.0:
            for alert in alerts:
                alert.details["sample"] = self.sample  # judged on that share of the labelled events
        self.observe(alerts)
        return alerts

    def rollback_online(self, start_ts: int) -> int | None:
        """Restore the newest snapshot that learned no event from ``start_ts`` on (the later
        snapshots, of the model given up, are dropped); its count of trained events.

        The concept detectors then watch the restored model's errors against the reference of
        before the drift, the errors of that model on the old concept (``restore_reference``),
        and watch at once: were they to take the restored model's errors as their new
        reference, a concept already changed would be its new normal, and after a false alarm
        the real change that follows would never be alerted. If the change was real, the
        restored model errs on the new concept too, and that is alerted once more.
        """
        self.flush_minibatch()
        snap = self.snapshots.before(start_ts)
        if snap is None:
            return None
        self.learner.pipeline = self.snapshots.restore(snap)
        engines = [*self.engines.values(), *(self.segments.engines.values() if self.segments is not None else ())]
        for engine in engines:
            for detector in engine.detectors:  # the learner's engines hold its concept detectors only
                detector.restore_reference()
        return snap.trained

    def replay(self, batches: Sequence[EventBatch]) -> int:
        """Learn from released events, in stream order (:func:`.online.replay.learn_released`)."""
        return learn_released(self, batches)

    def route_unusable(self, partition: int, offset: int, x: dict[str, Any], y: Any, why: str,
                        raw: bytes | None = None) -> None:
        """Counted and kept for the role: the message as it came, else the event as the learner saw it."""
        self.unusable += 1
        if raw is None:
            raw = orjson.dumps({"features": x, "label": y}, option=orjson.OPT_SERIALIZE_NUMPY)
        self._unusable.append(Reject(partition, offset, raw, why))

    def take_unusable(self) -> list[Reject]:
        """The unusable events since the last call (``replay`` leaves them here for the role)."""
        out, self._unusable = self._unusable, []
        return out

    def blob(self) -> bytes:
        """The model and its rollback snapshots, pickled: the checkpoint's blob beside :meth:`state_dict`."""
        return pack([self.learner.model_bytes(), self.snapshots.blob()])

    def state_dict(self) -> dict[str, Any]:
        """Everything but the model and the snapshots' pipelines (see :meth:`blob`) and the
        quarantine book (rebuilt from the alerts and action topics on start), as
        JSON-serialisable data."""
        return {
            "snapshots": self.snapshots.state_dict(),
            "learner": self.learner.state_dict(),
            "engines": {str(p): e.state_dict() for p, e in self.engines.items()},
            "order": self.order.state_dict(),
            "errors": self.errors.to_list(),
            "counts": [self.expired_events, self.expired_labels, self.late_events, self.duplicates, self.sampled_out],
            "intakes": {str(p): r.state_dict() for p, r in self._intakes.items()},
            "segments": None if self.segments is None else self.segments.state_dict(),
            "quiet": self.quiet.state_dict(),
            "rollbacks": self.rollbacks.state_dict(),
            "minibatch": self.minibatch.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], blob: bytes | None, now_ms: float = 0.0) -> None:
        """Restore what :meth:`state_dict` and :meth:`blob` saved (``blob``: verified bytes only)."""
        model, snapshots = unpack(blob) if blob else (b"", b"")
        if model:
            self.learner.load_model_bytes(model)
        self.snapshots.load_state_dict(state["snapshots"], snapshots)
        self.learner.load_state_dict(state["learner"])
        self.engines = {}
        for engine_state in state["engines"].values():
            self.engine().load_state_dict(engine_state)
        self.order.load_state_dict(state["order"], now_ms)
        self.errors = ErrorBlock(*state["errors"])
        (self.expired_events, self.expired_labels, self.late_events, self.duplicates,
         self.sampled_out) = state["counts"]
        self._intakes = {}
        for partition, intake_state in state["intakes"].items():
            self._intake(int(partition)).load_state_dict(intake_state)
        if self.segments is not None and state.get("segments") is not None:
            self.segments.load_state_dict(state["segments"])
        self.quiet.load_state_dict(state.get("quiet", {}))  # absent in checkpoints of earlier versions
        for alert_id in self.quiet.ended:
            self.book.release(alert_id)
        self.rollbacks.load_state_dict(state.get("rollbacks", {}))
        self.minibatch.load_state_dict(state.get("minibatch"))  # absent in checkpoints of earlier versions
        if len(self.minibatch) and not self._batched():
            self._drain_one_by_one()

    def _drain_one_by_one(self) -> None:
        """A pending mini-batch restored for a learner that learns one by one (``models.minibatch``
        or the model changed since the checkpoint): its rows scored if not yet, learned, one by one."""
        rows, scored = self.minibatch.rows, self.minibatch.scored
        self.minibatch.clear()
        for i, row in enumerate(rows):
            if i >= scored:
                self._learn(row.event, row.train)
            elif row.train:
                for e in self._learn_each([row.event]):
                    self.snapshots.learned(e.ts)
