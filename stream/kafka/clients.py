"""kafka-python clients as driftline uses them: one place that sets their options.

Consumers never auto-commit (the services commit after their outputs are acknowledged) and
fetch large batches; producers wait for every in-sync replica (``acks=all``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

#: fetch sizes: kafka-python reads several times faster with large fetches
FETCH_MAX_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 16 * 1024 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: how long a look-up of a topic's end (for reading it whole) may take
READ_TIMEOUT_MS = 10_000


def make_consumer(
    bootstrap_servers: str,
    *,
    group_id: str | None,
    topics: Iterable[str] = (),
    client: dict[str, Any] | None = None,
    max_poll_records: int = 5000,
    session_timeout_ms: int = 10000,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> KafkaConsumer:
    options: dict[str, Any] = dict(
        bootstrap_servers=bootstrap_servers.split(","),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        max_poll_records=max_poll_records,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(100, session_timeout_ms // 6),
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
        client_id=f"driftline-{group_id or 'reader'}",
    )
    options.update(client_config_for("consumer", client or {}))  # kafka.client is shared by every client
    options.update(overrides)
    consumer = KafkaConsumer(**options)
    topics = list(topics)
    if topics:
        consumer.subscribe(topics)
    return consumer


def make_producer(bootstrap_servers: str, *, client: dict[str, Any] | None = None, **overrides: Any) -> KafkaProducer:
    options: dict[str, Any] = dict(
        bootstrap_servers=bootstrap_servers.split(","),
        acks="all",
        linger_ms=5,
        retries=5,
        max_request_size=MAX_MESSAGE_BYTES,
        # a send blocks at most this long for metadata or buffer space, then raises: a role
        # whose broker is gone gets an error it can act on instead of hanging
        max_block_ms=10_000,
        client_id="driftline-producer",
    )
    options.update(client_config_for("producer", client or {}))  # kafka.client is shared by every client
    options.update(overrides)
    return KafkaProducer(**options)


def client_config_for(kind: str, client: dict[str, Any]) -> dict[str, Any]:
    """The pass-through keys a client of ``kind`` (consumer, producer, admin) accepts."""
    cls = {"consumer": KafkaConsumer, "producer": KafkaProducer}.get(kind)
    if cls is None:
        from kafka import KafkaAdminClient

        cls = KafkaAdminClient
    return {k: v for k, v in client.items() if k in cls.DEFAULT_CONFIG}
