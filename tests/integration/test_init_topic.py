"""``driftline init --topic`` on the real broker: the demo's events sampled, a configuration that validates;
JSON Schema messages in the Confluent wire format read with a registry (a local HTTP stand-in), and
the configuration written for them reads the topic live as a backtest reads the messages' bodies."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from avro_support import Registry
from roles_support import fresh_config, judged_all, produce, run_until

from driftline.consumers.cli.main import main
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import load_config
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.shape import json_schema
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


#: the demo's events as a JSON Schema describes them
EVENT_SCHEMA = {"type": "object", "required": ["id", "ts", "features"],
                "properties": {"id": {"type": "string"}, "ts": {"type": "integer"}, "features": {"type": "object"},
                               "prediction": {"enum": [0, 1]}, "label": {"enum": [0, 1, None]}}}


def comparable(alerts: list[Alert]) -> list[dict]:
    return sorted((a.model_dump(exclude={"detected_at"}) for a in alerts if a.kind != "concept_drift"),
                  key=lambda d: d["alert_id"])


def test_init_reads_json_schema_messages_with_a_registry(bootstrap_servers: str, topic_factory, tmp_path: Path,
                                                         capsys) -> None:
    n = 40_000
    topic = topic_factory("init-json-schema")
    events = list(generate(n, default_drifts(n)))
    produce(bootstrap_servers, topic, [json_schema.encode(7, e) for e in events])
    out = tmp_path / "driftline.yaml"
    registry = Registry({7: EVENT_SCHEMA}, types={7: "JSON"})
    try:
        assert main(["init", "--topic", topic, "--bootstrap-servers", bootstrap_servers, "--registry", registry.url,
                     "--output", str(out)]) == 0
        assert "sampled 5000 messages" in capsys.readouterr().err
        assert main(["validate", str(out)]) == 0
        cfg = load_config(out)
        assert cfg.stream.format == "json_schema" and cfg.stream.json_schema.registry.url == registry.url
        file = tmp_path / "events.jsonl"  # the messages' bodies
        file.write_bytes(b"\n".join(map(orjson.dumps, events)) + b"\n")
        offline = backtest(cfg, file, io.BytesIO())
        drifts = {(a.kind, a.feature) for a in offline.alerts if a.severity == "drift"}
        assert {("data_drift", "income"), ("data_drift", "country"), ("concept_drift", None)} <= drifts
        assert len(offline.rejects) == 0
        # the written configuration read live: the same topic, the alerts and the rest on topics of their own
        fresh = fresh_config(bootstrap_servers)
        live_cfg = cfg.model_copy(update={"topics": fresh.topics.model_copy(update={"events": topic}),
                                          "kafka": fresh.kafka, "state_dir": fresh.state_dir})
        runner = run_until(live_cfg, bootstrap_servers, ["monitor"], lambda r: judged_all(r, n),
                           "the monitor to read and the judge to judge every event", timeout=240)
    finally:
        registry.close()
    assert runner.stats["monitor"].dead_letters == 0
    live = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, live_cfg.topics.alerts)]
    assert comparable(live) == comparable(offline.alerts)
    assert any(a.feature == "income" and a.severity == "drift" for a in live)
