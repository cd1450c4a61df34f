"""Each role serves Prometheus metrics and health; the counters match what it produced."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from roles_support import fresh_config, judged_all, learned_all, produce, run_roles, wait_for, write_config

from driftline.consumers.modelops.operations import open_registry
from driftline.learners.registry import Registry
from driftline.stream.kafka.clients import make_producer
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import ActionRecord, Alert, ModelEvent
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "driftline.json"

SHIFT = [Drift("income mean shift", "data_drift", "income", 5000, "x1.5")]
BAD = [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"id": "x", "ts": 1, "features": {"income": "high"}}']


def scrape(port: int, path: str = "/metrics") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    status, body = scrape(port)
    assert status == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(metrics: dict, name: str, **labels: str) -> float:
    return sum(v for lab, v in metrics.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def test_scraped_counters_equal_what_the_roles_produced(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(
        bootstrap_servers,
        policies=[{"when": {"kind": "data_drift", "severity": "drift", "feature": "income"}, "do": ["quarantine"]}],
    )
    cfg = cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"port": 0, "host": "127.0.0.1"}),
                                 "state_dir": str(tmp_path / "state")})
    values: list[bytes] = [orjson.dumps(e) for e in generate(9000, SHIFT, seed=3)]
    for i, raw in enumerate(BAD):
        values.insert(2500 + i * 500, raw)
    produce(bootstrap_servers, cfg.topics.events, values)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        roles = {role.name: role for role in runner.roles}
        ports = {name: role.metrics_port for name, role in roles.items()}
        assert all(ports.values()) and len(set(ports.values())) == 4, ports  # the monitor's judge has its own
        wait_for(lambda: learned_all(runner, len(values)), what="the learner to take every event\'s steps")
        wait_for(lambda: runner.stats["actions"].actions >= 1, what="the quarantine action")
        for name in ("monitor", "learner", "actions"):
            wait_for(lambda: samples(ports[name]).get("driftline_consumer_lag") and
                     total(samples(ports[name]), "driftline_consumer_lag") == 0, what=f"the {name}'s lag to be 0")
        alerts = read_topic(bootstrap_servers, cfg.topics.alerts)
        wait_for(lambda: runner.stats["actions"].consumed >= len(alerts), what="the actions role to read every alert")
        dead = read_topic(bootstrap_servers, cfg.topics.deadletter)
        actions = read_topic(bootstrap_servers, cfg.topics.actions)
        held = read_topic(bootstrap_servers, cfg.topics.quarantine)
        monitor, learner, act = samples(ports["monitor"]), samples(ports["learner"]), samples(ports["actions"])
        judge = samples(ports["judge"])

        assert total(monitor, "driftline_events_consumed_total") == len(values)
        produced_alerts = total(judge, "driftline_alerts_total") + total(learner, "driftline_alerts_total")
        assert alerts and produced_alerts == len(alerts)
        drift = [orjson.loads(m.value) for m in alerts if orjson.loads(m.value)["severity"] == "drift"]
        assert total(judge, "driftline_alerts_total", kind="data_drift", severity="drift") == \
            sum(1 for a in drift if a["kind"] == "data_drift")
        assert total(monitor, "driftline_dead_letters_total") == len(dead) == len(BAD)
        assert total(learner, "driftline_quarantined_events_total") == len(held) > 0
        assert total(act, "driftline_actions_total", action="quarantine", status="started") == len(actions) >= 1
        assert total(act, "driftline_events_consumed_total") == len(alerts)
        # every series is labelled with its stream and role; lag per assigned partition
        assert {lab["role"] for lab, _ in monitor["driftline_events_consumed_total"]} == {"monitor"}
        assert [lab["topic"] for lab, _ in monitor["driftline_consumer_lag"]] == [cfg.topics.events]
        assert total(monitor, "driftline_batch_seconds_count") >= 1
        assert 0.0 <= total(learner, "driftline_learner_metric") <= 1.0
        # the actions role deployed a champion trained on the reference: its gauge says which
        wait_for(lambda: "driftline_champion_version" in samples(ports["actions"]), what="the champion gauge")
        act = samples(ports["actions"])
        assert total(act, "driftline_champion_version") == open_registry(cfg).alias("champion") == 1

        status, body = scrape(ports["monitor"], "/healthz")
        assert status == 200 and orjson.loads(body)["ok"] is True
        status, body = scrape(ports["monitor"], "/readyz")
        ready = orjson.loads(body)
        assert status == 200 and ready["ok"] and ready["lag"] == {f"{cfg.topics.events}/0": 0}
        assert scrape(ports["monitor"], "/nope")[0] == 404
        # the shipped Grafana dashboard asks only for metrics the roles serve
        served = set(monitor) | set(judge) | set(learner) | set(act)
        asked = set(re.findall(r"driftline_[a-z_]+", DASHBOARD.read_text()))
        assert asked <= served, asked - served
    finally:
        runner.shutdown()
    assert not runner.errors
    with pytest.raises(OSError):  # the endpoint closes with the role
        scrape(ports["monitor"], "/healthz")


def test_detector_gauges_when_detectors_expose_their_statistic(bootstrap_servers: str) -> None:
    cfg = fresh_config(bootstrap_servers)
    cfg = cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"port": 0, "host": "127.0.0.1"})})
    produce(bootstrap_servers, cfg.topics.events, generate(4000, [], seed=1))
    runner = run_roles(cfg, bootstrap_servers, ["monitor"])
    try:
        wait_for(lambda: judged_all(runner, 4000), what="the monitor to read and the judge to judge every event")
        monitor = next(r for r in runner.roles if r.name == "judge")  # the judge runs the stream's detectors
        engine = monitor.engines[0]
        if not any(getattr(d, "last_statistic", None) for d in engine.detectors):
            pytest.fail("no detector exposes last_statistic yet (the detectors library adds it)")
        def gauged() -> set[str]:
            return {lab["detector"] for lab, _ in samples(monitor.metrics_port).get("driftline_detector_statistic", [])}

        # the gauges follow the detectors after each poll: a windowed test's once it has a statistic
        wait_for(lambda: "ks-income" in gauged(), timeout=30, what="the ks-income gauge")
        assert gauged() <= {p.name for p in engine.planned}
    finally:
        runner.shutdown()


def test_snapshots_feed_the_live_report_and_the_status_view(bootstrap_servers: str, tmp_path) -> None:
    from driftline.consumers.observe.report.live import live_report
    from driftline.consumers.observe.report.page import render_html
    from driftline.consumers.observe.status import gather, render

    cfg = fresh_config(bootstrap_servers)
    topic = f"stats-{cfg.kafka.group_prefix}"
    cfg = cfg.model_copy(update={"stats": cfg.stats.model_copy(update={"topic": topic, "every_seconds": 0.5})})
    values: list[bytes] = [orjson.dumps(e) for e in generate(9000, SHIFT, seed=3)]
    values.insert(100, BAD[0])
    produce(bootstrap_servers, cfg.topics.events, values)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner"])
    try:
        wait_for(lambda: learned_all(runner, len(values)), what="the learner to take every event\'s steps")
        view = gather(cfg, bootstrap_servers)
    finally:
        runner.shutdown()
    assert not runner.errors
    assert {r["role"] for r in view["roles"]} == {"monitor", "judge", "learner"}
    # the last alerts, all raised by the shift at event 5000 (income, then labels and predictions)
    assert view["alerts"] and all(a.position.offset >= 5000 for a in view["alerts"]), view["alerts"]
    assert view["metric"] is not None
    assert "monitor" in render(cfg, view)

    data = live_report(cfg, bootstrap_servers, 600)
    assert data.events == len(values) and data.dead_letters == 1  # counted from the snapshots
    income = next(a for a in data.alerts if a.feature == "income" and a.severity == "drift")
    assert data.distributions[income.alert_id]["type"] == "numeric"
    assert any(name == "ks-income" and len(s) for (name, _), s in data.series.items())
    assert len(data.learner) > 0
    assert 'id="plot-dist-ks-income"' in render_html(data)

    # and the same through the command line
    from driftline.consumers.cli.main import main

    config = write_config(cfg, tmp_path / "config.yaml")
    assert main(["status", config]) == 0
    assert main(["report", config, "--since", "10m", "--output", str(tmp_path / "live.html")]) == 0
    assert 'id="plot-stat-ks-income"' in (tmp_path / "live.html").read_text()


def _seed(registry: Registry, topic: str) -> None:
    """v1 trained before offset 2000, v2 on data up to 5499; v2 is champion."""
    for n, (upto, accuracy) in enumerate(((2000, 0.8), (5500, 0.7)), start=1):
        part = [{"topic": topic, "partition": 0, "from_offset": 0, "to_offset": upto - 1, "rows": upto}]
        v = registry.register(orjson.dumps({"v": n}), training_data=part, created_by={"kind": "command", "id": f"seed-{n}"},
                              metrics={"accuracy": accuracy, "score": accuracy, "n": 300.0})
        registry.move_alias("champion", v.version, reason="seeded by the test", cause={"kind": "command", "id": f"seed-{n}"})


def test_champion_gauge_and_status_follow_the_registry_champion(bootstrap_servers: str, tmp_path) -> None:
    from driftline.consumers.observe.status import gather, render

    cfg = fresh_config(bootstrap_servers, policies=[{"when": {"kind": "concept_drift"}, "do": ["rollback"]}])
    cfg = cfg.model_copy(update={
        "metrics": cfg.metrics.model_copy(update={"port": 0, "host": "127.0.0.1"}),
        "stats": cfg.stats.model_copy(update={"topic": f"stats-{cfg.kafka.group_prefix}", "every_seconds": 0.3}),
        "state_dir": str(tmp_path / "state"),
    })
    registry = open_registry(cfg)
    _seed(registry, cfg.topics.events)
    runner = run_roles(cfg, bootstrap_servers, ["actions"])
    try:
        port = runner.roles[0].metrics_port

        def gauge(name: str) -> float | None:
            found = samples(port).get(name)
            return found[0][1] if found else None

        def follows(version: int) -> bool:
            return registry.alias("champion") == version and gauge("driftline_champion_version") == version

        wait_for(lambda: follows(2), what="the champion gauge at start")
        assert gauge("driftline_champion_score") == pytest.approx(0.7)
        # moved by someone else (a person, another process): the role re-reads the registry
        registry.move_alias("champion", 1, reason="by hand", cause={"kind": "command", "id": "manual-1"})
        wait_for(lambda: follows(1), what="the gauge after a move by hand")
        assert gauge("driftline_champion_score") == pytest.approx(0.8)
        registry.move_alias("champion", 2, reason="by hand", cause={"kind": "command", "id": "manual-2"})
        wait_for(lambda: follows(2), what="the gauge after the second move by hand")

        # moved by the role itself: a concept drift at offset 5000 rolls back to v1 (trained before it)
        alert = Alert.model_validate({
            "alert_id": "c" * 64, "stream": cfg.stream.name, "kind": "concept_drift", "severity": "drift",
            "feature": None, "detector": "ddm-error", "statistic": 0.3, "p_value": None, "threshold": 0.2,
            "position": {"partition": 0, "offset": 5000}, "window": {"reference_n": 0, "current_n": 0},
            "detected_at": 1767226100123,
        })
        producer = make_producer(bootstrap_servers)
        producer.send(cfg.topics.alerts, alert.to_json(), key=alert.key).get(timeout=30)
        producer.close()

        def rollbacks() -> list[ActionRecord]:
            return [r for r in (ActionRecord.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.actions))
                    if r.action == "rollback"]

        wait_for(lambda: bool(rollbacks()), what="the rollback's record")
        assert rollbacks()[0].status == "done" and rollbacks()[0].scope["champion_after"] == 1
        assert follows(1)  # set when the role moved the champion, before the record was written
        assert ("rolled_back", 1) in [(e.event, e.version) for e in
                                      (ModelEvent.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.models))]

        # driftline status shows the champion and its held-out metric, from the actions role's snapshot
        wait_for(lambda: gather(cfg, bootstrap_servers)["champion"] == 1, what="a snapshot naming the champion")
        view = gather(cfg, bootstrap_servers)
    finally:
        runner.shutdown()
    assert not runner.errors
    assert view["champion_metric"] == "accuracy" and view["champion_metric_value"] == pytest.approx(0.8)
    assert "champion model: v1 (held-out accuracy 0.800)" in render(cfg, view)
