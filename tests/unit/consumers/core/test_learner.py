"""The learner's core: bounded joins, test-then-train, quarantine, and exact state round trips."""

from __future__ import annotations

import json

import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events
from driftline.stream.messages import Alert, Position, Window
from driftline.stream.synthetic import FEATURES, Drift, generate


def _core(cfg: DriftlineConfig) -> LearnerCore:
    return LearnerCore(cfg, learner_plan(cfg))


def config(minibatch: int | None = None, **learner) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 500},
        "learner": learner,
        "policies": [{"when": {"kind": "data_drift"}, "do": ["quarantine"]}],
        "models": {} if minibatch is None else {"minibatch": minibatch},
    })


def batch(cfg: DriftlineConfig, events: list[dict], start: int = 0):
    raws = [orjson.dumps(e) for e in events]
    b, rejects = parse_events(stream_schema(cfg), 0, list(range(start, start + len(raws))), raws)
    assert not rejects
    return b


def unlabelled(n: int, start_ts: int = 0, step: int = 1000) -> list[dict]:
    out = []
    for i, e in enumerate(generate(n, [], seed=1, start_ts=start_ts)):
        e.pop("label")
        e["ts"] = start_ts + i * step
        e["id"] = f"u{start_ts}-{i}"
        out.append(e)
    return out


def test_pending_joins_are_bounded_by_count_and_counted() -> None:
    core = _core(config(max_pending=100, max_pending_age_ms=None))
    cfg = core.cfg
    core.process_events(batch(cfg, unlabelled(250)))
    assert core.pending == 100 and core.expired_events == 150


def test_pending_joins_expire_by_event_time_and_are_counted() -> None:
    core = _core(config(max_pending_age_ms=60_000))
    cfg = core.cfg
    core.process_events(batch(cfg, unlabelled(50, start_ts=0, step=1000)))  # ts 0 .. 49 s
    assert core.pending == 50
    # the stream is past 100 s: a label for an event of 40 s or earlier would be more than 60 s after it
    core.process_events(batch(cfg, unlabelled(1, start_ts=100_000), start=50))
    assert core.expired_events == 41 and core.pending == 10


def test_orphan_labels_give_way_and_are_returned_for_the_dead_letter_topic() -> None:
    core = _core(config(max_pending=2))
    core.add_labels(3, [("ghost-1", 1, 10, 5), ("ghost-2", 0, 11, 6), ("ghost-3", 1, 12, 7)])
    [(label, why)] = core.step().turned_labels
    assert (label.event_id, label.label, label.partition, label.offset) == ("ghost-1", 1, 3, 10)
    assert "max_pending=2" in why and core.expired_labels == 1


def test_a_late_label_joins_its_event_and_is_learned() -> None:
    core = _core(config())
    cfg = core.cfg
    events = unlabelled(3)
    core.process_events(batch(cfg, events))
    assert core.pending == 3 and core.learner.seen == 0
    core.add_labels(0, [(events[1]["id"], 1, 0, events[-1]["ts"] + 5000)])
    assert core.step(flush=True) is not None
    assert core.pending == 2 and core.learner.seen == 1 and core.learner.trained == 1


def test_quarantined_events_are_scored_not_learned() -> None:
    core = _core(config())
    cfg = core.cfg
    events = list(generate(300, [], seed=2))
    alert = Alert(alert_id="q", stream="t", kind="data_drift", severity="drift", feature="income",
                  detector="ks-income", statistic=1.0, p_value=0.0, threshold=1e-6,
                  position=Position(partition=0, offset=100), window=Window(reference_n=1, current_n=1),
                  detected_at=0)
    core.observe([alert])
    out = core.process_events(batch(cfg, events))
    assert [h.offset for h in out.held] == list(range(100, 300))
    assert all(h.raw == orjson.dumps(events[h.offset]) for h in out.held)  # the message as it came
    assert core.learner.seen == 300 and core.learner.trained == 100


def test_state_round_trip_gives_identical_future_output() -> None:
    # DDM starts at once and warns on this unscaled learner's errors: alerts to compare
    cfg = config(concept_detector="ddm")
    events = list(generate(6000, [Drift("concept drift", "concept_drift", None, 3000, "flip")], seed=3))
    half = [dict(e) for e in events]
    for e in half[1000:1200]:
        e.pop("label")  # some wait for labels across the cut
    whole, cut = LearnerCore(cfg, learner_plan(cfg), live=False), LearnerCore(cfg, learner_plan(cfg), live=False)
    first, second = batch(cfg, half[:2000]), batch(cfg, half[2000:], start=2000)
    a = whole.process_events(first).alerts + whole.process_events(second).alerts
    b = cut.process_events(first).alerts
    restored = LearnerCore(cfg, learner_plan(cfg), live=False)
    restored.load_state_dict(json.loads(json.dumps(cut.state_dict())), cut.blob())
    b += restored.process_events(second).alerts
    assert [x.alert_id for x in a] == [x.alert_id for x in b] and a
    assert restored.pending == whole.pending == 200
    assert restored.learner.metric == whole.learner.metric


def _concept_drifts(alerts) -> list[int]:
    return [a.position.offset for a in alerts if a.kind == "concept_drift" and a.severity == "drift"]


def test_after_a_false_concept_alarm_and_its_rollback_a_real_change_is_still_alerted() -> None:
    """A short burst of wrong labels forces a concept alarm with no lasting change; the rollback
    it calls for restores the model from before it; the concept really changes 170 events after it,
    within the reference that a detector renewing itself from the restored model's errors would
    take (it would then see the changed concept as its normal and never alert it).

    One by one (``models.minibatch: 1``): the burst is alerted a few events before its end, a
    margin the test's timing needs; the rollback's reference is the same in mini-batches."""
    cfg = config(preprocessing=["river.preprocessing.StandardScaler"], minibatch=1)
    burst, change = (3_500, 3_640), 3_810
    events = list(generate(6_000, [Drift("concept drift", "concept_drift", None, change, "flip")], seed=5))
    for e in events[burst[0] : burst[1]]:
        e["label"] = 1 - e["label"]  # wrong labels: the errors jump, then fall back
    core = LearnerCore(cfg, learner_plan(cfg), live=False)
    false_alarm, rolled_back_at, alerted, pos = None, None, [], 0
    while pos < len(events):
        chunk = events[pos : pos + 10]
        found = _concept_drifts(core.process_events(batch(cfg, chunk, start=pos)).alerts)
        pos += len(chunk)
        if false_alarm is None and found:
            false_alarm, rolled_back_at = found[0], pos
            # what the actions role asks for: the model from before the drift (concept_lookback back)
            assert core.rollback_online(events[false_alarm - cfg.models.concept_lookback]["ts"]) is not None
        elif false_alarm is not None:
            alerted += found
    assert false_alarm is not None and burst[0] <= false_alarm < burst[1] + 10, false_alarm
    assert rolled_back_at + cfg.reference.first_n > change  # a renewed reference would hold the change
    assert alerted and change <= alerted[0] < change + 300, alerted


def test_a_rollback_gives_the_concept_detector_its_reference_of_before_the_drift() -> None:
    cfg = config(preprocessing=["river.preprocessing.StandardScaler"])
    events = list(generate(6000, [Drift("concept drift", "concept_drift", None, 3000, "flip")], seed=3))
    core = LearnerCore(cfg, learner_plan(cfg), live=False)
    detector = core.engine().detectors[0]
    core.process_events(batch(cfg, events[:2000]))
    before = detector.state_dict()["reference"]
    concept = _concept_drifts(core.process_events(batch(cfg, events[2000:3400], start=2000)).alerts)
    assert concept and concept[0] >= 3000
    assert detector.state_dict()["reference"] is None  # collecting a new reference
    assert core.rollback_online(events[concept[0] - 1000]["ts"]) is not None
    state = detector.state_dict()
    assert state["reference"] == before and state["charts"] == [0]  # the old one back, watching at once


@pytest.mark.parametrize(("minibatch", "snapshot"), [(1, 1000), (256, 1024)])
def test_a_restored_learner_rolls_back_to_a_snapshot_taken_before_its_restart(minibatch: int, snapshot: int) -> None:
    """Snapshots every 500 trained events: one by one at the 500th, in mini-batches of 256 at the
    first boundary past it (512 and 1,024 trained: offsets 511 and 1,023)."""
    cfg = config(preprocessing=["river.preprocessing.StandardScaler"], minibatch=minibatch)
    events = list(generate(3000, [], seed=4))
    core = LearnerCore(cfg, learner_plan(cfg), live=False)
    core.process_events(batch(cfg, events))
    assert len(core.snapshots) == 6  # every 500 trained events
    restored = LearnerCore(cfg, learner_plan(cfg), live=False)
    restored.load_state_dict(json.loads(json.dumps(core.state_dict())), core.blob())
    probes = [e["features"] for e in generate(200, [], seed=8)]
    # the drift began at event 1200: the snapshot after 1000 trained (the first boundary past it) is before it
    at = restored.rollback_online(events[1200]["ts"])
    assert at == snapshot
    expected = core.snapshots.before(events[1200]["ts"]).pipeline
    assert [restored.learner.pipeline.predict_proba_one(x) for x in probes] == \
        [expected.predict_proba_one(x) for x in probes]
    assert [core.learner.pipeline.predict_proba_one(x) for x in probes] != \
        [expected.predict_proba_one(x) for x in probes]  # the model had moved on since


def test_snapshots_are_bounded_in_bytes_the_oldest_giving_way() -> None:
    from driftline.learners.snapshots import SnapshotRing

    ring = SnapshotRing(every=1, keep=100, max_bytes=3000)
    for i in range(20):
        ring.maybe_take({"w": "x" * 1000, "i": i}, 0, i, i + 1, i)
    assert len(ring) == 2 and ring.bytes <= 3000
    assert ring.before(10**9).pipeline["i"] == 19
