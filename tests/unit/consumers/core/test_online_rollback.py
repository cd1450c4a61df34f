"""The online model rolls back at a point fixed by the data: before the first step at or after
the alert's event time, to the newest snapshot that learned nothing from the drift's start on;
the same model, rollbacks and concept alerts whatever the partitioning and the polls, and in
``driftline backtest``."""

from __future__ import annotations

import json

import numpy as np
import orjson
from polls_support import spread

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.online.rollback import Rollback
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events
from driftline.stream.messages import Alert, Position, Window, alert_id
from driftline.stream.synthetic import FEATURES, Drift, generate

N = 7000
CHANGE = 3500
CONCEPT = [Drift("concept drift", "concept_drift", None, CHANGE, "flip")]


def config(policies: list[dict] | None = None) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 500},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"]},
        "models": {"minibatch": 256},  # the mini-batch path (one by one: tests/unit/consumers/core/test_learner.py)
        "policies": policies if policies is not None else [{"when": {"kind": "concept_drift"}, "do": ["rollback"]}],
    })


def run(cfg: DriftlineConfig, events: list[dict], partitions: int, seed: int,
        alerts: list[Alert] = ()) -> tuple[LearnerCore, list[Alert], list[Rollback]]:
    """The core fed in random polls over ``partitions`` partitions, stepping after each poll."""
    schema = stream_schema(cfg)
    rng = np.random.default_rng(seed)
    parts = spread(events, partitions)
    core = LearnerCore(cfg, learner_plan(cfg), live=False, event_partitions=range(partitions))
    core.observe(list(alerts))
    found: list[Alert] = []
    rollbacks: list[Rollback] = []
    pos = dict.fromkeys(parts, 0)
    while left := [p for p in parts if pos[p] < len(parts[p])]:
        p = left[int(rng.integers(0, len(left)))]
        chunk = parts[p][pos[p]:pos[p] + int(rng.integers(1, 400))]
        pos[p] += len(chunk)
        batch, _ = parse_events(schema, p, [o for o, _ in chunk], [r for _, r in chunk])
        core.add_events(batch, caught_up=pos[p] == len(parts[p]))
        outcome = core.step()
        found += outcome.alerts
        rollbacks += outcome.rollbacks
        if int(rng.integers(0, 8)) == 0:  # a restart from a checkpoint, now and then
            restored = LearnerCore(cfg, learner_plan(cfg), live=False, event_partitions=range(partitions))
            restored.load_state_dict(json.loads(json.dumps(core.state_dict())), core.blob())
            restored.observe(list(alerts) + found)  # a restarted learner reads the alerts again
            core = restored
    outcome = core.step(flush=True)
    return core, found + outcome.alerts, rollbacks + outcome.rollbacks


def concept(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.kind == "concept_drift" and a.severity == "drift"]


def test_a_concept_alert_rolls_the_model_back_to_before_the_drift() -> None:
    events = list(generate(N, CONCEPT, seed=5))
    core, alerts, rollbacks = run(config(), events, 1, seed=0)
    first = concept(alerts)[0]
    taken = [r for r in rollbacks if r.restored is not None]
    assert taken and taken[0].alert_id == first.alert_id
    assert taken[0].start == first.window.start_ts <= first.position.ts
    # the snapshot restored learned nothing from the drift's start on: it predates the change
    # by at least the distance the chart's start was estimated before the alert
    by_ts = {e["ts"]: i for i, e in enumerate(events)}
    assert by_ts[taken[0].start] >= CHANGE - 500 and taken[0].restored <= by_ts[taken[0].start]
    assert [r.alert_id for r in rollbacks] == [a.alert_id for a in concept(alerts)]  # one decision per alert
    # the restored model errs on the new concept and is alerted again: the same storm, no second
    # rollback, so the model learns the new concept
    assert len(taken) == 1 and len(rollbacks) > 1 and all("same storm" in r.skipped for r in rollbacks[1:])
    assert core.learner.metric > 0.8


def test_without_the_storm_rule_the_model_is_rolled_back_again_and_again() -> None:
    cfg = config()
    cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={
        "retrain": cfg.models.retrain.model_copy(update={"debounce_seconds": 0.0})})})
    events = list(generate(N, CONCEPT, seed=5))
    _, _, rollbacks = run(cfg, events, 1, seed=0)
    assert sum(r.restored is not None for r in rollbacks) > 1


def test_rollbacks_and_alerts_are_the_same_for_any_partitioning_polls_and_restarts(tmp_path) -> None:
    cfg = config()
    events = list(generate(N, CONCEPT, seed=6))
    runs = [run(cfg, events, partitions, seed) for partitions, seed in ((1, 0), (3, 1), (3, 7), (5, 2))]
    ids = [[a.alert_id for a in alerts] for _, alerts, _ in runs]
    assert concept(runs[0][1]) and all(i == ids[0] for i in ids)
    decisions = [[r.to_list() for r in rollbacks] for _, _, rollbacks in runs]
    assert any(r[3] is not None for r in decisions[0]) and all(d == decisions[0] for d in decisions)
    probes = [events[i]["features"] for i in range(0, N, 71)]
    predictions = [[c.learner.pipeline.predict_proba_one(x)[True] for x in probes] for c, _, _ in runs]
    # one model, to the last bit (the features summed in the order of their names, whatever the
    # process's string hashing and a restart's unpickling make of a set's order)
    assert all(p == predictions[0] for p in predictions)
    # and driftline backtest on a file of the same events gives the same alerts
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    result = backtest(cfg, path)
    assert [a.alert_id for a in result.alerts if a.kind == "concept_drift"] == \
        [a.alert_id for a in runs[0][1] if a.kind == "concept_drift"]


def test_without_the_policy_nothing_rolls_back_and_the_first_alert_is_the_same() -> None:
    events = list(generate(N, CONCEPT, seed=5))
    _, with_policy, rolled = run(config(), events, 1, seed=0)
    _, without, none = run(config([]), events, 1, seed=0)
    assert rolled and not none
    assert [a.alert_id for a in concept(with_policy)][:1] == [a.alert_id for a in concept(without)][:1]


def test_a_judge_alert_rolls_back_before_the_learner_steps_past_its_time() -> None:
    """A data-drift alert from the judge, read before the learner reaches its time, rolls back
    at that time: the model then learns on from the snapshot, whatever the polls."""
    cfg = config([{"when": {"kind": "data_drift"}, "do": ["rollback"]}])
    events = list(generate(4000, [], seed=7))
    at, start = events[3000], events[2100]
    alert = Alert(
        alert_id=alert_id("t", "ks-income", "income", at["id"]), stream="t", kind="data_drift", severity="drift",
        feature="income", detector="ks-income", statistic=1.0, p_value=None, threshold=0.5,
        position=Position(partition=0, offset=3000, ts=at["ts"], event_id=at["id"]),
        window=Window(reference_n=500, current_n=900, start_ts=start["ts"], end_ts=at["ts"]), detected_at=at["ts"],
    )
    runs = [run(cfg, events, partitions, seed, [alert]) for partitions, seed in ((1, 0), (3, 4))]
    for _, _, rollbacks in runs:
        (r,) = rollbacks
        # the newest snapshot before event 2100: at the first mini-batch boundary (of 256) past 2000 trained
        assert r.alert_id == alert.alert_id and r.restored == 2048
    probes = [events[i]["features"] for i in range(0, 4000, 53)]
    a, b = ([c.learner.pipeline.predict_proba_one(x)[True] for x in probes] for c, _, _ in runs)
    assert a == b
    # the restored model learned on from the snapshot, to the last event
    assert runs[0][0].snapshots.max_ts == events[-1]["ts"]
