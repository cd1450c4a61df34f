"""The monitor role: reads ``events``, judges every feature, the label and the predictions.

Per partition a :class:`~driftline.consumers.core.engine.DriftEngine` keeps the detectors' state;
unreadable messages go to the dead-letter topic with the reason, and the service goes on.
Each partition's detector state is checkpointed with the offset it reflects, under the key
``<group>/<topic>/<partition>``: whichever instance of the group is assigned the partition
next (after a crash, a restart or a rebalance) resumes from there.
"""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from driftline.consumers.config.model import stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.plan import monitor_plan
from driftline.consumers.roles.loop import Role
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.clock import now_ms
from driftline.stream.events import parse_events


class MonitorRole(Role):
    name = "monitor"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.plan = monitor_plan(self.cfg)
        self.engines: dict[int, DriftEngine] = {}
        #: per partition, the next offset the engine's state has not seen
        self.next_offset: dict[int, int] = {}

    def topics(self) -> list[str]:
        return [self.cfg.topics.events]

    def engine(self, partition: int) -> DriftEngine:
        if partition not in self.engines:
            self.engines[partition] = DriftEngine(self.plan, partition)
        return self.engines[partition]

    def checkpoint_key(self, tp: TopicPartition) -> str:
        return f"{self.group_id}/{tp.topic}/{tp.partition}"

    def restore(self, partitions: list[TopicPartition]) -> None:
        """Runs inside the consumer's rebalance callback: no blocking call on it here."""
        for tp in partitions:
            engine = DriftEngine(self.plan, tp.partition)
            cp = self.store.load(self.checkpoint_key(tp))
            offset = cp.offset(tp.topic, tp.partition) if cp else None
            if cp is not None and offset is not None:
                engine.load_state_dict(cp.state["engine"])
                self.consumer.seek(tp, offset)
                self.next_offset[tp.partition] = offset
            self.engines[tp.partition] = engine

    def save_state(self, partitions: list[TopicPartition] | None = None) -> None:
        topic = self.cfg.topics.events
        for partition, offset in list(self.next_offset.items()):
            tp = TopicPartition(topic, partition)
            if partitions is not None and tp not in partitions:
                continue
            self.store.save(
                Checkpoint(
                    key=self.checkpoint_key(tp),
                    offsets={topic: {partition: offset}},
                    state={"engine": self.engines[partition].state_dict()},
                    created_ms=now_ms(),
                )
            )
        self.checkpointed()

    def forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.engines.pop(tp.partition, None)
            self.next_offset.pop(tp.partition, None)

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        fresh = [tp for tp in records if tp.partition not in self.next_offset]
        if fresh:  # no checkpoint yet: the empty state belongs at the first offset read; saved,
            for tp in fresh:  # a rewind before the next checkpoint comes back exactly here
                self.next_offset[tp.partition] = records[tp][0].offset
            self.save_state(fresh)
        for tp, msgs in records.items():
            batch, rejects = parse_events(
                self.schema, tp.partition, [m.offset for m in msgs], [m.value for m in msgs], [m.key for m in msgs]
            )
            engine = self.engine(tp.partition)
            batch, duplicates = engine.admit(batch)
            for reject in rejects + duplicates:
                self.outbox.dead_letter(tp.topic, reject)
            alerts = engine.process(batch, rejects=rejects)
            for alert in alerts:
                self.outbox.alert(alert)
            self.observer.observe(tp.partition, self.engines[tp.partition], batch, alerts)
            self.stats.consumed += len(msgs)
            self.stats.extra["undeclared_fields"] = self.stats.extra.get("undeclared_fields", 0) + batch.undeclared
            self.next_offset[tp.partition] = msgs[-1].offset + 1
        self.commit(records)
