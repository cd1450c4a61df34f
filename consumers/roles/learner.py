"""The learner role: online River model, test-then-train, concept drift on its errors.

It reads ``events`` and ``labels``; it trains on an event only once the monitor has judged it
(the monitor's committed offset is past it) and it has read every alert up to then, so a
quarantine the policies call for holds every suspect event, live as in backtest. Held events
are copied, value and key unchanged, to the quarantine topic with the alert that holds them.
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
from driftline.consumers.core.intake import NO_TIME
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.consumers.roles.loop import Role
from driftline.consumers.topics import held_events
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.clock import now_ms
from driftline.stream.events import EventBatch, Reject, parse_events, parse_label_messages, parse_records
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import tail
from driftline.stream.messages import ActionRecord, Alert, quarantine_headers

log = logging.getLogger("driftline")


class LearnerRole(Role):
    name = "learner"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.plan = learner_plan(self.cfg)
        self.core = LearnerCore(self.cfg, self.plan, live=True)
        self.next_offset: dict[TopicPartition, int] = {}
        self._stop = threading.Event()

    def topics(self) -> list[str]:
        return [self.cfg.topics.events, self.cfg.topics.labels]

    # -- state: one model per stream, checkpointed under the group's name -----------------

    def restore(self, partitions: list[TopicPartition]) -> None:
        """Model, joins and detectors from the checkpoint; every partition seeks to its offset."""
        self.core = LearnerCore(self.cfg, self.plan, live=True)
        self.next_offset: dict[TopicPartition, int] = {}
        cp = self.store.load(self.group_id)
        if cp is not None:
            self.core.load_state_dict(cp.state["core"], cp.blob)
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
                state={"core": self.core.state_dict()},
                blob=self.core.learner.model_bytes(),
                created_ms=now_ms(),
            )
        )
        self.checkpointed()

    def forget(self, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.core = LearnerCore(self.cfg, self.plan, live=True)
            self.next_offset = {}

    def run(self, stop: threading.Event, ready: Any = None) -> None:
        self._stop = stop
        super().run(stop, ready)

    def open(self, stack: ExitStack) -> None:
        kafka = self.cfg.kafka
        self.reader = make_consumer(self.bootstrap_servers, group_id=None, client=kafka.client)
        stack.callback(self.reader.close)
        parts = []
        for topic in (self.cfg.topics.alerts, self.cfg.topics.actions):
            for p in sorted(self.reader.partitions_for_topic(topic) or []):
                parts.append(TopicPartition(topic, p))
        self.reader.assign(parts)
        self.reader.seek_to_beginning()
        self._opened_ms = now_ms()  # releases recorded before this were replayed already
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
        events = {tp: m for tp, m in records.items() if tp.topic == self.cfg.topics.events}
        labels = {tp: m for tp, m in records.items() if tp.topic == self.cfg.topics.labels}
        parsed: dict[TopicPartition, tuple[list[Any], EventBatch]] = {}
        for tp, msgs in events.items():
            batch, rejects = parse_records(self.schema, tp.partition, msgs)
            batch, dropped = self.core.admit(batch)
            self.stats.reasons["invalid event (dead-lettered by the monitor)"] += len(rejects) + len(dropped)
            parsed[tp] = (msgs, batch)
        newest = max((int(b.ts.max()) for _, b in parsed.values() if len(b)), default=None)
        if self.cfg.learner.wait_for_monitor and newest is not None:
            self._wait_judged(newest)
        self._refresh()
        for tp, (msgs, batch) in parsed.items():
            outcome = self.core.process_events(batch)
            headers = {m.offset: list(m.headers or []) for m in msgs} if outcome.held else {}
            for i, q in outcome.held:
                offset = int(batch.offsets[i])
                self.outbox.send(
                    self.cfg.topics.quarantine,
                    batch.raw[i],
                    batch.keys[i],
                    quarantine_headers(q.alert_id, q.reason, tp.topic, tp.partition, offset, headers.get(offset)),
                )
                self.stats.quarantined += 1
            for alert in outcome.alerts:
                self.outbox.alert(alert)
            self._dead_letter_unusable(outcome.unusable, batch)
            self.stats.consumed += len(msgs)
        id_field, label_field = self.cfg.stream.labels_fields()
        label_type = self.cfg.stream.label.type if self.cfg.stream.label else None
        for tp, msgs in labels.items():
            label_rows, rejects = parse_label_messages(
                tp.partition, [m.offset for m in msgs], [m.value for m in msgs], id_field, label_field, label_type,
                self.schema,
            )
            for reject in rejects:
                self.outbox.dead_letter(tp.topic, reject)
            outcome = self.core.process_labels(label_rows, tp.partition)
            for alert in outcome.alerts:
                self.outbox.alert(alert)
            self._dead_letter_unusable(outcome.unusable)
            for event_id, label, partition, offset in outcome.expired_labels:
                raw = orjson.dumps({id_field: event_id, label_field: label})
                reason = f"label for an unknown event: no event {event_id!r:.80} within {self.cfg.learner.max_pending} labels"
                self.outbox.dead_letter(tp.topic, Reject(partition, offset, raw, reason))
            self.stats.consumed += len(msgs)
        self.stats.extra.update(
            metric=self.core.learner.metric, trained=self.core.learner.trained, seen=self.core.learner.seen,
            pending=self.core.pending, expired_events=self.core.expired_events, unusable=self.core.unusable,
        )
        for tp, msgs in records.items():
            self.next_offset[tp] = msgs[-1].offset + 1
        self.commit(records)

    def _dead_letter_unusable(self, unusable: list[Reject], batch: EventBatch | None = None) -> None:
        """Events the model could not use, to the dead-letter topic with the reason: the original
        message when it is in hand, else the event as the learner saw it (features, label)."""
        raw = dict(zip(batch.offsets.tolist(), batch.raw)) if unusable and batch is not None else {}
        for reject in unusable:
            original = raw.get(reject.offset)
            if original is not None:
                reject = Reject(reject.partition, reject.offset, original, reject.error)
            self.outbox.dead_letter(self.cfg.topics.events, reject)

    def _wait_judged(self, newest_ts: int) -> None:
        """Block until the stream's judge has judged every event up to ``newest_ts`` (its
        frontier on the progress topic is past it), so that its alerts are on the alerts topic."""
        told = time.monotonic()
        while not self._stop.is_set():
            tail(self.progress, self._on_progress)
            if self.frontier > newest_ts:
                return
            if time.monotonic() - told > 10:
                log.warning(
                    "learner: waiting for the judge to judge the stream up to event time %d (judged up to %s); "
                    "is a monitor role running? (learner.wait_for_monitor: false turns this off)",
                    newest_ts, self.frontier,
                )
                told = time.monotonic()
            time.sleep(0.05)

    def _on_progress(self, topic: str, value: bytes | None) -> None:
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict) and doc.get("stream") == self.cfg.stream.name:
            self.frontier = max(self.frontier, int(doc.get("frontier", NO_TIME)))

    def _refresh(self) -> None:
        """Read alerts and action records up to their end: quarantines opened and released."""
        tail(self.reader, self._observe)

    def _observe(self, topic: str, value: bytes) -> None:
        try:
            if topic == self.cfg.topics.alerts:
                alert = Alert.from_json(value)
                if alert.stream == self.cfg.stream.name:
                    self.core.observe([alert])
            else:
                record = ActionRecord.from_json(value)
                if record.stream == self.cfg.stream.name:
                    self._act_on(record)
        except ValueError as exc:
            self.stats.reasons[f"unreadable record on {topic}"] += 1
            log.warning("learner: skipped an unreadable record on %s: %s", topic, exc)

    # -- actions the learner carries out: ending quarantines, replaying, rolling back ------
    def _act_on(self, record: ActionRecord) -> None:
        if record.action in ("release", "purge"):
            released = self.core.book.release(record.alert_id)
            if record.action == "release" and record.ts >= getattr(self, "_opened_ms", 0):
                for alert_id in released or ([record.alert_id] if record.alert_id else []):
                    self.stats.extra["replayed"] = self.stats.extra.get("replayed", 0) + self._replay(alert_id)
        elif record.action == "rollback" and "drift_from_offset" in record.scope:
            restored = self.core.rollback_online(int(record.scope["partition"]), int(record.scope["drift_from_offset"]))
            self.stats.extra["rolled_back_to"] = restored
            log.info("learner: rollback for alert %s: online model restored to its snapshot at offset %s",
                     record.alert_id, restored)

    def _replay(self, alert_id: str) -> int:
        """Learn from the events ``alert_id``'s quarantine held, in their original order."""
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for p, offset, value in held_events(self.cfg, self.bootstrap_servers).get(alert_id, []):
            by_partition.setdefault(p, []).append((offset, value))
        n = 0
        for p, held in sorted(by_partition.items()):
            held.sort()
            batch, _ = parse_events(self.schema, p, [o for o, _ in held], [v for _, v in held])
            n += self.core.replay(batch)
        self._dead_letter_unusable(self.core.take_unusable())
        return n
