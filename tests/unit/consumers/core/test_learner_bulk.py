"""The learner's steps taken in bulk and its error blocks judged together at the end of the
steps give what the step-by-step loop, judging each block as it closes, gives: the same
alerts (ids and order), model, errors and state, whatever the polls."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, PolicyConfig, stream_schema
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.online.judging import SealedBlocks, alerts_can_act, seal_cuts
from driftline.consumers.core.order.learning import LEARN, Label, LearningOrder, Turned, WaitingEvent
from driftline.consumers.core.order.watermark import NO_TIME
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.synthetic import FEATURES, Drift, generate, late_labels


def config(minibatch: int = 64, sample: float = 1.0, block_ms: int = 200) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 1000},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"], "sample": sample,
                    "error_block_ms": block_ms},
        "models": {"minibatch": minibatch},
    })


def run(cfg: DriftlineConfig, events: list[dict], labels: list[dict], poll: int, one_by_one: bool) -> dict[str, Any]:
    """A core fed in polls of ``poll`` events and labels; ``one_by_one``: each block judged as it
    closes, every step in the loop (what the learner did before the steps were taken in bulk)."""
    core = LearnerCore(cfg, learner_plan(cfg), live=False, label_partitions=[0])
    if one_by_one:
        core.judge_later = False
    schema = stream_schema(cfg)
    alerts: list[bytes] = []
    known = 0  # the labels handed in so far (in the order they became known)
    for at in range(0, len(events) + poll, poll):
        chunk = events[at:at + poll]
        if chunk:
            batch, _ = parse_events(schema, 0, list(range(at, at + len(chunk))), [orjson.dumps(e) for e in chunk])
            core.add_events(batch)
        until = known
        while until < len(labels) and (not chunk or labels[until]["ts"] < chunk[-1]["ts"]):
            until += 1
        rows, _ = parse_label_messages(0, list(range(known, until)), [orjson.dumps(x) for x in labels[known:until]],
                                       "id", "label", "binary")
        core.add_labels(0, rows)
        known = until
        alerts += [a.to_json() for a in core.step(flush=not chunk).alerts]
    model = core.learner.pipeline.steps[list(core.learner.pipeline.steps)[-1]]
    return {"alerts": alerts, "weights": dict(model._weights.to_dict()), "seen": core.learner.seen,
            "trained": core.learner.trained, "sampled_out": core.sampled_out,
            "state": orjson.dumps(core.state_dict(), option=orjson.OPT_SERIALIZE_NUMPY, default=str)}


@pytest.mark.parametrize(("minibatch", "sample", "block_ms"), [(64, 1.0, 200), (256, 0.5, 50), (1, 1.0, 200),
                                                               (7, 1.0, 1)])
def test_the_steps_in_bulk_give_what_the_loop_gives_whatever_the_polls(minibatch: int, sample: float,
                                                                        block_ms: int) -> None:
    events = list(generate(5000, [Drift("concept drift", "concept_drift", None, 2500, "flip")], seed=4))
    labels = late_labels(events, 2 / 3, 2000, seed=4)
    cfg = config(minibatch, sample, block_ms)
    expected = run(cfg, events, labels, 500, one_by_one=True)
    assert any(b"concept_drift" in a for a in expected["alerts"])  # the change is found
    for poll in (1000, 333, 5000):
        assert run(cfg, events, labels, poll, one_by_one=False) == run(cfg, events, labels, poll, one_by_one=True)
    assert run(cfg, events, labels, 500, one_by_one=False) == expected


def _orders(seed: int) -> tuple[LearningOrder, LearningOrder, list[list[tuple[str, WaitingEvent | Label]]]]:
    """Two orders fed the same, and what to feed them: rounds of events (ids repeated now and
    then) and labels (some before their event), times at random."""
    rng = np.random.default_rng(seed)
    rounds = []
    t = 0
    for r in range(30):
        items: list[tuple[str, WaitingEvent | Label]] = []
        for _ in range(int(rng.integers(0, 40))):
            t += int(rng.integers(0, 4))
            eid = f"e{int(rng.integers(0, 400))}"
            label = int(rng.integers(0, 2)) if rng.random() < 0.3 else None
            items.append(("event", WaitingEvent(eid, {"x": 1.0}, 0, t, t, label=label,
                                                label_ts=t if label is not None else NO_TIME)))
            if rng.random() < 0.5:
                items.append(("label", Label(f"e{int(rng.integers(0, 400))}", 1, t + int(rng.integers(0, 9)), 0, r)))
        rounds.append(items)
    make = lambda: LearningOrder([0], [0], allowed_lateness_ms=3, idle_ms=1e12, max_age_ms=50,
                                 max_pending=60)
    return make(), make(), rounds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_take_gives_the_steps_of_steps_and_leaves_the_same_order(seed: int) -> None:
    one, bulk, rounds = _orders(seed)
    rng = np.random.default_rng(seed + 100)
    for items in rounds:
        judged_to = None if rng.random() < 0.5 else int(rng.integers(0, 200)) + (items[-1][1].ts if items else 0)
        for order in (one, bulk):
            out = Turned([])
            events = [_copy(x) for kind, x in items if kind == "event"]
            labels = [x for kind, x in items if kind == "label"]
            order.add_events(0, events, max((e.ts for e in events), default=NO_TIME), False, 0, out)
            order.add_labels(0, sorted(labels, key=lambda lab: lab.ts), False, 0, out)
            order.advance(0)
        expected = [(k, e.event_id, e.ts) for k, e in one.steps(judged_to)]
        kinds, times, events = bulk.take(judged_to)
        assert [(k, e.event_id, e.ts) for k, e in zip(kinds, events)] == expected
        assert times == [e.ts if k != LEARN else e.learn_at for k, e in zip(kinds, events)]
        assert bulk.reached == one.reached and bulk.due == one.due
        for order in (one, bulk):
            order.expire(Turned([]))
        assert bulk.state_dict() == one.state_dict()


def _copy(event: WaitingEvent) -> WaitingEvent:
    return WaitingEvent.from_list(event.to_list())


def test_seal_cuts_are_where_the_step_by_step_check_seals() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(0, 30))
        buckets = np.sort(rng.integers(0, 8, size=n)).astype(np.int64)
        rows = np.flatnonzero(rng.random(n) < 0.6)
        bucket, before = (NO_TIME, 0) if rng.random() < 0.3 else (int(rng.integers(-1, 1)), int(rng.integers(0, 3)))
        expected, sealed = SealedBlocks(), SealedBlocks()
        expected.seal(int(rng.integers(0, before + 1)))  # an earlier seal, perhaps of every row before
        sealed.cuts = list(expected.cuts)
        count, newest = before, bucket
        for i in range(n):
            if buckets[i] > newest and count > expected.rows:
                expected.seal(count)
            if i in rows:
                count += 1
                newest = int(buckets[i])
        for cut in seal_cuts(buckets, rows, bucket, before):
            sealed.seal(cut)
        assert sealed.cuts == expected.cuts


def test_only_a_quarantine_or_a_rollback_on_the_learner_s_alerts_keeps_each_block_judged_as_it_closes() -> None:
    planned = learner_plan(config()).planned
    name = next(p.name for p in planned if p.target == "error")

    def policy(do: list[str], **when: Any) -> PolicyConfig:
        return PolicyConfig.model_validate({"when": when, "do": do})

    assert not alerts_can_act([], planned)
    assert not alerts_can_act([policy(["quarantine"], kind="data_drift"), policy(["retrain"], kind="concept_drift"),
                               policy(["rollback"], detector="ks-x")], planned)
    assert alerts_can_act([policy(["rollback"], kind="concept_drift")], planned)
    assert alerts_can_act([policy(["quarantine"], severity="warning")], planned)
    assert alerts_can_act([policy(["quarantine"], detector=name)], planned)
