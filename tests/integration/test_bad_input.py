"""Bad input on a real broker: every bad message is routed with its reason and counted,
and the roles go on judging and learning from the good ones."""

from __future__ import annotations

import orjson
import pytest
from roles_support import fresh_config, learned_all, monitor_all, produce, run_roles, wait_for

from driftline.stream.kafka.records import read_topic
from driftline.stream.synthetic import generate

pytestmark = pytest.mark.integration


def test_bad_input_matrix(bootstrap_servers: str) -> None:
    cfg = fresh_config(bootstrap_servers)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["learner"]["max_pending"] = 2
    cfg = type(cfg).model_validate(data)

    good = [orjson.dumps(e) for e in generate(3000, [], seed=4)]
    huge = orjson.dumps({"id": "huge", "ts": 1, "features": {"country": "x" * (10 * 1024 * 1024)}})
    bad = {
        b"\xff\xfe{}": "not UTF-8",
        b"{oops": "not valid JSON",
        b"[1, 2]": "not a JSON object",
        b'{"ts": 1, "features": {}}': "'id' must be a non-empty string",
        good[5]: "duplicate id 'evt-5'",
        b'{"id": "w", "ts": 1, "features": {"income": "high"}}': "feature 'income' is numeric",
        b'{"id": "n", "ts": 1, "features": {"income": NaN}}': "not valid JSON",
        b'{"id": "i", "ts": 1, "features": {"income": Infinity}}': "not valid JSON",
        huge: "larger than 1000000",
    }
    extra = [
        orjson.dumps({"id": "extra-1", "ts": 1767225600005, "features": {"income": 1.0}, "colour": "red"}),
        orjson.dumps({"id": "extra-2", "ts": 1767225600006, "features": {"income": 2.0, "shoe_size": 44}}),
    ]
    messages = good[:1000] + list(bad) + extra + good[1000:]
    produce(bootstrap_servers, cfg.topics.events, messages)
    orphans = [{"id": f"ghost-{i}", "label": 1, "ts": 1767225600000 + i} for i in range(3)]
    produce(bootstrap_servers, cfg.topics.labels, orphans)

    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner"])
    try:
        wait_for(lambda: runner.stats["monitor"].consumed >= len(messages), what="the monitor to read everything")
        wait_for(lambda: learned_all(runner, len(messages) + len(orphans)), what="the learner to do everything")
    finally:
        runner.shutdown()
    assert not runner.errors

    dead = [orjson.loads(m.value) for m in read_topic(bootstrap_servers, cfg.topics.deadletter)]
    from_events = sorted((d for d in dead if d["source"]["topic"] == cfg.topics.events),
                         key=lambda d: d["source"]["offset"])
    assert len(from_events) == len(bad)
    for d, (raw, reason) in zip(from_events, bad.items()):
        assert reason in d["error"], (d["error"], reason)
        assert d["source"]["offset"] == messages.index(raw) if raw != good[5] else 1000 + 4
    big = next(d for d in from_events if "larger" in d["error"])
    assert big["raw_truncated"] is True and big["raw_bytes"] == len(huge)

    from_labels = [d for d in dead if d["source"]["topic"] == cfg.topics.labels]
    assert len(from_labels) == 1 and "no event came for it within learner.max_pending=2" in from_labels[0]["error"]
    assert from_labels[0]["source"]["offset"] == 0  # the oldest waiting label gave way

    monitor = runner.stats["monitor"]
    assert monitor.dead_letters == len(bad)
    assert monitor.extra["undeclared_fields"] == 2
    learner = runner.stats["learner"].extra
    assert learner["seen"] == len(good)  # every readable, labelled, not duplicated event was scored
    assert learner["pending"] == len(extra)  # the two without a label wait for one


def test_a_burst_of_schema_errors_is_one_data_quality_alert_live_and_in_backtest(bootstrap_servers: str,
                                                                                 tmp_path) -> None:
    from driftline.consumers.core.backtest import backtest

    cfg = fresh_config(bootstrap_servers)
    messages = [orjson.dumps(e) for e in generate(6000, [], seed=5)]
    for i in range(4000, 6000, 20):  # from offset 4000 on, one message in 20 has a wrongly typed income
        messages[i] = orjson.dumps({"id": f"typo-{i}", "ts": 1767225600000 + i, "features": {"income": "n/a"}})
    runner = monitor_all(cfg, bootstrap_servers, messages)
    alerts = [orjson.loads(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    schema = [a for a in alerts if a["detector"] == "schema-errors"]
    drifts = [a for a in schema if a["severity"] == "drift"]
    assert len(drifts) == 1, schema
    [alert] = drifts
    assert alert["kind"] == "data_quality" and alert["feature"] is None
    assert 4000 <= alert["position"]["offset"] < 5000 and alert["details"]["check"] == "schema_errors"
    assert runner.stats["monitor"].dead_letters == 100  # every bad message is still dead-lettered

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(messages) + b"\n")
    replayed = [a for a in backtest(cfg, path).alerts if a.detector == "schema-errors"]
    assert [a.alert_id for a in replayed] == [a["alert_id"] for a in schema]
