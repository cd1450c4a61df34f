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

from kafka import TopicPartition

from driftline.consumers.learning import LearnerCore
from driftline.consumers.schema import stream_schema
from driftline.consumers.service import Role, group_id
from driftline.stream.events import parse_events, parse_label_messages
from driftline.stream.kafka_io import make_consumer
from driftline.stream.messages import ActionRecord, Alert, quarantine_headers

log = logging.getLogger("driftline")


class LearnerRole(Role):
    name = "learner"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.core = LearnerCore(self.cfg, live=True)
        self._stop = threading.Event()

    def topics(self) -> list[str]:
        return [self.cfg.topics.events, self.cfg.topics.labels]

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
        self.watermark = make_consumer(
            self.bootstrap_servers, group_id=group_id(self.cfg, "monitor"), client=kafka.client
        )
        stack.callback(self.watermark.close)

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        events = {tp: m for tp, m in records.items() if tp.topic == self.cfg.topics.events}
        labels = {tp: m for tp, m in records.items() if tp.topic == self.cfg.topics.labels}
        if self.cfg.learner.wait_for_monitor:
            for tp, msgs in events.items():
                self._wait_judged(tp, msgs[-1].offset)
        self._refresh()
        for tp, msgs in events.items():
            batch, rejects = parse_events(
                self.schema, tp.partition, [m.offset for m in msgs], [m.value for m in msgs], [m.key for m in msgs]
            )
            self.stats.reasons["invalid event (dead-lettered by the monitor)"] += len(rejects)
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
            self.stats.consumed += len(msgs)
        label_field = self.cfg.stream.label.field if self.cfg.stream.label else "label"
        label_type = self.cfg.stream.label.type if self.cfg.stream.label else None
        for tp, msgs in labels.items():
            parsed, rejects = parse_label_messages(
                tp.partition, [m.offset for m in msgs], [m.value for m in msgs],
                self.cfg.stream.id_field, label_field, label_type,
            )
            for reject in rejects:
                self.outbox.dead_letter(tp.topic, reject)
            for alert in self.core.process_labels(parsed).alerts:
                self.outbox.alert(alert)
            self.stats.consumed += len(msgs)
        self.stats.extra.update(
            metric=self.core.learner.metric, trained=self.core.learner.trained, seen=self.core.learner.seen,
            pending=self.core.pending, expired_events=self.core.expired_events,
        )
        self.commit(records)

    def _wait_judged(self, tp: TopicPartition, last_offset: int) -> None:
        """Block until the monitor has committed past ``last_offset`` on this partition."""
        since = time.monotonic()
        told = since
        while not self._stop.is_set():
            committed = self.watermark.committed(tp)
            if committed is not None and committed > last_offset:
                return
            if time.monotonic() - told > 10:
                log.warning(
                    "learner: waiting for the monitor to judge %s[%d] up to offset %d (committed: %s); "
                    "is the monitor role running? (learner.wait_for_monitor: false turns this off)",
                    tp.topic, tp.partition, last_offset, committed,
                )
                told = time.monotonic()
            time.sleep(0.05)

    def _refresh(self) -> None:
        """Read alerts and action records up to their end: quarantines opened and released."""
        assigned = list(self.reader.assignment())
        if not assigned:
            return
        end = self.reader.end_offsets(assigned)
        while any(self.reader.position(tp) < end[tp] for tp in assigned):
            for tp, msgs in self.reader.poll(timeout_ms=200).items():
                for m in msgs:
                    self._observe(tp.topic, m.value)

    def _observe(self, topic: str, value: bytes) -> None:
        try:
            if topic == self.cfg.topics.alerts:
                alert = Alert.from_json(value)
                if alert.stream == self.cfg.stream.name:
                    self.core.observe([alert])
            else:
                record = ActionRecord.from_json(value)
                if record.action == "release" and record.stream == self.cfg.stream.name:
                    self.core.book.release(record.alert_id)
        except ValueError as exc:
            self.stats.reasons[f"unreadable record on {topic}"] += 1
            log.warning("learner: skipped an unreadable record on %s: %s", topic, exc)
