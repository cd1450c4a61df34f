"""What every role shares: its clients, its output box, its counters and its loop.

A role polls a batch, handles it, flushes what it produced and waits for the broker to
acknowledge every message, and only then commits the batch's offsets. A crash between the
two redelivers the batch; the outputs it produces again carry the same ids.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftline.consumers.config import DriftlineConfig
from driftline.consumers.config import Role as RoleName
from driftline.stream.events import Reject
from driftline.stream.kafka_io import make_consumer, make_producer
from driftline.stream.messages import ActionRecord, Alert, dead_letter

log = logging.getLogger("driftline")


@dataclass
class RoleStats:
    """Counters of one role; read by the demo's progress line and by tests."""

    role: str
    consumed: int = 0
    alerts: int = 0
    dead_letters: int = 0
    quarantined: int = 0
    actions: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    reasons: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.consumed / elapsed if elapsed > 0 else 0.0


class Outbox:
    """Messages a batch produces; ``flush()`` returns only when the broker acknowledged all."""

    def __init__(self, producer: KafkaProducer, cfg: DriftlineConfig, stats: RoleStats):
        self.producer = producer
        self.topics = cfg.topics
        self.stats = stats
        self._pending: list[Any] = []

    def alert(self, alert: Alert) -> None:
        self._send(self.topics.alerts, alert.to_json(), alert.key, alert.cloudevent_headers())
        self.stats.alerts += 1

    def dead_letter(self, source_topic: str, reject: Reject) -> None:
        value = dead_letter(reject.error, source_topic, reject.partition, reject.offset, reject.raw)
        self._send(self.topics.deadletter, value, None, [("driftline_reason", reject.error[:200].encode())])
        self.stats.dead_letters += 1
        self.stats.reasons[reject.error.split(":")[0]] += 1

    def action(self, record: ActionRecord) -> None:
        self._send(self.topics.actions, record.to_json(), record.stream.encode(), [])
        self.stats.actions += 1

    def send(self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self._send(topic, value, key, headers)

    def _send(self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self._pending.append(self.producer.send(topic, value=value, key=key, headers=headers))

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every message sent since the last flush; raises if any failed."""
        self.producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=timeout)


class Role:
    """A consumer service: subclasses name their topics and handle a polled batch."""

    name: RoleName = "monitor"

    def __init__(self, cfg: DriftlineConfig, bootstrap_servers: str, stats: RoleStats | None = None):
        self.cfg = cfg
        self.bootstrap_servers = bootstrap_servers
        self.stats = stats or RoleStats(self.name)
        self.consumer: KafkaConsumer
        self.outbox: Outbox

    @property
    def group_id(self) -> str:
        return group_id(self.cfg, self.name)

    def topics(self) -> list[str]:
        raise NotImplementedError

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        raise NotImplementedError

    def open(self, stack: ExitStack) -> None:
        """Open extra resources (readers) on ``stack``; the default opens none."""

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Partitions taken away by a rebalance; the default keeps no per-partition state."""

    def run(self, stop: threading.Event, ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; then finish the batch in hand and close cleanly."""
        kafka = self.cfg.kafka
        with ExitStack() as stack:
            producer = make_producer(self.bootstrap_servers, client=kafka.client)
            stack.callback(producer.close, 10)
            self.outbox = Outbox(producer, self.cfg, self.stats)
            self.consumer = make_consumer(
                self.bootstrap_servers,
                group_id=self.group_id,
                client=kafka.client,
                max_poll_records=kafka.max_poll_records,
                session_timeout_ms=kafka.session_timeout_ms,
            )
            stack.callback(self.consumer.close)
            self.consumer.subscribe(self.topics(), listener=_Listener(self))
            self.open(stack)
            log.info("%s: consuming %s as group %s", self.name, ", ".join(self.topics()), self.group_id)
            if ready:
                ready()
            while not stop.is_set():
                records = self.consumer.poll(timeout_ms=kafka.poll_timeout_ms)
                if records:
                    self.handle(records)
                    self.stats.batches += 1
            log.info("%s: stopped after %d messages", self.name, self.stats.consumed)

    def commit(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Flush outputs (acknowledged), then commit the offsets after each partition's batch."""
        self.outbox.flush()
        offsets = {tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1) for tp, msgs in records.items() if msgs}
        if offsets:
            self.consumer.commit(offsets)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, role: Role):
        self.role = role

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.role.on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        pass


def group_id(cfg: DriftlineConfig, role: str) -> str:
    return f"{cfg.kafka.group_prefix}-{cfg.stream.name}-{role}"
