"""The judge: one judgement per stream, whatever the partition count and instance count.

Every monitor instance runs a judge; the codes topic has one partition, so its consumer group
gives it to exactly one of them at a time (another takes over after a crash or a rebalance,
from the checkpoint). The judge merges the partitions' codes behind the watermark
(:class:`~driftline.consumers.core.order.merge.StreamMerge`) and runs the stream's detectors
(:class:`~driftline.consumers.core.engine.DriftEngine`) over the events in event-time
order: one reference for the stream (its first ``reference.first_n`` events in that order),
one alert per detector per drift, ids from the firing event's id.

Its cost per event is a columnar decode and the detectors' vectorised update; it sees no raw
message (the instances parsed them). After each batch's alerts are acknowledged it writes
how far it has judged (the frontier, in event time) and how far it has taken each partition
in to the progress topic; the learner trains behind it and follows its decisions.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import orjson
from kafka import TopicPartition

from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.order.merge import Released, StreamMerge
from driftline.consumers.core.plan import monitor_plan
from driftline.consumers.roles.loop import Role
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.clock import now_ms
from driftline.stream.codes import decode
from driftline.stream.events import Reject


class JudgeRole(Role):
    name = "judge"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.plan = monitor_plan(self.cfg)
        self.engine: DriftEngine | None = None
        self.merge: StreamMerge | None = None
        self.next_offset: int | None = None
        self.event_partitions: list[int] = [0]
        #: the last progress written: (frontier, next offset taken in per partition, every partition idle)
        self._published: tuple[int, dict[str, int], bool] | None = None

    @property
    def engines(self) -> dict[int, DriftEngine]:
        """The stream's engine, for telemetry (key 0: the whole stream)."""
        return {} if self.engine is None else {0: self.engine}

    def topics(self) -> list[str]:
        return [self.cfg.topics.codes]

    def open(self, stack: ExitStack) -> None:
        found = self.consumer.partitions_for_topic(self.cfg.topics.events)
        self.event_partitions = sorted(found or [0])

    def _fresh(self) -> tuple[DriftEngine, StreamMerge]:
        s = self.cfg.stream
        return DriftEngine(self.plan), StreamMerge(self.event_partitions, s.allowed_lateness_ms,
                                                   s.idle_partition_ms, now_ms())

    def checkpoint_key(self) -> str:
        return f"{self.group_id}/{self.cfg.topics.codes}/0"

    def restore(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        self.engine, self.merge = self._fresh()
        self.next_offset = None
        cp = self.store.load(self.checkpoint_key())
        offset = cp.offset(self.cfg.topics.codes, 0) if cp else None
        if cp is not None and offset is not None:
            self.engine.load_state_dict(cp.state["engine"])
            self.merge.load_state_dict(cp.state["merge"], cp.blob, now_ms())
            self.consumer.seek(TopicPartition(self.cfg.topics.codes, 0), offset)
            self.next_offset = offset

    def save_state(self, partitions: list[TopicPartition] | None = None) -> None:
        if self.engine is None or self.merge is None or self.next_offset is None:
            return
        merge_state, blob = self.merge.state_dict()
        self.store.save(Checkpoint(
            key=self.checkpoint_key(), offsets={self.cfg.topics.codes: {0: self.next_offset}},
            state={"engine": self.engine.state_dict(), "merge": merge_state}, blob=blob, created_ms=now_ms(),
        ))
        self.checkpointed()

    def forget(self, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.engine, self.merge, self.next_offset = None, None, None

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        if self.engine is None or self.merge is None:
            self.engine, self.merge = self._fresh()
        if self.next_offset is None:  # no checkpoint yet: the empty state belongs at the first offset
            self.next_offset = min(msgs[0].offset for msgs in records.values())
            self.save_state()
        now = now_ms()
        for tp, msgs in records.items():
            for m in msgs:
                try:
                    codes = decode(m.value)
                except (ValueError, TypeError, KeyError) as exc:
                    self.outbox.dead_letter(tp.topic, Reject(tp.partition, m.offset, m.value, f"not a codes message: {exc}"))
                    continue
                if codes.stream != self.cfg.stream.name:  # another stream's: its own judge judges it
                    continue
                sent = m.timestamp if isinstance(m.timestamp, int) and m.timestamp > 0 else None
                self.merge.add(codes, now, said_ms=sent)  # quiet time by the instance's clock
            self.stats.consumed += len(msgs)
            self.next_offset = msgs[-1].offset + 1
        self._judge(self.merge.release(now))
        self.commit(records)
        self._progress()

    def idle(self) -> None:
        """No codes came: idle partitions may now be passed over, releasing what waits for them."""
        if self.merge is None or self.engine is None:
            return
        released = self.merge.release(now_ms())
        if not released.empty or released.late:
            self._judge(released)
            self.outbox.flush()
        self._progress()

    def _judge(self, released: Released) -> None:
        assert self.engine is not None and self.merge is not None
        for partition, offset, event_id in released.late:
            self.outbox.dead_letter(self.cfg.topics.events, Reject(
                partition, offset, None,
                f"late at the judge: event {event_id!r:.80} came after the stream's judgement had passed its time "
                "(its partition was idle and passed over)"))
        if not released.empty:
            assert released.batch is not None
            alerts = self.engine.process(released.batch, released.messages)
            for alert in alerts:
                self.outbox.alert(alert)
            self.observer.observe(0, self.engine, released.batch, alerts)
            self.stats.extra["judged"] = self.stats.extra.get("judged", 0) + len(released.batch)
            if self.engine.performance is not None:  # the estimated and realised metrics, for telemetry
                self.stats.extra.update(self.engine.performance.summary())
        self.stats.extra.update(buffered=self.merge.buffered, frontier=self.merge.frontier,
                                idle_partitions=self.merge.idle(now_ms()), skipped=self.merge.skipped,
                                late=self.merge.late)

    def _progress(self) -> None:
        """How far the stream is judged, once its alerts are acknowledged, and how far each
        partition is taken in (the learner follows both: :mod:`~driftline.consumers.core.order.judged`);
        written whenever either moved, before any more codes are taken in."""
        assert self.merge is not None
        offsets = {str(p): part.next_offset for p, part in sorted(self.merge.marks.parts.items())}
        if (self.merge.frontier, offsets, self.merge.quiet) == self._published:
            return
        self._published = (self.merge.frontier, offsets, self.merge.quiet)
        value = orjson.dumps({"stream": self.cfg.stream.name, "frontier": self.merge.frontier, "offsets": offsets,
                              "quiet": self.merge.quiet, "ts": now_ms()})
        self.outbox.send(self.cfg.topics.progress, value, self.cfg.stream.name.encode(), [])
        self.outbox.flush()
