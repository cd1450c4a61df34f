"""The learner's order is the data's: late labels on their own topic, events on any number of
partitions, polls interleaved at random, give the same model, errors and concept alerts as a
backtest of the same events and labels files."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.order.learning import Label, LearningOrder, Turned, WaitingEvent
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.synthetic import FEATURES, Drift, generate, late_labels

CHANGE = 3000


def config(sample: float = 1.0) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 1000},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"], "sample": sample},
        "policies": [{"when": {"kind": "concept_drift"}, "do": ["quarantine"]}],
    })


def stream(seed: int) -> tuple[list[dict], list[dict]]:
    """Events (a concept change at ``CHANGE``), two thirds of them labelled late: each label
    known 0-2 s (up to 200 events) after its event, the labels topic in the order they became known."""
    events = list(generate(6000, [Drift("concept drift", "concept_drift", None, CHANGE, "flip")], seed=seed))
    labels = late_labels(events, 2 / 3, 2000, seed=seed)
    return events, labels


def live(cfg: DriftlineConfig, events: list[dict], labels: list[dict], partitions: int,
         seed: int) -> tuple[LearnerCore, list[tuple[str, str | None]]]:
    """The live learner's core and its concept alerts: events on ``partitions`` partitions and
    labels on two, read in random polls interleaved at random, the steps taken after every poll."""
    rng = np.random.default_rng(seed)
    schema = stream_schema(cfg)
    sources: dict[tuple[str, int], list[bytes]] = {("events", p): [] for p in range(partitions)}
    sources |= {("labels", p): [] for p in range(2)}
    for e in events:
        sources[("events", zlib.crc32(e["id"].encode()) % partitions)].append(orjson.dumps(e))
    for lab in labels:
        sources[("labels", zlib.crc32(lab["id"].encode()) % 2)].append(orjson.dumps(lab))
    core = LearnerCore(cfg, learner_plan(cfg), live=False, event_partitions=range(partitions), label_partitions=[0, 1])
    pos = dict.fromkeys(sources, 0)
    alerts = []
    while left := [s for s in sources if pos[s] < len(sources[s])]:
        topic, p = source = left[int(rng.integers(0, len(left)))]
        raws = sources[source][pos[source]:pos[source] + int(rng.integers(1, 400))]
        offsets = list(range(pos[source], pos[source] + len(raws)))
        pos[source] += len(raws)
        if topic == "events":
            batch, rejects = parse_events(schema, p, offsets, raws)
            assert not rejects and not core.add_events(batch)
        else:
            rows, rejects = parse_label_messages(p, offsets, raws, "id", "label", "binary")
            assert not rejects
            core.add_labels(p, rows)
        for outcome in ([core.step()] if left else []):
            assert not outcome.turned_labels and not outcome.unusable
            alerts += outcome.alerts
    alerts += core.step(flush=True).alerts
    return core, [(a.alert_id, a.position.event_id) for a in alerts if a.kind == "concept_drift"]


@pytest.mark.parametrize("seed", [1, 2])
def test_concept_alerts_are_the_same_on_any_partitioning_and_interleaving_and_in_backtest(
        tmp_path: Path, seed: int) -> None:
    cfg = config()
    events, labels = stream(seed)
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lab) + b"\n" for lab in labels))
    result = backtest(cfg, tmp_path / "events.jsonl", labels=tmp_path / "labels.jsonl")
    expected = [(a.alert_id, a.position.event_id) for a in result.alerts if a.kind == "concept_drift"]
    drifts = [a for a in result.alerts if a.kind == "concept_drift" and a.severity == "drift"]
    assert drifts and drifts[0].position.offset >= CHANGE  # the change is found, after it happened
    assert not result.label_rejects and result.labels == len(labels)
    assert result.learner is not None
    for partitions, run_seed in ((1, 10), (3, 11), (3, 12), (12, 13)):
        core, alerts = live(cfg, events, labels, partitions, seed * 100 + run_seed)
        # the same alerts, ids included; in the order they were emitted (live, poll by poll) or
        # sorted by position chunk by chunk (backtest): a drift dated before an earlier warning differs
        assert sorted(alerts) == sorted(expected), (partitions, run_seed)
        assert core.learner.seen == result.learner.learner.seen == len(events)
        assert core.learner.trained == result.learner.learner.trained < len(events)  # quarantined: not learned
        assert core.learner.metric == result.learner.learner.metric


def _event(event_id: str, ts: int, label: int | None = None) -> WaitingEvent:
    return WaitingEvent(event_id, {}, 0, ts, ts, label=label, label_ts=ts if label is not None else -(2**62))


def test_steps_wait_for_both_topics_and_come_in_time_order() -> None:
    order = LearningOrder([0], [0], allowed_lateness_ms=0, idle_ms=1e12, max_age_ms=None, max_pending=100)
    out = Turned([])
    order.add_events(0, [_event("a", 10), _event("b", 20, label=1), _event("c", 30)], 30, False, 0, out)
    order.add_labels(0, [Label("a", 0, 25, 0, 0)], False, 0, out)
    order.advance(0)
    # the frontier is the slower topic's: labels at 25
    assert [(k, e.event_id) for k, e in order.steps()] == [(0, "a"), (0, "b"), (1, "b")]
    order.add_labels(0, [Label("c", 1, 40, 0, 1)], False, 0, out)
    order.add_events(0, [_event("d", 50)], 50, False, 0, out)
    order.advance(0)
    # a learns at 25 (its label's time), c arrives at 30; its learning at 40 waits for a later label
    assert [(k, e.event_id) for k, e in order.steps()] == [(1, "a"), (0, "c")]
    order.add_labels(0, [Label("z", 1, 60, 0, 2)], False, 0, out)
    order.advance(0)
    assert [(k, e.event_id) for k, e in order.steps()] == [(1, "c")]  # d (at 50) waits for an event past it
    assert not out.labels and order.pending == 1 and list(order.orphans) == ["z"]


def test_joins_are_bounded_by_event_time_and_late_labels_are_turned_away() -> None:
    order = LearningOrder([0], [0], allowed_lateness_ms=100, idle_ms=1e12, max_age_ms=1000, max_pending=100)
    out = Turned([])
    order.add_events(0, [_event("a", 0), _event("b", 500)], 500, False, 0, out)
    order.add_labels(0, [Label("b", 1, 5000, 0, 0), Label("x", 1, 5001, 0, 1), Label("y", 0, 4000, 0, 2)], False, 0,
                     out)
    assert [(lab.event_id, why[:5]) for lab, why in out.labels] == [("y", "late:")]  # 1001 behind 5001
    order.add_events(0, [_event("c", 7000)], 7000, False, 0, out)
    order.advance(0)
    list(order.steps())
    order.expire(out)
    # a and b waited more than 1000 ms of event time (b's label came 4500 ms after it: not joined)
    assert out.expired_events == 2 and order.pending == 1
    assert {lab.event_id for lab, _ in out.labels} == {"y"}  # b's and x's events could still come
    order.add_labels(0, [Label("w", 1, 8000, 0, 3)], False, 0, out)
    order.advance(0)  # the frontier at 6900: no event to come can be within 1000 ms of 5000 or 5001
    order.expire(out)
    assert [lab.event_id for lab, _ in out.labels] == ["y", "b", "x"] and list(order.orphans) == ["w"]


def test_due_counts_the_events_with_a_step_still_to_take() -> None:
    order = LearningOrder([0], [0], allowed_lateness_ms=0, idle_ms=1e12, max_age_ms=None, max_pending=2)
    out = Turned([])
    order.add_events(0, [_event("a", 10), _event("b", 20, label=1), _event("c", 30), _event("d", 40)], 40, False, 0,
                     out)
    assert order.due == 3 and out.expired_events == 1  # a pushed out by the cap of 2 unlabelled
    order.add_labels(0, [Label("c", 0, 35, 0, 0)], False, 0, out)
    order.advance(0)
    taken = list(order.steps())
    assert [(k, e.event_id) for k, e in taken] == [(0, "b"), (1, "b"), (0, "c")]
    assert order.due == 2  # c to learn at 35, d to arrive
    order.add_labels(0, [Label("d", 1, 50, 0, 1)], False, 0, out)
    order.add_events(0, [_event("e", 60)], 60, False, 0, out)
    order.advance(0)
    assert [(k, e.event_id) for k, e in order.steps()] == [(1, "c"), (0, "d")]  # d learns at 50: not yet
    assert order.due == 2 and order.due == sum(not e.arrived or e.label is not None for e in order.waiting.values())


def test_a_sample_is_the_same_events_on_any_partitioning_and_in_backtest(tmp_path: Path) -> None:
    cfg = config(sample=0.5)
    events, labels = stream(3)
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lab) + b"\n" for lab in labels))
    result = backtest(cfg, tmp_path / "events.jsonl", labels=tmp_path / "labels.jsonl")
    assert result.learner is not None
    whole = result.learner
    assert whole.learner.seen + whole.sampled_out == len(events)
    assert abs(whole.learner.seen / len(events) - 0.5) < 0.03  # about half, by the ids' hash
    expected = [(a.alert_id, a.position.event_id) for a in result.alerts if a.kind == "concept_drift"]
    assert expected and all(a.details["sample"] == 0.5 for a in result.alerts if a.kind == "concept_drift")
    core, alerts = live(cfg, events, labels, 3, seed=31)
    assert (core.learner.seen, core.sampled_out, core.learner.metric) == \
        (whole.learner.seen, whole.sampled_out, whole.learner.metric)
    assert alerts == expected


def test_the_same_events_cut_into_polls_of_1_7_and_5000_give_the_same_concept_alerts(tmp_path: Path) -> None:
    cfg = config()
    events, labels = stream(4)
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lab) + b"\n" for lab in labels))
    runs = [backtest(cfg, tmp_path / "events.jsonl", labels=tmp_path / "labels.jsonl", chunk_size=size)
            for size in (1, 7, 5000)]
    ids = [[a.alert_id for a in r.alerts if a.kind == "concept_drift"] for r in runs]
    assert ids[0] and ids[0] == ids[1] == ids[2]
    assert len({(r.learner.learner.metric, r.learner.learner.trained, r.quarantined) for r in runs}) == 1
