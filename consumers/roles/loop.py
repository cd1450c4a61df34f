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
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from driftline.consumers.config.model import DriftlineConfig, group_id
from driftline.consumers.config.model import Role as RoleName
from driftline.consumers.roles.observer import NoObserver, ObserverFactory
from driftline.stream.checkpoint import (
    CheckpointError,
    CheckpointStore,
    FileCheckpointStore,
    KafkaCheckpointStore,
    state_key,
)
from driftline.stream.events import Reject
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.records import CaughtUp
from driftline.stream.messages import ActionRecord, Alert, dead_letter

log = logging.getLogger("driftline")

#: backoff after a Kafka error: first wait, and the longest
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
#: how long a batch's outputs may take to be acknowledged, and the last ones when the role stops
#: (told to stop, it does not wait a minute for a broker that is gone)
FLUSH_SECONDS = 60.0
STOP_FLUSH_SECONDS = 10.0


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
    #: for the metrics: alerts by (kind, severity), dead letters by reason, actions by (action, status)
    alert_kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    action_outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)

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
        #: seconds ``flush`` waits for acknowledgements
        self.timeout = FLUSH_SECONDS

    def alert(self, alert: Alert) -> None:
        self._send(self.topics.alerts, alert.to_json(), alert.key, alert.cloudevent_headers())
        self.stats.alerts += 1
        self.stats.alert_kinds[(alert.kind, alert.severity)] += 1

    def dead_letter(self, source_topic: str, reject: Reject) -> None:
        value = dead_letter(reject.error, source_topic, reject.partition, reject.offset, reject.raw)
        self._send(self.topics.deadletter, value, None, [("driftline_reason", reject.error[:200].encode())])
        self.stats.dead_letters += 1
        self.stats.reasons[reject.error.split(":")[0]] += 1
        self.stats.dead_letter_reasons[reject.error.split(":")[0]] += 1

    def action(self, record: ActionRecord) -> None:
        self._send(self.topics.actions, record.to_json(), record.stream.encode(), [])
        self.stats.actions += 1
        self.stats.action_outcomes[(record.action, record.status)] += 1

    def send(self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]],
             timestamp_ms: int | None = None) -> None:
        self._send(topic, value, key, headers, timestamp_ms)

    def _send(self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]],
              timestamp_ms: int | None = None) -> None:
        self._pending.append(self.producer.send(topic, value=value, key=key, headers=headers,
                                                timestamp_ms=timestamp_ms))

    def discard(self) -> None:
        """Forget unacknowledged sends (after an error the batch is produced again)."""
        self._pending = []

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every message sent since the last flush; raises if any failed."""
        timeout = self.timeout if timeout is None else timeout
        self.producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=timeout)


class Role:
    """A consumer service: subclasses name their topics and handle a polled batch."""

    name: RoleName = "monitor"

    def __init__(self, cfg: DriftlineConfig, bootstrap_servers: str, stats: RoleStats | None = None,
                 observer: ObserverFactory | None = None):
        self.cfg = cfg
        self.bootstrap_servers = bootstrap_servers
        self.stats = stats or RoleStats(self.name)
        self.consumer: KafkaConsumer
        self.outbox: Outbox
        self.store: CheckpointStore
        self._healthy = True
        self._caught: CaughtUp | None = None  # its reader's ends, on a connection of its own (``_connect``)
        self._since_checkpoint = 0
        self._checkpointed_at = time.monotonic()
        #: told of every poll and judged batch (metrics, health, snapshots); none by default
        self.observer = observer(self) if observer is not None else NoObserver()

    @property
    def metrics_port(self) -> int | None:
        """The port serving /metrics, /healthz and /readyz (None when metrics are off)."""
        return self.observer.port

    @property
    def group_id(self) -> str:
        return group_id(self.cfg, self.name)

    def topics(self) -> list[str]:
        raise NotImplementedError

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        raise NotImplementedError

    def open(self, stack: ExitStack) -> None:
        """Open extra resources (readers) on ``stack``; the default opens none."""

    def idle(self) -> None:
        """A poll that brought nothing; the default does nothing."""

    def stopping(self) -> None:
        """The role stops (its clients still open): say what others must know; the default says nothing."""

    # -- state: a role with state restores it on assignment and saves it when due --------

    def restore(self, partitions: list[TopicPartition]) -> None:
        """Load the checkpointed state of newly assigned partitions and seek to its offsets."""

    def save_state(self, partitions: list[TopicPartition] | None = None) -> None:
        """Checkpoint the state of ``partitions`` (all assigned ones with None)."""

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop the in-memory state of partitions no longer assigned."""

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """A rebalance takes ``partitions`` away: save their state, then drop it."""
        if not partitions:
            return  # the first join revokes nothing: there is nothing to save or drop
        if self._healthy:
            self.save_state(partitions)
        self.forget(partitions)

    def run(self, stop: threading.Event, ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; then finish the batch in hand, checkpoint, close.

        Kafka errors (a broker gone, a commit refused) do not end the role: it logs them,
        waits with exponential backoff, rewinds to its last checkpoint and goes on.
        """
        with ExitStack() as stack:
            if not self._connect(stack, stop):
                return
            log.info("%s: consuming %s as group %s", self.name, ", ".join(self.topics()), self.group_id)
            if ready:
                ready()
            backoff = RETRY_FIRST_SECONDS
            while not stop.is_set():
                try:
                    if not self._healthy:
                        self.rewind()
                    self.step()
                    backoff = RETRY_FIRST_SECONDS
                except (KafkaError, CheckpointError, OSError) as exc:
                    self._healthy = False
                    self.stats.reasons[f"error: {type(exc).__name__}"] += 1
                    log.error("%s: %s; rewinding to the last checkpoint in %.1f s", self.name, exc, backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_SECONDS)
            if self._healthy:
                self.outbox.timeout = STOP_FLUSH_SECONDS
                try:
                    self.stopping()
                    self.save_state()
                except (KafkaError, CheckpointError, OSError) as exc:
                    log.error("%s: final checkpoint failed (%s); a restart resumes from the previous one",
                              self.name, exc)
            log.info("%s: stopped after %d messages", self.name, self.stats.consumed)

    def step(self) -> None:
        """One poll: handle the batch, commit it, checkpoint when due."""
        records = self.consumer.poll(timeout_ms=self.cfg.kafka.poll_timeout_ms)
        started = time.perf_counter()
        if records:
            self.handle(records)
            self.stats.batches += 1
            self._since_checkpoint += sum(len(m) for m in records.values())
        else:
            self.idle()
        every = self.cfg.checkpoint
        if self._since_checkpoint and (
            self._since_checkpoint >= every.every_events
            or time.monotonic() - self._checkpointed_at >= every.every_seconds
        ):
            self.save_state()
        self.observer.after_poll(records, time.perf_counter() - started)

    def caught_up(self, tp: TopicPartition) -> bool:
        """Whether this role's consumer has read ``tp`` to its end (:class:`.CaughtUp`)."""
        if self._caught is None or self._caught.consumer is not self.consumer:
            self._caught = CaughtUp(self.consumer)
        return self._caught(tp)

    def rewind(self) -> None:
        """After an error: drop unsaved state and resume from the last checkpoint."""
        assigned = list(self.consumer.assignment())
        self.forget(assigned)
        self.outbox.discard()
        self.restore(assigned)
        self._healthy = True

    def checkpointed(self) -> None:
        """Called by ``save_state`` implementations once a checkpoint is durable."""
        self._since_checkpoint = 0
        self._checkpointed_at = time.monotonic()
        self.stats.extra["checkpoints"] = self.stats.extra.get("checkpoints", 0) + 1

    def _connect(self, stack: ExitStack, stop: threading.Event) -> bool:
        """Clients and checkpoint store, retried with backoff while the broker is away."""
        kafka = self.cfg.kafka
        backoff = RETRY_FIRST_SECONDS
        while not stop.is_set():
            inner = ExitStack()
            try:
                producer = make_producer(self.bootstrap_servers, client=kafka.client)
                inner.callback(_quietly, self.name, producer.close, 5)
                self.outbox = Outbox(producer, self.cfg, self.stats)
                self.store = open_store(self.cfg, self.bootstrap_servers)
                inner.callback(_quietly, self.name, self.store.close)
                self.consumer = make_consumer(
                    self.bootstrap_servers,
                    group_id=self.group_id,
                    client=kafka.client,
                    max_poll_records=kafka.max_poll_records,
                    session_timeout_ms=kafka.session_ms(),
                )
                inner.callback(_quietly, self.name, self.consumer.close)
                lister = make_consumer(self.bootstrap_servers, group_id=None, client=kafka.client)
                inner.callback(_quietly, self.name, lister.close)
                self._caught = CaughtUp(self.consumer, lister)
                self.open(inner)
                self.observer.open(inner, producer, self.consumer)
                self.consumer.subscribe(self.topics(), listener=_Listener(self))
            except (KafkaError, CheckpointError) as exc:
                inner.close()
                log.error("%s: cannot reach Kafka at %s (%s); retrying in %.1f s",
                          self.name, self.bootstrap_servers, exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
                continue
            stack.push(inner)
            return True
        return False

    def commit(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Flush outputs (acknowledged), then commit the offsets after each partition's batch.

        Committed offsets say "judged, outputs delivered"; a restart resumes from the last
        checkpoint (at or before them) and produces the same outputs, with the same ids, again.
        """
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
        self.role.restore(list(assigned))


def _quietly(role: str, close: Callable[..., Any], *args: Any) -> None:
    """Close a client; a broker that is gone makes closing fail, which must not fail the role."""
    try:
        close(*args)
    except Exception as exc:  # noqa: BLE001 - closing is best effort, and said so
        log.warning("%s: closing %s failed: %s", role, getattr(close, "__qualname__", close), exc)


def open_store(cfg: DriftlineConfig, bootstrap_servers: str) -> CheckpointStore:
    """The configuration's checkpoint store, signing with ``DRIFTLINE_STATE_KEY`` (required on Kafka)."""
    if cfg.checkpoint.store == "file":
        return FileCheckpointStore(Path(cfg.state_dir) / "checkpoints", key=state_key())
    return KafkaCheckpointStore(bootstrap_servers, cfg.topics.checkpoints, client=cfg.kafka.client)

