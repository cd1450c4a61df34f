"""Crash safety on a real broker: SIGKILL at random points loses nothing and changes nothing.

Over a stream with several known drifts, a role is killed three times and restarted; the set
of alert ids it produced equals that of an uninterrupted run (the backtest, which gives the
same alerts as the live roles), and the learner's model predicts as the uninterrupted one.
"""

from __future__ import annotations

import random
import threading
import time

import orjson
import pytest
from roles_support import (
    RoleProcess,
    committed,
    fresh_config,
    frontier,
    produce,
    run_roles,
    wait_for,
    write_config,
)

from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.order.learning import WaitingEvent
from driftline.consumers.core.plan import learner_plan
from driftline.consumers.roles.loop import group_id
from driftline.stream.checkpoint import KafkaCheckpointStore
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

N = 24000
DRIFTS = [
    Drift("income mean shift", "data_drift", "income", 6000, "x1.5"),
    Drift("country mix shift", "data_drift", "country", 12000, "mix"),
    Drift("concept drift", "concept_drift", None, 18000, "flip"),
]


def _setup(bootstrap: str, tmp_path, **overrides):
    cfg = fresh_config(bootstrap, **overrides)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["checkpoint"] = {"store": "kafka", "every_seconds": 0.3, "every_events": 2000}
    cfg = type(cfg).model_validate(data)
    events = list(generate(N, DRIFTS, seed=21))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return cfg, events, path, write_config(cfg, tmp_path / "driftline.yaml")


def _produce_slowly(bootstrap: str, topic: str, events: list[dict], rate: float = 4000.0) -> threading.Thread:
    def run() -> None:
        step = 500
        for i in range(0, len(events), step):
            produce(bootstrap, topic, events[i : i + step])
            time.sleep(step / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _kill_three_times(cfg, bootstrap, config_path, role, tmp_path, progress, done=None) -> int:
    kill_at = sorted(random.Random(99).sample(range(2000, N - 2000, 500), 3))
    proc = RoleProcess(config_path, role, tmp_path / f"{role}.log")
    for k, at in enumerate(kill_at):
        wait_for(lambda: progress() >= at, timeout=90, what=f"{role} to pass offset {at}")
        proc.kill()
        proc = RoleProcess(config_path, role, tmp_path / f"{role}.log")
    wait_for(done or (lambda: progress() >= N), timeout=120, what=f"{role} to finish after three kills")
    assert proc.terminate() == 0, (tmp_path / f"{role}.log").read_text()[-3000:]
    return len(kill_at)


def test_monitor_killed_three_times_gives_the_same_alert_ids(bootstrap_servers: str, tmp_path) -> None:
    cfg, events, path, config_path = _setup(bootstrap_servers, tmp_path)
    producer = _produce_slowly(bootstrap_servers, cfg.topics.events, events)
    monitor_group = group_id(cfg, "monitor")
    kills = _kill_three_times(
        cfg, bootstrap_servers, config_path, "monitor", tmp_path,
        lambda: committed(bootstrap_servers, monitor_group, cfg.topics.events),
        done=lambda: frontier(bootstrap_servers, cfg) > events[-1]["ts"],  # every event read and judged
    )
    producer.join()
    assert kills == 3
    live = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    expected = {a.alert_id for a in backtest(cfg, path).alerts if a.kind != "concept_drift"}
    assert {a.alert_id for a in live} == expected
    assert {a.feature for a in live if a.severity == "drift"} >= {"income", "country"}


def _learner_done(bootstrap: str, cfg, group: str) -> bool:
    """The learner's checkpoint is past every event and has no step left to take."""
    store = KafkaCheckpointStore(bootstrap, cfg.topics.checkpoints)
    try:
        cp = store.load(group)
    finally:
        store.close()
    if cp is None or (cp.offset(cfg.topics.events, 0) or 0) < N:
        return False
    waiting = [WaitingEvent.from_list(row) for row in cp.state["core"]["order"]["waiting"]]
    due = [e for e in waiting if not e.arrived or e.label is not None]
    print("learner checkpoint:", len(waiting), "waiting,", len(due), "due, frontier", cp.state["core"]["order"]["frontier"],
          [(e.event_id, e.ts, e.arrived, e.label) for e in due[:3]])
    return not due


def test_learner_killed_three_times_predicts_as_an_uninterrupted_one(bootstrap_servers: str, tmp_path) -> None:
    cfg, events, path, config_path = _setup(
        bootstrap_servers, tmp_path,
        policies=[{"when": {"kind": "data_drift", "feature": "country"}, "do": ["quarantine"]}],
    )
    producer = _produce_slowly(bootstrap_servers, cfg.topics.events, events)
    monitor = run_roles(cfg, bootstrap_servers, ["monitor"])
    learner_group = group_id(cfg, "learner")
    try:
        _kill_three_times(
            cfg, bootstrap_servers, config_path, "learner", tmp_path,
            lambda: committed(bootstrap_servers, learner_group, cfg.topics.events),
            done=lambda: _learner_done(bootstrap_servers, cfg, learner_group),
        )
    finally:
        producer.join()
        monitor.shutdown()
    assert not monitor.errors

    live = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    reference = backtest(cfg, path)
    assert {a.alert_id for a in live} == {a.alert_id for a in reference.alerts}
    assert any(a.kind == "concept_drift" for a in live)

    store = KafkaCheckpointStore(bootstrap_servers, cfg.topics.checkpoints)
    try:
        cp = store.load(learner_group)
    finally:
        store.close()
    assert cp is not None and cp.offset(cfg.topics.events, 0) == N
    restored = LearnerCore(cfg, learner_plan(cfg))
    restored.load_state_dict(cp.state["core"], cp.blob)
    uninterrupted = reference.learner
    assert restored.learner.trained == uninterrupted.learner.trained
    assert restored.learner.seen == uninterrupted.learner.seen == N
    probes = [e["features"] for e in generate(500, [], seed=123)]
    for x in probes:
        mine, theirs = restored.learner.pipeline, uninterrupted.learner.pipeline
        assert mine.predict_one(x) == theirs.predict_one(x)
        # equal up to floating-point summation order (dict iteration inside River's dot product)
        assert mine.predict_proba_one(x)[True] == pytest.approx(theirs.predict_proba_one(x)[True], abs=1e-12)
