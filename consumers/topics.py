"""driftline's topics for one configuration: creating them, connecting, reading them back.

The one place that knows, for a :class:`~driftline.consumers.config.model.DriftlineConfig`,
which topics exist with how many partitions, and the one reader of each topic of driftline's
own records for the configured stream (alerts, action records, quarantined copies). Reading
goes through :mod:`driftline.stream.kafka.records`, which reads every topic to its true end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka.errors import KafkaError

from driftline.consumers.config.model import DriftlineConfig
from driftline.stream.errors import BrokerError
from driftline.stream.kafka.broker import resolve_bootstrap
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.reach import find_broker, reader_client
from driftline.stream.kafka.records import Records, read_records, read_topic
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.messages import PROVENANCE_HEADERS, ActionRecord, Alert


def topic_partitions(cfg: DriftlineConfig) -> dict[str, int]:
    """Every topic driftline reads or writes, with the partitions to create it with."""
    t = cfg.topics
    n = cfg.kafka.partitions
    return {
        t.events: n, t.labels: n, t.alerts: 1, t.quarantine: n, t.deadletter: 1, t.actions: 1, t.models: 1,
        t.checkpoints: 1, t.codes: 1, t.progress: 1,
    }


def topic_configs(cfg: DriftlineConfig) -> dict[str, dict[str, str]]:
    """Checkpoints are compacted (the latest per key is all that counts) and may be large."""
    return {
        cfg.topics.checkpoints: {"cleanup.policy": "compact", "max.message.bytes": str(64 * 1024 * 1024)},
        cfg.topics.codes: {"max.message.bytes": str(64 * 1024 * 1024)},
        cfg.topics.progress: {"cleanup.policy": "compact"},
    }


@contextmanager
def connected(cfg: DriftlineConfig) -> Iterator[str]:
    """The bootstrap address to use (starting an embedded broker if asked), topics created."""
    with resolve_bootstrap(cfg.kafka.bootstrap_servers, cfg.kafka.embedded_address) as bootstrap:
        try:
            ensure_topics(bootstrap, topic_partitions(cfg), client_config=cfg.kafka.client, configs=topic_configs(cfg))
        except KafkaError as exc:
            raise BrokerError(f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}: {exc})",
                              hint="check kafka.bootstrap_servers, that the brokers answer there, and kafka.client's "
                                   "security settings") from exc
        yield bootstrap


def for_reading(cfg: DriftlineConfig) -> DriftlineConfig:
    """The configuration as a command that looks at the live system uses it: clients that give
    up in seconds and never auto-create a topic (see :mod:`driftline.stream.kafka.reach`)."""
    kafka = cfg.kafka.model_copy(update={"client": reader_client(cfg.kafka.client)})
    return cfg.model_copy(update={"kafka": kafka})


@contextmanager
def reading(cfg: DriftlineConfig) -> Iterator[str]:
    """The running system's broker, for commands that only look at it (and ``quarantine
    release|purge``, which add a record): no broker started, no topic created. Give it a
    configuration from :func:`for_reading`. A broker that cannot be reached, or that stops
    answering, is a BrokerError in one line."""
    bootstrap = find_broker(cfg.kafka.bootstrap_servers, cfg.kafka.embedded_address, cfg.kafka.client)
    try:
        yield bootstrap
    except KafkaError as exc:
        raise BrokerError(f"Kafka at {bootstrap} did not answer ({type(exc).__name__}: {exc})",
                          hint="check that the brokers run, and kafka.client's security settings") from exc


def require_topic(cfg: DriftlineConfig, bootstrap: str, topic: str, made_by: str = "`driftline run`") -> None:
    """BrokerError unless ``topic`` exists (it is never created here)."""
    consumer = make_consumer(bootstrap, group_id=None, client=cfg.kafka.client)
    try:
        exists = topic in consumer.topics()
    finally:
        consumer.close()
    if not exists:
        raise BrokerError(f"the topic {topic!r} does not exist on {bootstrap}",
                          hint=f"it is created by {made_by}; check topics.* and kafka.bootstrap_servers")


def read_actions(cfg: DriftlineConfig, bootstrap: str) -> Records[ActionRecord]:
    """The stream's records on ``driftline-actions``, in order."""
    return read_records(bootstrap, cfg.topics.actions, ActionRecord, stream=cfg.stream.name, client=cfg.kafka.client)


def read_alerts(cfg: DriftlineConfig, bootstrap: str) -> Records[Alert]:
    """The stream's alerts on ``drift-alerts``, in order."""
    return read_records(bootstrap, cfg.topics.alerts, Alert, stream=cfg.stream.name, client=cfg.kafka.client)


@dataclass(frozen=True)
class HeldMessage:
    """An event a quarantine holds, as its message came: copied to the quarantine topic with
    its key, its record time and its own headers (beside the provenance headers)."""

    partition: int
    offset: int
    value: bytes | None
    key: bytes | None
    timestamp: int | None
    headers: list[tuple[str, bytes]]


def held_events(cfg: DriftlineConfig, bootstrap: str) -> dict[str, list[HeldMessage]]:
    """The events each quarantine (by alert id) has held so far, from the copies on the
    quarantine topic and their provenance headers."""
    out: dict[str, list[HeldMessage]] = {}
    for m in read_topic(bootstrap, cfg.topics.quarantine, client=cfg.kafka.client):
        own = [(k, v) for k, v in (m.headers or []) if k not in PROVENANCE_HEADERS]
        h = {k: v.decode() for k, v in (m.headers or []) if k in PROVENANCE_HEADERS}
        if "driftline_alert_id" in h:
            out.setdefault(h["driftline_alert_id"], []).append(HeldMessage(
                int(h["driftline_source_partition"]), int(h["driftline_source_offset"]), m.value, m.key,
                m.timestamp, own))
    return out
