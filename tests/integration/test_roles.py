"""The consumer roles against a real Kafka-protocol broker."""

from __future__ import annotations

import io

import orjson
import pytest
from roles_support import fresh_config, learned_all, monitor_all, produce, run_roles, wait_for

from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import ActionRecord, Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

SHIFT = [Drift("income mean shift", "data_drift", "income", 6000, "x1.5")]


def _alerts(bootstrap: str, topic: str) -> list[Alert]:
    return [Alert.from_json(m.value) for m in read_topic(bootstrap, topic)]


def test_known_shift_alerts_and_bad_messages_go_to_dead_letter(bootstrap_servers: str) -> None:
    cfg = fresh_config(bootstrap_servers)
    events = list(generate(12000, SHIFT, seed=3))
    values: list[bytes] = [orjson.dumps(e) for e in events]
    bad = [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"id": "x", "ts": 1, "features": {"income": "high"}}']
    for i, raw in enumerate(bad):
        values.insert(3000 + i * 1000, raw)
    runner = monitor_all(cfg, bootstrap_servers, values)

    alerts = _alerts(bootstrap_servers, cfg.topics.alerts)
    income = [a for a in alerts if a.detector == "ks-income" and a.severity == "drift"]
    assert len(income) == 1, income
    assert income[0].kind == "data_drift" and income[0].p_value < income[0].threshold
    assert 6000 + len(bad) <= income[0].position.offset < 6000 + len(bad) + 2000
    # the alert on the wire is a CloudEvent in binary mode, keyed by stream/feature
    wire = [m for m in read_topic(bootstrap_servers, cfg.topics.alerts) if m.value and b'"income"' in m.value]
    headers = dict(wire[0].headers)
    assert headers["ce_specversion"] == b"1.0" and headers["ce_type"] == b"io.driftline.alert.data_drift"
    assert wire[0].key == b"test/income"

    dead = [orjson.loads(m.value) for m in read_topic(bootstrap_servers, cfg.topics.deadletter)]
    assert len(dead) == len(bad)
    assert sorted(d["source"]["offset"] for d in dead) == [3000 + i * 1000 for i in range(len(bad))]
    assert any("JSON" in d["error"] for d in dead) and any("numeric" in d["error"] for d in dead)
    assert runner.stats["monitor"].dead_letters == len(bad)


def test_quarantine_holds_events_out_of_training(bootstrap_servers: str) -> None:
    cfg = fresh_config(
        bootstrap_servers,
        policies=[{"when": {"kind": "data_drift", "severity": "drift", "feature": "income"}, "do": ["quarantine"]}],
    )
    events = list(generate(10000, SHIFT, seed=5))
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: learned_all(runner, len(events)), what="the learner to take every event\'s steps")
        wait_for(lambda: runner.stats["actions"].actions >= 1, what="the quarantine action")
    finally:
        runner.shutdown()
    assert not runner.errors
    drifts = [a for a in _alerts(bootstrap_servers, cfg.topics.alerts)
              if a.feature == "income" and a.severity == "drift" and a.kind == "data_drift"]
    alert = min(drifts, key=lambda a: a.position.offset)  # the earliest quarantine holds the events
    actions = [ActionRecord.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.actions)]
    started = [(a.action, a.status, a.alert_id) for a in actions if a.action == "quarantine"]
    assert sorted(started) == sorted(("quarantine", "started", d.alert_id) for d in drifts)

    held = read_topic(bootstrap_servers, cfg.topics.quarantine)
    start = alert.position.offset
    assert len(held) == len(events) - start
    first = dict(held[0].headers)
    assert first["driftline_alert_id"] == alert.alert_id.encode()
    assert int(first["driftline_source_offset"]) == start
    assert held[0].value == orjson.dumps(events[start])
    learner = runner.stats["learner"].extra
    assert learner["seen"] == len(events)
    assert learner["trained"] == start  # nothing at or after the alert was learned from


def test_backtest_gives_the_same_alerts_as_the_live_roles(bootstrap_servers: str, tmp_path) -> None:
    drifts = [*SHIFT, Drift("concept drift", "concept_drift", None, 9000, "flip")]
    cfg = fresh_config(
        bootstrap_servers,
        policies=[{"when": {"kind": "data_drift", "feature": "country"}, "do": ["quarantine"]}],
    )
    events = list(generate(12000, drifts, seed=11))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner"])
    try:
        wait_for(lambda: learned_all(runner, len(events)), what="the learner to take every event\'s steps")
    finally:
        runner.shutdown()
    assert not runner.errors

    def comparable(alerts: list[Alert]) -> list[dict]:
        return sorted((a.model_dump(exclude={"detected_at"}) for a in alerts), key=lambda d: d["alert_id"])

    live = comparable(_alerts(bootstrap_servers, cfg.topics.alerts))
    out = io.BytesIO()
    result = backtest(cfg, path, out)
    offline = comparable([Alert.from_json(line) for line in out.getvalue().splitlines()])
    assert offline == comparable(result.alerts)
    assert {a["kind"] for a in live} >= {"data_drift", "concept_drift"}
    assert live == offline
