"""A learner keeps its history across a restart, on a real broker: its rollback snapshots are in
its checkpoint, so a rollback an alert calls for after the restart restores a model from before it."""

from __future__ import annotations

import pytest
from roles_support import fresh_config, learned_all, produce, run_roles, run_until, wait_for

from driftline.consumers.roles.loop import group_id
from driftline.learners.snapshots import SnapshotRing, unpack
from driftline.stream.checkpoint import KafkaCheckpointStore
from driftline.stream.messages import Alert, Position, Window, alert_id
from driftline.stream.synthetic import generate

pytestmark = pytest.mark.integration


def test_a_restarted_learner_rolls_back_to_a_snapshot_from_before_its_restart(bootstrap_servers: str) -> None:
    policy = {"when": {"kind": "concept_drift", "detector": "by-hand"}, "do": ["rollback"]}  # this test's alert only
    cfg = fresh_config(bootstrap_servers, reference=500, policies=[policy])
    # live in mini-batches (their pending rows and boundaries in the checkpoint; one by one: the unit tests)
    cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={"minibatch": 256})})
    events = list(generate(3000, [], seed=14))
    produce(bootstrap_servers, cfg.topics.events, events)
    run_until(cfg, bootstrap_servers, ["monitor", "learner"], lambda r: learned_all(r, len(events)),
              "the learner to learn every event")
    store = KafkaCheckpointStore(bootstrap_servers, cfg.topics.checkpoints)
    try:
        before = store.load(group_id(cfg, "learner"))
    finally:
        store.close()
    # at the first mini-batch boundary past every 500 trained (256 a batch: 512, 1024, ... 2560;
    # the last 184 events wait in the mini-batch, not yet learned)
    assert before is not None and len(before.state["core"]["snapshots"]["snapshots"]) == 5

    runner = run_roles(cfg, bootstrap_servers, ["learner"])  # restarted: nothing new to read
    try:
        at, start = events[1500], events[1200]  # a drift alerted at event 1500, begun at event 1200
        alert = Alert(
            alert_id=alert_id(cfg.stream.name, "by-hand", None, at["id"]), stream=cfg.stream.name,
            kind="concept_drift", severity="drift", feature=None, detector="by-hand", statistic=1.0, p_value=None,
            threshold=0.5, position=Position(partition=0, offset=1500, ts=at["ts"], event_id=at["id"]),
            window=Window(reference_n=500, current_n=300, start_ts=start["ts"], end_ts=at["ts"]),
            detected_at=at["ts"],
        )
        produce(bootstrap_servers, cfg.topics.alerts, [alert.to_json()])
        wait_for(lambda: runner.stats["learner"].extra.get("rolled_back_to") is not None, what="the rollback")
        learner = next(r for r in runner.roles if r.name == "learner")
        restored = learner.core.learner.pipeline
    finally:
        runner.shutdown()
    assert not runner.errors
    # the snapshot of before the restart: the first mini-batch boundary (of 256) past 1000 trained
    assert runner.stats["learner"].extra["rolled_back_to"] == 1024
    _, snapshots = unpack(before.blob)
    ring = SnapshotRing(cfg.models.online_snapshot_every, cfg.models.online_snapshots_kept)
    ring.load_state_dict(before.state["core"]["snapshots"], snapshots)
    expected = ring.before(start["ts"]).pipeline
    probes = [e["features"] for e in generate(100, [], seed=3)]
    assert [restored.predict_proba_one(x) for x in probes] == [expected.predict_proba_one(x) for x in probes]

