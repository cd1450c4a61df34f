"""The embedded Tansu broker, ``resolve_bootstrap`` and ``ensure_topics`` against a real broker.

These tests start their own brokers (whatever broker the session fixture chose),
since what they test is the embedded broker itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from driftline.stream.kafka import broker as broker_module
from driftline.stream.kafka.broker import (
    BrokerError,
    EmbeddedBroker,
    broker_answers,
    resolve_bootstrap,
    run_broker_foreground,
)
from driftline.stream.kafka.topics import ensure_topics

pytestmark = pytest.mark.integration

#: Seconds a process may take to disappear after it was told to stop.
EXIT_DEADLINE = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (Linux /proc; signal 0 elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, deadline: float = EXIT_DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not _process_alive(pid):
            return True
        time.sleep(0.05)
    return not _process_alive(pid)


def _wait_answers(address: str, deadline: float = 20.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if broker_answers(address, timeout=0.5):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("embedded") / "tansu.log"
    with EmbeddedBroker(log_path=str(log_path)) as broker:
        yield broker


# -- EmbeddedBroker --------------------------------------------------------------


def test_embedded_broker_answers_on_a_chosen_loopback_port(embedded_broker: EmbeddedBroker) -> None:
    host, port = embedded_broker.bootstrap_servers.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert embedded_broker.running
    assert broker_answers(embedded_broker.bootstrap_servers)


def test_topics_produce_consume_and_commit_round_trip(
    embedded_broker: EmbeddedBroker, kafka_client_config: dict[str, int]
) -> None:
    servers = embedded_broker.bootstrap_servers
    ensure_topics(servers, {"round-trip": 3})
    ensure_topics(servers, {"round-trip": 3})  # idempotent

    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        (described,) = admin.describe_topics(["round-trip"])
        assert len(described["partitions"]) == 3

        producer = KafkaProducer(bootstrap_servers=servers)
        producer.send("round-trip", key=b"k", value=b'{"id": "evt-1"}', partition=2).get(timeout=10)
        producer.close()

        consumer = KafkaConsumer(
            "round-trip",
            bootstrap_servers=servers,
            group_id="round-trip-group",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **kafka_client_config,
        )
        records = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [(r.partition, r.offset, r.value) for r in records] == [(2, 0, b'{"id": "evt-1"}')]
        consumer.commit()
        consumer.close()

        offsets = admin.list_group_offsets("round-trip-group")["round-trip-group"]
        assert offsets[TopicPartition("round-trip", 2)].offset == 1
    finally:
        admin.close()


def test_stop_frees_the_port_and_ends_the_process() -> None:
    broker = EmbeddedBroker().start()
    address, pid = broker.bootstrap_servers, broker.pid
    assert pid is not None and broker_answers(address)

    broker.stop()
    broker.stop()  # idempotent

    assert not broker.running and broker.pid is None
    assert not broker_answers(address)
    assert _wait_gone(pid)
    with pytest.raises(BrokerError, match="not started"):
        _ = broker.bootstrap_servers


def test_start_raises_broker_error_with_log_tail_when_the_port_is_taken(tmp_path: Path) -> None:
    log_path = tmp_path / "tansu.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(f"127.0.0.1:{port}", startup_timeout=10, log_path=str(log_path))
        started = time.monotonic()
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port}") as raised:
            broker.start()
    assert time.monotonic() - started < 10, "a broker that cannot bind should fail fast"
    assert str(log_path) in str(raised.value)
    assert not broker.running


def test_broker_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from driftline.stream.kafka.broker import EmbeddedBroker
        broker = EmbeddedBroker().start()
        print(broker.pid, broker.bootstrap_servers, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid_text, address = parent.stdout.readline().split()
        assert broker_answers(address)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    assert _wait_gone(int(pid_text)), "the broker outlived its SIGKILLed parent"
    assert not broker_answers(address)


# -- broker_answers -----------------------------------------------------------------


def test_broker_answers_is_false_and_fast_on_a_closed_port() -> None:
    started = time.monotonic()
    assert broker_answers(f"127.0.0.1:{_free_port()}", timeout=1.0) is False
    assert time.monotonic() - started < 1.0


def test_broker_answers_is_false_within_timeout_when_the_peer_is_silent() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        assert broker_answers(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.5) is False
        assert time.monotonic() - started < 1.5


def test_broker_answers_is_false_for_a_malformed_address() -> None:
    assert broker_answers("no-port-here") is False


# -- resolve_bootstrap --------------------------------------------------------------


def test_resolve_bootstrap_passes_a_cluster_address_through() -> None:
    with resolve_bootstrap("kafka-1:9092,kafka-2:9092") as servers:
        assert servers == "kafka-1:9092,kafka-2:9092"


def test_resolve_bootstrap_reuses_a_running_broker(
    embedded_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_second_broker(self: EmbeddedBroker) -> EmbeddedBroker:
        raise AssertionError("resolve_bootstrap started a second broker")

    monkeypatch.setattr(EmbeddedBroker, "start", no_second_broker)
    with resolve_bootstrap("embedded", embedded_address=embedded_broker.bootstrap_servers) as servers:
        assert servers == embedded_broker.bootstrap_servers
    assert broker_answers(embedded_broker.bootstrap_servers), "the shared broker must stay up"


class _RecordingBroker(EmbeddedBroker):
    """An EmbeddedBroker that remembers the instances resolve_bootstrap creates."""

    created: list[EmbeddedBroker] = []

    def start(self) -> EmbeddedBroker:
        type(self).created.append(self)
        return super().start()


@pytest.fixture
def recording_broker(monkeypatch: pytest.MonkeyPatch) -> type[_RecordingBroker]:
    _RecordingBroker.created = []
    monkeypatch.setattr(broker_module, "EmbeddedBroker", _RecordingBroker)
    return _RecordingBroker


def test_resolve_bootstrap_starts_and_stops_a_private_broker(
    recording_broker: type[_RecordingBroker],
) -> None:
    unused = f"127.0.0.1:{_free_port()}"
    with resolve_bootstrap("embedded", embedded_address=unused) as servers:
        assert servers != unused
        assert broker_answers(servers)
        (private,) = recording_broker.created
        pid = private.pid
    assert pid is not None and _wait_gone(pid)
    assert not broker_answers(servers)


def test_resolve_bootstrap_stops_the_private_broker_when_the_body_raises(
    recording_broker: type[_RecordingBroker],
) -> None:
    unused = f"127.0.0.1:{_free_port()}"
    with pytest.raises(RuntimeError, match="boom"):
        with resolve_bootstrap("embedded", embedded_address=unused) as servers:
            pid = recording_broker.created[0].pid
            raise RuntimeError("boom")
    assert pid is not None and _wait_gone(pid)
    assert not broker_answers(servers)


# -- run_broker_foreground ----------------------------------------------------------


def test_foreground_broker_exits_zero_on_sigterm() -> None:
    address = f"127.0.0.1:{_free_port()}"
    code = (
        "import sys; from driftline.stream.kafka.broker import run_broker_foreground; "
        f"sys.exit(run_broker_foreground({address!r}))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        banner = process.stdout.readline()
        assert address in banner and "SIGTERM" in banner
        assert _wait_answers(address)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=EXIT_DEADLINE) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert not broker_answers(address)


def test_foreground_broker_refuses_an_address_in_use(
    embedded_broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_broker_foreground(embedded_broker.bootstrap_servers) == 1
    error = capsys.readouterr().err
    assert "already in use" in error and embedded_broker.bootstrap_servers in error


# -- the session fixtures (conftest.py) ------------------------------------------


def test_topic_factory_creates_unique_topics_on_the_session_broker(
    bootstrap_servers: str, topic_factory
) -> None:
    first, second = topic_factory("factory", partitions=3), topic_factory("factory")
    assert first != second and first.startswith("factory-")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([first, second])}
    finally:
        admin.close()
    assert described == {first: 3, second: 1}
