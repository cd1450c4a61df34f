"""Create the topics driftline reads and writes, and wait until they are usable."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)

#: Seconds between two attempts while the broker comes up or metadata propagates.
_RETRY_INTERVAL = 0.25
#: Largest replication factor ensure_topics asks for.
_MAX_REPLICATION = 3


def _admin_config(bootstrap_servers: str, client_config: dict[str, Any] | None) -> dict[str, Any]:
    """Keep the keys of ``client_config`` that KafkaAdminClient accepts (it rejects others).

    The configuration's ``kafka.client`` is shared by consumers, producers and the
    admin client, so consumer-only keys such as ``session_timeout_ms`` are dropped here.
    """
    config = {
        key: value
        for key, value in (client_config or {}).items()
        if key in KafkaAdminClient.DEFAULT_CONFIG
    }
    config["bootstrap_servers"] = bootstrap_servers
    return config


def _replication_factor(admin: KafkaAdminClient) -> int:
    brokers = len(admin.describe_cluster()["brokers"])
    return 1 if brokers <= 1 else min(_MAX_REPLICATION, brokers)


def _ready_partitions(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Topic name -> partition count, for the topics whose partitions all have a leader."""
    ready = {}
    for topic in admin.describe_topics(names):
        partitions = topic.get("partitions") or []
        if topic.get("error_code", 0) != 0 or not partitions:
            continue
        if all(p.get("error_code", 0) == 0 and p.get("leader_id", -1) >= 0 for p in partitions):
            ready[topic["name"]] = len(partitions)
    return ready


def _warn_on_partition_mismatch(
    ready: dict[str, int], topics: dict[str, int], warned: set[str]
) -> None:
    for name, count in ready.items():
        if count != topics[name] and name not in warned:
            warned.add(name)
            log.warning(
                "topic %s exists with %d partitions, not the %d configured; keeping it",
                name, count, topics[name],
            )


def _create_missing(
    admin: KafkaAdminClient, topics: dict[str, int], configs: dict[str, dict[str, str]] | None = None
) -> None:
    existing = set(admin.list_topics())
    missing = {name: n for name, n in topics.items() if name not in existing}
    for name in topics.keys() & existing:
        log.debug("topic %s already exists", name)
    if not missing:
        return
    replication = _replication_factor(admin)
    configs = configs or {}
    new_topics = [
        NewTopic(name, partitions, replication, topic_configs=configs.get(name, {}))
        for name, partitions in missing.items()
    ]
    try:
        admin.create_topics(new_topics)
    except TopicAlreadyExistsError:
        pass  # created meanwhile by someone else; the others in the request were created
    log.info("created topics %s (replication factor %d)", sorted(missing), replication)


def ensure_topics(
    bootstrap_servers: str,
    topics: dict[str, int],
    *,
    client_config: dict[str, Any] | None = None,
    configs: dict[str, dict[str, str]] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create every missing topic in ``topics`` (name -> partitions) and wait until usable.

    Missing topics get the given partition count and a replication factor of 1 on a
    one-broker cluster, else ``min(3, brokers)``. Existing topics are kept as they
    are (a warning is logged when their partition count differs). Errors while the
    broker is still coming up (retriable ``KafkaError``s) are retried until
    ``timeout`` seconds have passed, then ``TimeoutError`` is raised naming the
    pending topics and the last error; other ``KafkaError``s are raised at once.

    ``client_config`` is passed through to kafka-python (security_protocol, sasl_*,
    ssl_*); keys the admin client does not know are ignored. ``configs`` gives topic
    configurations (e.g. ``cleanup.policy: compact``) for the topics it creates.
    """
    for name, partitions in topics.items():
        if not name or not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"topic {name!r}: partitions must be a positive integer, got {partitions!r}")
    if not topics:
        return
    deadline = time.monotonic() + timeout
    config = _admin_config(bootstrap_servers, client_config)
    admin: KafkaAdminClient | None = None
    warned: set[str] = set()
    last_error: Exception | None = None
    try:
        while True:
            remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1000)
            try:
                if admin is None:
                    admin = KafkaAdminClient(**{"bootstrap_timeout_ms": remaining_ms, **config})
                _create_missing(admin, topics, configs)
                ready = _ready_partitions(admin, list(topics))
                _warn_on_partition_mismatch(ready, topics, warned)
                if ready.keys() >= topics.keys():
                    return
                last_error = None
                pending = sorted(topics.keys() - ready.keys())
            except KafkaError as exc:
                if not exc.retriable:
                    raise  # e.g. authorization or invalid configuration: retrying will not help
                last_error = exc  # e.g. the broker is still starting
                pending = sorted(topics)
                log.debug("ensure_topics: %s; retrying", exc)
            if time.monotonic() >= deadline:
                message = f"topics {pending} on {bootstrap_servers} not ready within {timeout:g} s"
                if last_error is not None:
                    raise TimeoutError(f"{message}: {last_error}") from last_error
                raise TimeoutError(message)
            time.sleep(_RETRY_INTERVAL)
    finally:
        if admin is not None:
            admin.close()
