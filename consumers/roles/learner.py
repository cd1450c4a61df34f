"""The learner role: online River model, test-then-train, concept drift on its errors.

It reads every partition of ``events`` and ``labels`` (one learner per stream) and takes the
steps of :class:`~driftline.consumers.core.order.learning.LearningOrder` in data order: an
event's arrival once the stream's judge has judged past it (its frontier on the progress
topic) and every alert up to then has been read, so a quarantine the policies call for holds
every suspect event, live as in backtest; its learning once its label is in and both topics
are past the learning time. Held events are copied, value, key and headers unchanged, to the
quarantine topic with the alert that holds them.

Which events are in the stream's order is the judge's call where timing decides it (an idle
partition passed over): the progress records say how far the judge has taken each partition
in, and the learner learns exactly the events the judge judged (:mod:`~driftline.consumers.core.order.judged`),
never passing a partition over on its own clock. It reads at most about ``READ_AHEAD`` events
ahead of the judge, then waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from typing import Any

import orjson
from kafka import TopicPartition

from driftline.consumers.config.model import stream_schema
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.online.outcome import LearnOutcome
from driftline.consumers.core.online.quiet import QuietEnd
from driftline.consumers.core.order.intake import NO_TIME
from driftline.consumers.core.plan import learner_plan
from driftline.consumers.roles.loop import Role
from driftline.consumers.topics import HeldMessage, held_events
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.clock import now_ms
from driftline.stream.events import Reject, parse_events, parse_records
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import read_to_end, tail
from driftline.stream.labels import parse_label_messages
from driftline.stream.messages import ActionRecord, Alert, quarantine_headers

log = logging.getLogger("driftline")

#: live behind the judge, at most about this many events read wait for it before the learner waits too
READ_AHEAD = 20_000


class LearnerRole(Role):
    name = "learner"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.plan = learner_plan(self.cfg)
        self.event_partitions: list[int] = [0]
        self.label_partitions: list[int] = []
        self.core = self._new_core()
        self.next_offset: dict[TopicPartition, int] = {}
        self.actions_done: dict[int, int] = {}
        self.reader: Any = None  # the alerts and actions reader, opened with the role
        self.progress: Any = None  # the judge's progress reader, opened with the role
        self.frontier = NO_TIME  # the judge's newest frontier read
        self._stop = threading.Event()

    def _new_core(self) -> LearnerCore:
        return LearnerCore(self.cfg, self.plan, live=True, event_partitions=self.event_partitions,
                           label_partitions=self.label_partitions, now_ms=now_ms(),
                           follow_judge=self.cfg.learner.wait_for_monitor)

    def topics(self) -> list[str]:
        return [self.cfg.topics.events, self.cfg.topics.labels]

    # -- state: one model per stream, checkpointed under the group's name -----------------

    def restore(self, partitions: list[TopicPartition]) -> None:
        """Model, joins and detectors from the checkpoint; every partition seeks to its offset."""
        self.core = self._new_core()
        self.next_offset: dict[TopicPartition, int] = {}
        self._reread_alerts()
        cp = self.store.load(self.group_id)
        self.actions_done: dict[int, int] = {}
        if cp is not None:
            self.core.load_state_dict(cp.state["core"], cp.blob, now_ms())
            self.actions_done = {int(p): int(o) for p, o in cp.state.get("actions_done", {}).items()}
        for tp in partitions:  # inside the rebalance callback: no blocking call on the consumer
            offset = cp.offset(tp.topic, tp.partition) if cp is not None else None
            if offset is not None:
                self.consumer.seek(tp, offset)
                self.next_offset[tp] = offset

    def save_state(self, partitions: list[TopicPartition] | None = None) -> None:
        if not self.next_offset:
            return  # nothing restored or processed: the stored checkpoint is still the latest
        offsets: dict[str, dict[int, int]] = {}
        for tp, offset in self.next_offset.items():
            offsets.setdefault(tp.topic, {})[tp.partition] = offset
        self.store.save(
            Checkpoint(
                key=self.group_id,
                offsets=offsets,
                state={"core": self.core.state_dict(),
                       "actions_done": {str(p): o for p, o in self.actions_done.items()}},
                blob=self.core.blob(),
                created_ms=now_ms(),
            )
        )
        self.checkpointed()

    def forget(self, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.core = self._new_core()
            self.next_offset = {}
            self._reread_alerts()

    def _reread_alerts(self) -> None:
        """A new core has an empty quarantine book and knows none of the judge's progress: the
        alerts, actions and progress topics are read again from their start (the releases its
        checkpoint has carried out are not replayed again)."""
        if self.reader is not None:
            self.reader.seek_to_beginning()
        if self.progress is not None:
            self.progress.seek_to_beginning()
            self.frontier = NO_TIME

    def run(self, stop: threading.Event, ready: Any = None) -> None:
        self._stop = stop
        super().run(stop, ready)

    def open(self, stack: ExitStack) -> None:
        kafka = self.cfg.kafka
        self.event_partitions = sorted(self.consumer.partitions_for_topic(self.cfg.topics.events) or [0])
        self.label_partitions = sorted(self.consumer.partitions_for_topic(self.cfg.topics.labels) or [])
        self.reader = make_consumer(self.bootstrap_servers, group_id=None, client=kafka.client)
        stack.callback(self.reader.close)
        parts = []
        for topic in (self.cfg.topics.alerts, self.cfg.topics.actions):
            for p in sorted(self.reader.partitions_for_topic(topic) or []):
                parts.append(TopicPartition(topic, p))
        self.reader.assign(parts)
        self.reader.seek_to_beginning()
        #: without a checkpoint, releases recorded before this were carried out by an earlier learner
        self._opened_ms = now_ms()
        self.progress = make_consumer(self.bootstrap_servers, group_id=None, client=kafka.client)
        stack.callback(self.progress.close)
        self.progress.assign([TopicPartition(self.cfg.topics.progress, 0)])
        self.progress.seek_to_beginning()
        self.frontier = NO_TIME

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        fresh = [tp for tp in records if tp not in self.next_offset]
        if fresh:  # no checkpoint for these yet: save the state as it stands at their first
            for tp in fresh:  # offsets, so that a rewind before the next checkpoint comes here
                self.next_offset[tp] = records[tp][0].offset
            self.save_state()
        now = now_ms()
        label = self.cfg.stream.label
        id_field, label_field = self.cfg.stream.labels_fields()
        for tp, msgs in records.items():
            caught_up = self.caught_up(tp)
            if tp.topic == self.cfg.topics.events:
                batch, rejects = parse_records(self.schema, tp.partition, msgs)
                headers = {m.offset: list(m.headers) for m in msgs if m.headers}
                dropped = self.core.add_events(batch, caught_up=caught_up, now_ms=now, headers=headers)
                self.stats.reasons["invalid event (dead-lettered by the monitor)"] += len(rejects) + len(dropped)
            else:
                rows, rejects = parse_label_messages(
                    tp.partition, [m.offset for m in msgs], [m.value for m in msgs], id_field, label_field,
                    label.type if label else None, self.schema, self.cfg.stream.labels_time_field(),
                )
                for reject in rejects:
                    self.outbox.dead_letter(tp.topic, reject)
                self.core.add_labels(tp.partition, rows, caught_up=caught_up, now_ms=now)
        for tp, msgs in records.items():
            if tp.topic == self.cfg.topics.events:  # read past these, rejected messages included
                self.core.order.read_to(tp.partition, msgs[-1].offset + 1)
        self._heard(set(records), now)
        self._take_steps(now)
        self._hold_back()
        self.stats.consumed += sum(len(msgs) for msgs in records.values())  # counted once their steps are taken
        for tp, msgs in records.items():
            self.next_offset[tp] = msgs[-1].offset + 1
        self.commit(records)

    def idle(self) -> None:
        """An empty poll: every partition heard from, and the steps the frontier now allows."""
        if not self.consumer.assignment():
            return  # not restored yet: nothing to step, and the alerts are read once a core is restored
        now = now_ms()
        self._heard(set(), now)
        if self._take_steps(now):
            self._since_checkpoint += 1  # the state moved on: checkpoint it when due

    def _heard(self, polled: set[TopicPartition], now: float) -> None:
        for tp in self.consumer.assignment():
            if tp not in polled:
                topic = "events" if tp.topic == self.cfg.topics.events else "labels"
                self.core.heard(topic, tp.partition, self.caught_up(tp), now)
                if topic == "events":  # where its reader stands (an empty partition's log start)
                    self.core.order.read_to(tp.partition, self.consumer.position(tp))


    def _take_steps(self, now: float) -> int:
        """Every step the frontier allows (behind the judge's), with all alerts up to it read;
        how many were taken (with the online rollbacks: the state moved on)."""
        judged_to = None
        if self.cfg.learner.wait_for_monitor:
            tail(self.progress, self._on_progress)
            judged_to = self.frontier
        self._refresh()
        steps = 0
        while True:
            outcome = self.core.step(now, judged_to)
            steps += outcome.steps + len(outcome.rollbacks)
            self._send(outcome)
            self.outbox.flush()  # the held events are on the quarantine topic (to replay them now)
            self._report()
            if not outcome.released:
                return steps
            for end in outcome.released:
                self._end_quiet(end)

    def _end_quiet(self, end: QuietEnd) -> None:
        """A quarantine's detector was quiet long enough: record the end, replay its events."""
        q = end.quarantine
        replayed = self._replay(q.alert_id)
        self.stats.extra["replayed"] = self.stats.extra.get("replayed", 0) + replayed
        self.outbox.action(ActionRecord.new(
            "release", self.cfg.stream.name, "released", alert_id=q.alert_id, id_extra="quiet",
            scope={"partition": q.partition, "from_offset": q.from_offset, "from_ts": q.from_ts,
                   "until_ts": end.ts, "condition": "quiet"},
            detail=(f"ended: {q.detector or 'its detector'} quiet for {end.quiet} events of the stream, up to event "
                    f"{end.event_id!r:.80} at event time {end.ts}; {replayed} held events replayed to the learner, "
                    "usable for retraining")))

    def _send(self, outcome: LearnOutcome) -> None:
        """What a step produced: held events to the quarantine topic, alerts, dead letters."""
        for held in outcome.held:
            q = held.quarantine
            self.outbox.send(
                self.cfg.topics.quarantine, held.raw, held.key,
                quarantine_headers(q.alert_id, q.reason, self.cfg.topics.events, held.partition, held.offset,
                                   held.headers),
                timestamp_ms=held.ts,
            )
            self.stats.quarantined += 1
        for alert in outcome.alerts:
            self.outbox.alert(alert)
        for r in outcome.rollbacks:
            if r.restored is not None:
                self.stats.extra["rolled_back_to"] = r.restored
                log.info("learner: rollback for alert %s: online model restored to its snapshot after %d trained "
                         "events (it learned nothing from event time %d on)", r.alert_id, r.restored, r.start)
            else:
                log.info("learner: no online rollback for alert %s: %s", r.alert_id, r.skipped)
        self._dead_letter_unusable(outcome.unusable)
        id_field, label_field = self.cfg.stream.labels_fields()
        for turned, why in outcome.turned_labels:
            raw = orjson.dumps({id_field: turned.event_id, label_field: turned.label,
                                self.cfg.stream.timestamp_field: turned.ts})
            reason = f"label for event {turned.event_id!r:.80}: {why}"
            self.outbox.dead_letter(self.cfg.topics.labels, Reject(turned.partition, turned.offset, raw, reason))

    def _report(self) -> None:
        """The learner's counters for telemetry, once what its steps sent is acknowledged (a
        reader of them finds every held event and alert on its topic)."""
        self.stats.extra.update(
            metric=self.core.learner.metric, trained=self.core.learner.trained, seen=self.core.learner.seen,
            pending=self.core.pending, expired_events=self.core.expired_events, unusable=self.core.unusable,
            late_events=self.core.late_events, learned_to=self.core.order.frontier, due=self.core.order.due,
            sampled_out=self.core.sampled_out, minibatch_pending=self.core.minibatch_pending,
        )
        if self.core.segments is not None:  # per segment, for the metrics' segment labels
            self.stats.extra["segments"] = self.core.segments.table(series=False)

    def _dead_letter_unusable(self, unusable: list[Reject]) -> None:
        """Events the model could not use, to the dead-letter topic with the reason (the
        original message when the learner still had it, else the event as it saw it)."""
        for reject in unusable:
            self.outbox.dead_letter(self.cfg.topics.events, reject)

    def _hold_back(self) -> None:
        """Live behind the judge: once more than ``READ_AHEAD`` events read wait for the judge to
        take them in, wait until half of them are settled. The learner never steps past the
        judge in any case; this bounds what waits. The time waited is no quiet time for the
        labels' partitions (:meth:`.Watermarks.waited`): nothing was read from them meanwhile."""
        judge = self.core.order.judge
        if judge is None or judge.ahead <= READ_AHEAD:
            return
        started = told = time.monotonic()
        while judge.ahead > READ_AHEAD // 2 and not self._stop.is_set():
            tail(self.progress, self._on_progress)
            if time.monotonic() - told > 10:
                log.warning(
                    "learner: %d events read wait for the judge to judge them (judged up to event time %s); "
                    "is a monitor role running? (learner.wait_for_monitor: false turns this off)",
                    judge.ahead, self.frontier,
                )
                told = time.monotonic()
            time.sleep(0.05)
        self.core.order.labels.waited((time.monotonic() - started) * 1000)

    def _on_progress(self, topic: str, value: bytes | None) -> None:
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict) and doc.get("stream") == self.cfg.stream.name:
            frontier = int(doc.get("frontier", NO_TIME))
            self.frontier = max(self.frontier, frontier)
            if self.core.order.judge is not None:
                offsets = {int(p): int(o) for p, o in (doc.get("offsets") or {}).items()}
                self.core.judge_heard(frontier, offsets, bool(doc.get("quiet", False)))

    def _refresh(self) -> None:
        """Read alerts and action records up to their end: quarantines opened and released."""
        for m in read_to_end(self.reader, list(self.reader.assignment())):
            self._observe(m.topic, m.partition, m.offset, m.value)

    def _observe(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        try:
            if topic == self.cfg.topics.alerts:
                alert = Alert.from_json(value or b"")
                if alert.stream == self.cfg.stream.name:
                    self.core.observe([alert])
                return
            record = ActionRecord.from_json(value or b"")
            done = self.actions_done.get(partition)
            fresh = offset >= done if done is not None else record.ts >= self._opened_ms
            self.actions_done[partition] = max(offset + 1, done or 0)
            if record.stream == self.cfg.stream.name:
                self._act_on(record, fresh)
        except ValueError as exc:
            self.stats.reasons[f"unreadable record on {topic}"] += 1
            log.warning("learner: skipped an unreadable record on %s: %s", topic, exc)

    # -- actions the learner carries out: ending quarantines, replaying ------------------
    def _act_on(self, record: ActionRecord, fresh: bool) -> None:
        """``fresh``: not yet carried out by this learner's state (a release's replay is done once)."""
        if record.action == "release" and record.scope.get("condition") == "quiet":
            return  # this learner's own end, found again in the data at its step (also after a restart)
        if record.action in ("release", "purge"):
            if record.alert_id in self.core.quiet.ended:
                return  # ended on its quiet time already (its events replayed then)
            released = self.core.book.release(record.alert_id)
            if record.action == "release" and fresh:
                for alert_id in released or ([record.alert_id] if record.alert_id else []):
                    self.stats.extra["replayed"] = self.stats.extra.get("replayed", 0) + self._replay(alert_id)
        # a rollback's online part is the core's own, at the alert's step (see LearnerCore)

    def _replay(self, alert_id: str) -> int:
        """Learn from the events ``alert_id``'s quarantine held (read back from the quarantine topic)."""
        by_partition: dict[int, list[HeldMessage]] = {}
        for m in held_events(self.cfg, self.bootstrap_servers).get(alert_id, []):
            by_partition.setdefault(m.partition, []).append(m)
        batches = []
        for p, held in sorted(by_partition.items()):  # parsed as they came: key, record time, headers
            held.sort(key=lambda m: m.offset)
            batches.append(parse_events(self.schema, p, [m.offset for m in held], [m.value for m in held],
                                        [m.key for m in held], timestamps=[m.timestamp for m in held],
                                        headers=[m.headers for m in held])[0])
        n = self.core.replay(batches)
        self._dead_letter_unusable(self.core.take_unusable())
        return n
