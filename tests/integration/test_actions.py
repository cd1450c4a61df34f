"""Actions that act, on a real broker: rollback, retrain behind the gate, exactly once per alert."""

from __future__ import annotations

import pickle

import orjson
import pytest
from roles_support import fresh_config, learned_all, produce, run_roles, run_until, wait_for, write_config

from driftline.consumers.config.model import DriftlineConfig, ModelsConfig, stream_schema
from driftline.consumers.modelops.operations import open_registry
from driftline.learners import dataset
from driftline.learners.batch import train_river
from driftline.learners.registry import Registry
from driftline.stream.events import parse_events
from driftline.stream.kafka.clients import make_producer
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import ActionRecord, Alert, ModelEvent
from driftline.stream.synthetic import FEATURES, Drift, generate

pytestmark = pytest.mark.integration

CONCEPT = [Drift("concept drift", "concept_drift", None, 4000, "flip")]
ROLLBACK_RETRAIN = [{"when": {"kind": "concept_drift", "severity": "drift"}, "do": ["rollback", "retrain"]}]


def _config(bootstrap: str, tmp_path, margin: float, policies=ROLLBACK_RETRAIN) -> DriftlineConfig:
    cfg = fresh_config(bootstrap, policies=policies)
    models = ModelsConfig.model_validate({"retrain": {"window": 2000, "holdout": 0.3, "margin": margin,
                                                      "wait_seconds": 20}})
    return cfg.model_copy(update={"models": models, "state_dir": str(tmp_path / "state")})


def _actions(bootstrap: str, cfg: DriftlineConfig) -> list[ActionRecord]:
    return [ActionRecord.from_json(m.value) for m in read_topic(bootstrap, cfg.topics.actions)]


def _outcome(bootstrap: str, cfg: DriftlineConfig) -> bool:
    return any(r.action == "retrain" and r.status in ("promoted", "refused", "failed") for r in _actions(bootstrap, cfg))


def _train_on(events: list[dict], cfg: DriftlineConfig, upto: int) -> bytes:
    batch, _ = parse_events(stream_schema(cfg), 0, list(range(upto)), [orjson.dumps(e) for e in events[:upto]])
    data, _ = dataset.frame([batch], list(FEATURES), {}, [])
    return pickle.dumps(train_river(*dataset.features_and_labels(data, list(FEATURES)), epochs=1))


def _seed(registry: Registry, events: list[dict], cfg: DriftlineConfig) -> None:
    """v1 trained before the drift, v2 on data reaching past it; v2 is the deployed champion."""
    for upto in (2000, 5500):
        part = [{"topic": cfg.topics.events, "partition": 0, "from_offset": 0, "to_offset": upto - 1, "rows": upto}]
        v = registry.register(_train_on(events, cfg, upto), training_data=part,
                              created_by={"kind": "command", "id": f"seed-{upto}"})
        registry.move_alias("champion", v.version, reason="seeded by the test")


def test_concept_drift_rolls_back_then_promotes_a_challenger_that_wins(bootstrap_servers: str, tmp_path) -> None:
    cfg = _config(bootstrap_servers, tmp_path, margin=0.05)
    events = list(generate(8000, CONCEPT, seed=21))
    registry = open_registry(cfg)
    _seed(registry, events, cfg)
    produce(bootstrap_servers, cfg.topics.events, events)
    run_until(cfg, bootstrap_servers, ["monitor", "learner", "actions"], lambda _: _outcome(bootstrap_servers, cfg),
              "the retrain's outcome", timeout=90)
    alerts = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    concept = next(a for a in alerts if a.kind == "concept_drift" and a.severity == "drift")
    records = {(r.action, r.status): r for r in _actions(bootstrap_servers, cfg) if r.alert_id == concept.alert_id}
    rollback = records[("rollback", "done")]
    assert rollback.scope["champion_before"] == 2 and rollback.scope["champion_after"] == 1
    assert rollback.scope["drift_from_offset"] == concept.position.offset - 1000
    assert ("retrain", "started") in records
    outcome = records[("retrain", "promoted")]
    new, old = outcome.scope["challenger_metrics"], outcome.scope["champion_metrics"]
    assert outcome.scope["champion"] == 1  # compared with the rolled-back champion
    assert new["score"] >= old["score"] + 0.05 and new["n"] == old["n"] == outcome.scope["holdout_rows"]
    # the registry: lineage and the alias history with the causes
    v3 = registry.get(outcome.scope["challenger"])
    assert v3.parent == 1 and v3.created_by["id"] == concept.alert_id
    assert v3.training_data[0]["from_offset"] == concept.position.offset
    moves = registry.history("champion")
    assert [m.version for m in moves] == [1, 2, 1, v3.version]
    assert moves[2].cause["id"] == concept.alert_id and moves[2].cause["action"] == "rollback"
    events_out = [ModelEvent.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.models)]
    kinds = [(e.event, e.version) for e in events_out]
    assert ("rolled_back", 1) in kinds and ("promoted", v3.version) in kinds
    assert kinds.index(("rolled_back", 1)) < kinds.index(("promoted", v3.version))


def test_losing_challenger_leaves_the_champion_and_a_redelivered_alert_acts_no_more(bootstrap_servers: str, tmp_path) -> None:
    cfg = _config(bootstrap_servers, tmp_path, margin=1.0)  # no challenger can win by a whole accuracy point
    events = list(generate(8000, CONCEPT, seed=21))
    produce(bootstrap_servers, cfg.topics.events, events)
    run_until(cfg, bootstrap_servers, ["monitor", "learner", "actions"], lambda _: _outcome(bootstrap_servers, cfg),
              "the retrain's outcome", timeout=90)
    registry = open_registry(cfg)
    deployed = registry.get(1)  # trained on the reference at start
    assert deployed.created_by["kind"] == "reference" and deployed.training_data[0]["to_offset"] < 2000
    before = _actions(bootstrap_servers, cfg)
    outcomes = [r for r in before if r.action == "retrain" and r.status not in ("started", "skipped")]
    assert [r.status for r in outcomes] == ["refused"], outcomes  # one storm, one retrain, refused
    refused = outcomes[0]
    assert registry.alias("champion") == 1 and registry.alias("challenger") == refused.scope["challenger"]
    assert refused.scope["challenger_metrics"]["score"] < refused.scope["champion_metrics"]["score"] + 1.0

    # the same alert again (a redelivery), to a restarted actions role
    first = next(m for m in read_topic(bootstrap_servers, cfg.topics.alerts)
                 if Alert.from_json(m.value).alert_id == refused.alert_id)
    producer = make_producer(bootstrap_servers)
    producer.send(cfg.topics.alerts, first.value, key=first.key, headers=list(first.headers)).get(timeout=30)
    producer.close()
    again = run_roles(cfg, bootstrap_servers, ["actions"])
    try:
        wait_for(lambda: again.stats["actions"].reasons["redelivered alert: no second action"] >= 1,
                 what="the redelivered alert")
    finally:
        again.shutdown()
    assert not again.errors
    assert _actions(bootstrap_servers, cfg) == before
    assert len(registry.versions()) == 2 and registry.alias("champion") == 1



def test_quarantined_events_never_reach_training_until_released_then_replay_in_order(bootstrap_servers: str, tmp_path) -> None:
    from driftline.consumers.cli.main import main

    policies = [{"when": {"kind": "data_drift", "detector": "ks-income"}, "do": ["quarantine"]},
                {"when": {"kind": "concept_drift"}, "do": ["retrain"]}]
    cfg = _config(bootstrap_servers, tmp_path, margin=0.0, policies=policies)
    drifts = [Drift("income mean shift", "data_drift", "income", 3000, "x1.5"),
              Drift("concept drift", "concept_drift", None, 4500, "flip")]
    events = list(generate(7000, drifts, seed=5))
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: _outcome(bootstrap_servers, cfg), timeout=90, what="the retrain's outcome")
        wait_for(lambda: learned_all(runner, len(events)), what="the learner to take every event\'s steps")
        records = _actions(bootstrap_servers, cfg)
        quarantine = next(r for r in records if r.action == "quarantine")
        start = quarantine.scope["from_offset"]
        outcome = next(r for r in records if r.action == "retrain" and r.status not in ("started", "skipped"))
        # every labelled event of the retrain's window is held: none reached training
        assert outcome.status == "failed" and outcome.scope["train_rows"] == 0
        assert outcome.scope["quarantined_left_out"] > 1000
        assert runner.stats["learner"].extra["trained"] == start

        # the learner counts an event before its batch's outputs are flushed: wait for every held copy
        wait_for(lambda: len(read_topic(bootstrap_servers, cfg.topics.quarantine)) == len(events) - start,
                 what="every held event on the quarantine topic")
        # ended on rebaseline: the data since the drift is accepted as the new normal (recorded as the condition)
        config = write_config(cfg, tmp_path / "driftline.yaml")
        assert main(["quarantine", "release", config, "--alert", quarantine.alert_id, "--reason", "rebaseline"]) == 0
        # the learner reads action records between polls, also when nothing new comes
        wait_for(lambda: runner.stats["learner"].extra.get("replayed", 0) > 0, what="the replay")
        learner = next(r for r in runner.roles if r.name == "learner")
        replayed = learner.core.replayed_offsets
    finally:
        runner.shutdown()
    assert not runner.errors
    held = [int(dict(m.headers)["driftline_source_offset"]) for m in read_topic(bootstrap_servers, cfg.topics.quarantine)]
    assert [o for _, o in replayed] == sorted(held) == list(range(start, len(events)))
    released = [r for r in _actions(bootstrap_servers, cfg) if r.action == "release"]
    assert released[0].status == "released" and released[0].scope["events"] == len(held)
    assert released[0].scope["condition"] == "rebaseline" and "on rebaseline" in released[0].detail
    assert len(released) == 1  # nothing else ended it
