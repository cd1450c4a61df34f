"""The monitor role: reads ``events``, parses and reduces each partition for the stream's judge.

Scale-out is the consumer group's: each instance parses the partitions it is assigned (the
expensive part), dead-letters unreadable, duplicate and late messages with the reason, and
publishes per poll and partition a compact :class:`~driftline.stream.codes.PartitionCodes`
to the codes topic, where the stream's one judge (:mod:`.judge`) merges every partition in
event-time order and runs the detectors. A partition read to its end says so (at most once
a second), so that an idle partition does not hold the stream's judgement back.

Each partition's intake state (recent ids, watermark) is checkpointed with the offset it
reflects, under ``<group>/<topic>/<partition>``: whichever instance is assigned the partition
next resumes from there, and a batch's offsets are committed only once its codes and dead
letters are acknowledged, so a crash re-publishes the same codes (the judge's state skips
what it has seen).
"""

from __future__ import annotations

import time
from typing import Any

from kafka import TopicPartition

from driftline.consumers.config.model import stream_schema
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.roles.loop import Role
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.clock import now_ms
from driftline.stream.codes import PartitionCodes, encode
from driftline.stream.events import parse_records

#: how often a caught-up partition tells the judge so (seconds)
HEARTBEAT_SECONDS = 1.0


class MonitorRole(Role):
    name = "monitor"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = stream_schema(self.cfg)
        self.intakes: dict[int, PartitionIntake] = {}
        #: per partition, the next offset the intake's state has not seen
        self.next_offset: dict[int, int] = {}
        self._heartbeat_at: dict[int, float] = {}

    def topics(self) -> list[str]:
        return [self.cfg.topics.events]

    def intake(self, partition: int) -> PartitionIntake:
        if partition not in self.intakes:
            self.intakes[partition] = PartitionIntake.of(self.cfg, partition)
        return self.intakes[partition]

    def checkpoint_key(self, tp: TopicPartition) -> str:
        return f"{self.group_id}/{tp.topic}/{tp.partition}"

    def restore(self, partitions: list[TopicPartition]) -> None:
        """Runs inside the consumer's rebalance callback: no blocking call on it here."""
        for tp in partitions:
            self.intakes.pop(tp.partition, None)
            intake = self.intake(tp.partition)
            cp = self.store.load(self.checkpoint_key(tp))
            offset = cp.offset(tp.topic, tp.partition) if cp else None
            if cp is not None and offset is not None:
                intake.load_state_dict(cp.state["intake"])
                self.consumer.seek(tp, offset)
                self.next_offset[tp.partition] = offset

    def save_state(self, partitions: list[TopicPartition] | None = None) -> None:
        topic = self.cfg.topics.events
        for partition, offset in list(self.next_offset.items()):
            tp = TopicPartition(topic, partition)
            if partitions is not None and tp not in partitions:
                continue
            self.store.save(Checkpoint(key=self.checkpoint_key(tp), offsets={topic: {partition: offset}},
                                       state={"intake": self.intake(partition).state_dict()}, created_ms=now_ms()))
        self.checkpointed()

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """A rebalance takes partitions away: tell the judge first that they are no longer read
        to their end, so that it waits for their next owner instead of passing them over."""
        if partitions and self._healthy:
            self._let_go(partitions)
        super().on_revoked(partitions)

    def stopping(self) -> None:
        self._let_go(list(self.consumer.assignment()))

    def _let_go(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            if tp.partition in self.next_offset:
                self._publish(self.intake(tp.partition).heartbeat(self.next_offset[tp.partition], caught_up=False))
        self.outbox.flush()

    def forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.intakes.pop(tp.partition, None)
            self.next_offset.pop(tp.partition, None)
            self._heartbeat_at.pop(tp.partition, None)

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        fresh = [tp for tp in records if tp.partition not in self.next_offset]
        if fresh:  # no checkpoint yet: the empty state belongs at the first offset read; saved,
            for tp in fresh:  # a rewind before the next checkpoint comes back exactly here
                self.next_offset[tp.partition] = records[tp][0].offset
            self.save_state(fresh)
        for tp, msgs in records.items():
            batch, rejects = parse_records(self.schema, tp.partition, msgs)
            batch, dropped, codes = self.intake(tp.partition).admit(batch, rejects)
            for reject in sorted(rejects + dropped, key=lambda r: r.offset):
                self.outbox.dead_letter(tp.topic, reject)
            codes.next_offset = msgs[-1].offset + 1
            codes.caught_up = self.caught_up(tp)
            self._publish(codes)
            self.stats.consumed += len(msgs)
            self.stats.extra["undeclared_fields"] = self.stats.extra.get("undeclared_fields", 0) + batch.undeclared
            self.next_offset[tp.partition] = msgs[-1].offset + 1
        self.commit(records)

    def idle(self) -> None:
        """An empty poll: tell the judge which partitions are read to their end."""
        sent = False
        for tp in self.consumer.assignment():
            if self.caught_up(tp) and time.monotonic() - self._heartbeat_at.get(tp.partition, 0.0) >= HEARTBEAT_SECONDS:
                offset = self.next_offset.get(tp.partition, self.consumer.position(tp))
                self._publish(self.intake(tp.partition).heartbeat(offset))
                sent = True
        if sent:
            self.outbox.flush()


    def _publish(self, codes: PartitionCodes) -> None:
        codes.stream = self.cfg.stream.name
        self.outbox.send(self.cfg.topics.codes, encode(codes), f"{codes.stream}/{codes.partition}".encode(), [])
        self._heartbeat_at[codes.partition] = time.monotonic()

