"""The monitor role: reads ``events``, judges every feature, the label and the predictions.

Per partition a :class:`~driftline.consumers.engine.DriftEngine` keeps the detectors' state;
unreadable messages go to the dead-letter topic with the reason, and the service goes on.
"""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from driftline.consumers.engine import DriftEngine
from driftline.consumers.schema import stream_schema
from driftline.consumers.service import Role
from driftline.stream.events import parse_events

MONITOR_TARGETS = ("feature", "label", "prediction")


class MonitorRole(Role):
    name = "monitor"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.engines: dict[int, DriftEngine] = {}

    def topics(self) -> list[str]:
        return [self.cfg.topics.events]

    def engine(self, partition: int) -> DriftEngine:
        if partition not in self.engines:
            self.engines[partition] = DriftEngine(self.cfg, partition, MONITOR_TARGETS)
        return self.engines[partition]

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.engines.pop(tp.partition, None)

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        for tp, msgs in records.items():
            batch, rejects = parse_events(
                self.schema, tp.partition, [m.offset for m in msgs], [m.value for m in msgs], [m.key for m in msgs]
            )
            for reject in rejects:
                self.outbox.dead_letter(tp.topic, reject)
            for alert in self.engine(tp.partition).process(batch):
                self.outbox.alert(alert)
            self.stats.consumed += len(msgs)
        self.commit(records)
