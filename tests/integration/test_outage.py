"""Broker outages: absent at start, unreachable mid-run and back, and killed.

The embedded broker keeps topics in memory only, so the outage cuts the connection instead of
the broker: a TCP proxy stands in front of it and the broker advertises the proxy's address.
"""

from __future__ import annotations

import logging
import time
import uuid

import orjson
import pytest
from roles_support import committed, frontier, produce, run_roles, wait_for
from tcp_proxy import TcpProxy, _free_port

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.consumers.roles.loop import group_id
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import topic_configs, topic_partitions
from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.records import read_topic
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.messages import Alert
from driftline.stream.synthetic import FEATURES, Drift, generate

pytestmark = pytest.mark.integration

N = 16000
DRIFTS = [Drift("income mean shift", "data_drift", "income", 5000, "x1.5"),
          Drift("country mix shift", "data_drift", "country", 11000, "mix")]


@pytest.fixture
def proxied_broker(tmp_path):
    broker_port = _free_port()
    proxy = TcpProxy(broker_port).start()
    broker = EmbeddedBroker(f"127.0.0.1:{broker_port}", advertised=f"127.0.0.1:{proxy.port}",
                            log_path=str(tmp_path / "broker.log"))
    broker.start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


def _config(bootstrap: str) -> DriftlineConfig:
    suffix = uuid.uuid4().hex[:8]  # every test its own topics and groups: nothing read from another's
    topics = {k: f"{k}-{suffix}" for k in ("events", "labels", "alerts", "quarantine", "deadletter", "actions",
                                            "models", "checkpoints", "codes", "progress")}
    cfg = DriftlineConfig.model_validate({
        "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000, "poll_timeout_ms": 100,
                  "max_poll_records": 500, "group_prefix": f"o{suffix}"},
        "topics": topics,
        "stream": {"name": "outage", "features": FEATURES, "idle_partition_ms": 300},
        "reference": {"first_n": 2000},
        "checkpoint": {"every_seconds": 0.5, "every_events": 2000},
    })
    ensure_topics(bootstrap, topic_partitions(cfg), configs=topic_configs(cfg))
    return cfg


def test_absent_then_cut_mid_run_then_back_loses_nothing(proxied_broker, tmp_path, caplog) -> None:
    broker, proxy = proxied_broker
    bootstrap = f"127.0.0.1:{proxy.port}"
    cfg = _config(bootstrap)
    events = list(generate(N, DRIFTS, seed=17))
    produce(bootstrap, cfg.topics.events, events)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))

    caplog.set_level(logging.INFO, logger="driftline")
    proxy.stop()  # the broker is unreachable when the monitor starts
    runner = RoleRunner(cfg, bootstrap, ["monitor"]).start(wait_ready=0)
    time.sleep(3)
    assert runner.alive() and not runner.errors
    proxy.start()
    group = group_id(cfg, "monitor")
    try:
        wait_for(lambda: committed(bootstrap, group, cfg.topics.events) >= N // 3, timeout=90,
                 what="the monitor to start once the broker is reachable")
        proxy.stop()  # cut mid-run
        time.sleep(4)
        assert runner.alive() and not runner.errors
        proxy.start()
        wait_for(lambda: committed(bootstrap, group, cfg.topics.events) >= N, timeout=120,
                 what="the monitor to resume and finish after the outage")
        wait_for(lambda: frontier(bootstrap, cfg) > events[-1]["ts"], timeout=60, what="the stream judged")
    finally:
        runner.shutdown()
    assert not runner.errors
    live = {Alert.from_json(m.value).alert_id for m in read_topic(bootstrap, cfg.topics.alerts)}
    assert live == {a.alert_id for a in backtest(cfg, path).alerts}


def test_a_killed_broker_gives_a_clear_error_and_no_crash_loop(proxied_broker, caplog) -> None:
    broker, proxy = proxied_broker
    bootstrap = f"127.0.0.1:{proxy.port}"
    cfg = _config(bootstrap)
    produce(bootstrap, cfg.topics.events, list(generate(3000, [], seed=1)))
    caplog.set_level(logging.INFO, logger="driftline")
    runner = run_roles(cfg, bootstrap, ["monitor"])
    wait_for(lambda: runner.stats["monitor"].consumed >= 3000, timeout=60, what="the monitor to read")
    broker.stop()
    time.sleep(6)
    assert runner.alive() and not runner.errors, "a lost broker must not end the role"
    started = time.monotonic()
    runner.shutdown(timeout=90)
    assert not runner.alive(), "the role must stop when told, broker or not"
    assert time.monotonic() - started < 90
    assert "rewinding" in caplog.text or "cannot reach" in caplog.text or runner.stats["monitor"].reasons


def test_an_error_mid_batch_rewinds_to_the_last_checkpoint_and_loses_nothing(bootstrap_servers, tmp_path) -> None:
    """A produce that fails after part of a batch went out: the role rewinds and redoes it."""
    from kafka.errors import KafkaTimeoutError
    from roles_support import fresh_config

    cfg = fresh_config(bootstrap_servers)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["kafka"]["max_poll_records"] = 500
    data["checkpoint"] = {"store": "kafka", "every_seconds": 60, "every_events": 3000}
    cfg = type(cfg).model_validate(data)
    events = list(generate(N, DRIFTS, seed=23))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    produce(bootstrap_servers, cfg.topics.events, events)

    runner = RoleRunner(cfg, bootstrap_servers, ["monitor"])
    role = runner.roles[0]
    calls = {"n": 0}
    original = type(role).commit

    def failing_commit(self, records):  # the 3rd and the 20th batch fail after producing
        calls["n"] += 1
        if calls["n"] in (3, 20):
            raise KafkaTimeoutError("injected: the broker did not acknowledge in time")
        return original(self, records)

    role.commit = failing_commit.__get__(role)
    runner.start()
    try:
        wait_for(lambda: committed(bootstrap_servers, group_id(cfg, "monitor"), cfg.topics.events) >= N,
                 timeout=90, what="the monitor to finish despite two failed batches")
        wait_for(lambda: frontier(bootstrap_servers, cfg) > events[-1]["ts"], timeout=60, what="the stream judged")
    finally:
        runner.shutdown()
    assert not runner.errors
    assert role.stats.reasons["error: KafkaTimeoutError"] == 2
    live = {(a.alert_id, a.detector, a.severity, a.position.offset)
            for a in (Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts))}
    assert live == {(a.alert_id, a.detector, a.severity, a.position.offset)
                    for a in backtest(cfg, path).alerts if a.kind != "concept_drift"}
