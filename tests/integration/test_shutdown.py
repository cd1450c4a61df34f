"""SIGTERM and SIGINT: finish the batch, checkpoint, commit, leave the group, exit 0 quickly."""

from __future__ import annotations

import signal
import time

import orjson
import pytest
from roles_support import RoleProcess, committed, fresh_config, frontier, produce, wait_for, write_config

from driftline.consumers.core.backtest import backtest
from driftline.consumers.roles.loop import group_id
from driftline.stream.checkpoint import KafkaCheckpointStore
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

N = 30000


def test_sigterm_then_sigint_shut_down_cleanly_and_lose_nothing(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(bootstrap_servers)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["kafka"]["max_poll_records"] = 500
    data["checkpoint"] = {"store": "kafka", "every_seconds": 60, "every_events": 10**9}  # only at shutdown
    cfg = type(cfg).model_validate(data)
    config_path = write_config(cfg, tmp_path / "driftline.yaml")
    events = list(generate(N, [Drift("income mean shift", "data_drift", "income", 20000, "x1.5")], seed=6))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    produce(bootstrap_servers, cfg.topics.events, events)
    group = group_id(cfg, "monitor")

    proc = RoleProcess(config_path, "monitor", tmp_path / "monitor.log")
    wait_for(lambda: committed(bootstrap_servers, group, cfg.topics.events) >= 5000, timeout=60, what="progress")
    started = time.monotonic()
    code = proc.terminate()  # SIGTERM
    took = time.monotonic() - started
    assert code == 0, (tmp_path / "monitor.log").read_text()[-2000:]
    assert took < 10, f"SIGTERM took {took:.1f} s"
    stopped_at = committed(bootstrap_servers, group, cfg.topics.events)
    store = KafkaCheckpointStore(bootstrap_servers, cfg.topics.checkpoints)
    try:
        cp = store.load(f"{group}/{cfg.topics.events}/0")
    finally:
        store.close()
    assert cp is not None and cp.offset(cfg.topics.events, 0) == stopped_at < N  # saved with what it committed

    proc = RoleProcess(config_path, "monitor", tmp_path / "monitor.log")
    wait_for(lambda: committed(bootstrap_servers, group, cfg.topics.events) >= N, timeout=60, what="the rest")
    wait_for(lambda: frontier(bootstrap_servers, cfg) > events[-1]["ts"], timeout=60, what="the stream judged")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(10) == 0
    proc.log.close()
    live = {Alert.from_json(m.value).alert_id for m in read_topic(bootstrap_servers, cfg.topics.alerts)}
    expected = {a.alert_id for a in backtest(cfg, path).alerts if a.kind != "concept_drift"}  # the learner's
    assert live == expected
