"""Shared fixtures: one Kafka-protocol broker per test session, and topics on it.

Which broker the session uses, in order of preference:

1. ``DRIFTLINE_TEST_BOOTSTRAP=host:port[,host:port]``: that cluster, left running.
   ``DRIFTLINE_TEST_BOOTSTRAP=embedded`` forces the embedded broker even where Docker runs.
2. A Docker engine that answers: Apache Kafka (KRaft) in a testcontainers container.
3. Otherwise: the embedded Tansu broker (``driftline.stream.kafka.broker.EmbeddedBroker``).

The choice is shown in pytest's header line ``driftline broker: ...``. Nothing here
skips a test: if the chosen broker cannot start, the tests that need it error.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.topics import ensure_topics

BOOTSTRAP_ENV = "DRIFTLINE_TEST_BOOTSTRAP"

#: checkpoints on Kafka are signed: the tests' roles, in process and as child processes, share one key
os.environ.setdefault("DRIFTLINE_STATE_KEY", "driftline-tests-" + uuid.uuid4().hex)
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"  # testcontainers' KRaft-capable default

#: Consumer settings for tests. A group join waits for the rebalance delay, and
#: Tansu's is about half of ``session_timeout_ms``: Kafka's default (45 s) would
#: make every consumer-group test wait ~22 s, 6 s keeps it at ~3 s.
TEST_CLIENT_CONFIG = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def _docker_answers() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, permission denied, engine down: all mean "no Docker"
        return False


@functools.cache
def _broker_choice() -> str:
    """``"env"``, ``"docker"`` or ``"embedded"``, decided once per session."""
    value = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if value.lower() == "embedded":
        return "embedded"
    if value:
        return "env"
    return "docker" if _docker_answers() else "embedded"


def pytest_report_header(config: pytest.Config) -> str:
    choice = _broker_choice()
    if choice == "env":
        return f"driftline broker: {os.environ[BOOTSTRAP_ENV]} (from ${BOOTSTRAP_ENV})"
    if choice == "docker":
        return f"driftline broker: Apache Kafka (KRaft) in Docker via testcontainers, {KAFKA_IMAGE}"
    return "driftline broker: embedded Tansu (no Docker engine answered, no $DRIFTLINE_TEST_BOOTSTRAP)"


def _kafka_container() -> object:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers < 4.10
        from testcontainers.kafka import KafkaContainer
    return KafkaContainer(KAFKA_IMAGE).with_kraft()


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the session's broker (see the module docstring for which one)."""
    choice = _broker_choice()
    if choice == "env":
        yield os.environ[BOOTSTRAP_ENV].strip()
    elif choice == "docker":
        with _kafka_container() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
        with EmbeddedBroker(log_path=str(log_path)) as broker:
            yield broker.bootstrap_servers


@pytest.fixture
def kafka_client_config() -> dict[str, int]:
    """Short consumer-group timeouts for tests (see ``TEST_CLIENT_CONFIG``).

    Pass to ``KafkaConsumer(**kafka_client_config)`` or as a configuration's
    ``kafka.client``; a fresh copy per test, so a test may change it.
    """
    return dict(TEST_CLIENT_CONFIG)


@pytest.fixture
def topic_factory(bootstrap_servers: str) -> Callable[..., str]:
    """``make(name_hint, partitions=1) -> name``: creates a fresh, uniquely named topic."""

    def make(name_hint: str, partitions: int = 1) -> str:
        name = f"{name_hint}-{uuid.uuid4().hex[:12]}"
        ensure_topics(bootstrap_servers, {name: partitions})
        return name

    return make
