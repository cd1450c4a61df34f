"""Labelled events read back from the topics for (re)training, quarantined ones left out.

The retrain job reads a window of ``events`` by offset range (labels missing inline are joined
from ``labels`` by event id) and builds a frame with :mod:`driftline.learners.dataset`, leaving
out the ranges the audit records on ``driftline-actions`` hold or purge.
"""

from __future__ import annotations

import threading
from typing import Any

from kafka import TopicPartition

from driftline.consumers.config.model import DriftlineConfig, group_id, stream_schema
from driftline.consumers.topics import read_actions
from driftline.learners import dataset
from driftline.stream.clock import now_ms
from driftline.stream.events import parse_records
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import end_offset, read_topic
from driftline.stream.labels import parse_label_messages
from driftline.stream.messages import ActionRecord, Alert


class TrainingData:
    """Labelled events read back from the topics, quarantined ones left out."""

    def __init__(self, cfg: DriftlineConfig, bootstrap: str):
        self.cfg, self.bootstrap = cfg, bootstrap
        self.schema = stream_schema(cfg)

    def reference(self, stop: threading.Event) -> Any:
        """The first ``reference.first_n`` events of partition 0, once they are there."""
        n = int(self.cfg.reference.first_n or 0)
        if not self._wait_for(0, n, stop, None):
            return None
        data, _ = self._frame(0, 0, n, [])
        return data

    def window(self, alert: Alert | None, size: int, stop: threading.Event) -> tuple[Any, int]:
        """``size`` events from the alert's position on (surely after the drift began), or the
        latest ``size`` (schedule)."""
        ranges = dataset.excluded_ranges(self.actions())
        if alert is not None:
            p, start = alert.position.partition, alert.position.offset
            self._wait_for(p, start + size, stop, self.cfg.models.retrain.wait_seconds)
            return self._frame(p, start, start + size, ranges)
        end = self.end(0)
        return self._frame(0, max(0, end - size), end, ranges)

    def actions(self) -> list[ActionRecord]:
        """The stream's records on ``driftline-actions``, in order."""
        return read_actions(self.cfg, self.bootstrap).records

    def learned(self, partition: int) -> int:
        """How far the learner has judged ``partition`` (its group's committed offset)."""
        consumer = make_consumer(self.bootstrap, group_id=group_id(self.cfg, "learner"), client=self.cfg.kafka.client)
        try:
            return int(consumer.committed(TopicPartition(self.cfg.topics.events, partition)) or 0)
        finally:
            consumer.close()

    def end(self, partition: int) -> int:
        consumer = make_consumer(self.bootstrap, group_id=None, client=self.cfg.kafka.client)
        try:
            return end_offset(consumer, TopicPartition(self.cfg.topics.events, partition))
        finally:
            consumer.close()

    def _wait_for(self, partition: int, end: int, stop: threading.Event, timeout: float | None) -> bool:
        deadline = None if timeout is None else now_ms() + timeout * 1000
        while not stop.is_set():
            if self.end(partition) >= end:
                return True
            if deadline is not None and now_ms() >= deadline:
                return False
            stop.wait(0.5)
        return False

    def _frame(self, partition: int, start: int, end: int, ranges: list[dataset.Range]) -> tuple[Any, int]:
        consumer = make_consumer(self.bootstrap, group_id=None, client=self.cfg.kafka.client)
        msgs: list[Any] = []
        try:
            tp = TopicPartition(self.cfg.topics.events, partition)
            consumer.assign([tp])
            end = min(end, end_offset(consumer, tp))
            consumer.seek(tp, start)
            while consumer.position(tp) < end:
                for batch in consumer.poll(timeout_ms=500).values():
                    msgs += [m for m in batch if m.offset < end]
        finally:
            consumer.close()
        batch, _ = parse_records(self.schema, partition, msgs)
        labels = self._labels() if any(v is None for v in batch.label) else {}
        return dataset.frame([batch], list(self.cfg.stream.features), labels, ranges)

    def _labels(self) -> dict[str, Any]:
        label = self.cfg.stream.label
        msgs = read_topic(self.bootstrap, self.cfg.topics.labels, client=self.cfg.kafka.client)
        id_field, label_field = self.cfg.stream.labels_fields()
        parsed, _ = parse_label_messages(0, [m.offset for m in msgs], [m.value for m in msgs], id_field, label_field,
                                         label.type if label else None, self.schema, None)
        return {event_id: value for event_id, value, _, _ in parsed}
