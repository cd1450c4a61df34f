"""``driftline init --topic`` on the real broker: the demo's events sampled, a configuration that validates."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from roles_support import produce

from driftline.consumers.cli.main import main
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import load_config
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.synthetic import default_drifts, generate

pytestmark = pytest.mark.integration


def test_init_samples_a_topic(bootstrap_servers: str, topic_factory, tmp_path: Path, capsys) -> None:
    n = 40_000
    topic = topic_factory("init")
    events = [orjson.dumps(e) for e in generate(n, default_drifts(n))]
    produce(bootstrap_servers, topic, events)
    out = tmp_path / "driftline.yaml"
    assert main(["init", "--topic", topic, "--bootstrap-servers", bootstrap_servers, "--output", str(out)]) == 0
    assert "sampled 5000 messages" in capsys.readouterr().err
    cfg = load_config(out)
    assert cfg.topics.events == topic and cfg.kafka.bootstrap_servers == bootstrap_servers
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(events) + b"\n")
    drifts = {(a.kind, a.feature) for a in backtest(cfg, file, io.BytesIO()).alerts if a.severity == "drift"}
    assert {("data_drift", "income"), ("data_drift", "country"), ("concept_drift", None)} <= drifts


def test_init_on_a_missing_topic_says_so(bootstrap_servers: str, capsys) -> None:
    assert main(["init", "--topic", "no-such-topic-here", "--bootstrap-servers", bootstrap_servers]) == 1
    assert "does not exist" in capsys.readouterr().err
    consumer = make_consumer(bootstrap_servers, group_id=None)
    try:
        assert "no-such-topic-here" not in consumer.topics()  # looked at, never created
    finally:
        consumer.close()
