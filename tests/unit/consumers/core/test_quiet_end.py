"""A quarantine ends on its detector's quiet time at a point fixed by the data: the N-th
arrival of the stream since its start (or since the detector's latest drift alert), whatever
the partitioning and however the polls fall; its held events are then learned, none lost."""

from __future__ import annotations

import numpy as np
import pytest
from polls_support import spread

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events
from driftline.stream.messages import Alert, Position, Window, alert_id
from driftline.stream.synthetic import FEATURES, generate

QUIET = 300
N = 3000


def config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 500},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"]},
        "policies": [{"when": {"kind": "data_drift", "detector": "ks-income"}, "do": ["quarantine"]}],
        "models": {"quarantine_quiet_events": QUIET},
    })


def drift_alert(event: dict, detector: str = "ks-income") -> Alert:
    return Alert(
        alert_id=alert_id("t", detector, "income", event["id"]), stream="t", kind="data_drift", severity="drift",
        feature="income", detector=detector, statistic=1.0, p_value=None, threshold=0.5,
        position=Position(partition=0, offset=0, ts=event["ts"], event_id=event["id"]),
        window=Window(reference_n=500, current_n=500), detected_at=event["ts"],
    )


def run(events: list[dict], alerts: list[Alert], partitions: int, seed: int) -> tuple[LearnerCore, list, int]:
    """The core fed in random polls over ``partitions`` partitions, stepping after each and
    replaying a quarantine's held events when it ends, as the live learner does: the core,
    the ends ``(alert id, event id it ended at, held)`` and the events held in all."""
    cfg = config()
    schema = stream_schema(cfg)
    rng = np.random.default_rng(seed)
    parts = spread(events, partitions)
    core = LearnerCore(cfg, learner_plan(cfg), live=False, event_partitions=range(partitions))
    core.observe(alerts)
    held: dict[str, list[tuple[int, int, bytes]]] = {}
    ends, pos, total = [], dict.fromkeys(parts, 0), 0

    def step(flush: bool) -> None:
        nonlocal total
        while True:
            outcome = core.step(flush=flush)
            for h in outcome.held:
                held.setdefault(h.quarantine.alert_id, []).append((h.partition, h.offset, h.raw))
                total += 1
            if not outcome.released:
                return
            for end in outcome.released:
                events_held = held.pop(end.quarantine.alert_id, [])
                ends.append((end.quarantine.alert_id, end.event_id, len(events_held)))
                batches = []
                for p in sorted({p for p, _, _ in events_held}):
                    mine = sorted((o, r) for q, o, r in events_held if q == p)
                    batches.append(parse_events(schema, p, [o for o, _ in mine], [r for _, r in mine])[0])
                core.replay(batches)

    while left := [p for p in parts if pos[p] < len(parts[p])]:
        p = left[int(rng.integers(0, len(left)))]
        chunk = parts[p][pos[p]:pos[p] + int(rng.integers(1, 300))]
        pos[p] += len(chunk)
        batch, _ = parse_events(schema, p, [o for o, _ in chunk], [r for _, r in chunk])
        core.add_events(batch, caught_up=pos[p] == len(parts[p]))
        step(flush=False)
    step(flush=True)
    return core, ends, total


@pytest.mark.parametrize("partitions", [1, 3])
def test_the_quarantine_ends_at_the_quiet_arrival_and_its_events_are_learned(partitions: int) -> None:
    events = list(generate(N, [], seed=11))
    start = 1000
    core, ends, held = run(events, [drift_alert(events[start])], partitions, seed=partitions)
    # the alert's own event and the QUIET - 1 after it, in stream order (event time, then id)
    in_order = sorted(events, key=lambda e: (e["ts"], e["id"]))
    index = next(i for i, e in enumerate(in_order) if e["ts"] >= events[start]["ts"])
    (alert_id_, ended_at, n_held), = ends
    assert ended_at == in_order[index + QUIET - 1]["id"]
    assert n_held == held == QUIET
    assert core.learner.trained == N  # the held events were learned once released: none lost
    assert not core.book.active


def test_a_later_drift_alert_of_its_detector_restarts_the_quiet_count() -> None:
    events = list(generate(N, [], seed=12))
    again = 1200  # inside the first quiet time: the count starts over there
    core, ends, held = run(events, [drift_alert(events[1000]), drift_alert(events[again])], 1, seed=0)
    first = alert_id("t", "ks-income", "income", events[1000]["id"])
    second = alert_id("t", "ks-income", "income", events[again]["id"])
    by_alert = {a: (at, n) for a, at, n in ends}
    # both end together, QUIET arrivals after the later alert; the earlier one held since its own start
    assert by_alert[first] == (events[again + QUIET - 1]["id"], again - 1000 + QUIET)
    assert by_alert[second][0] == events[again + QUIET - 1]["id"]
    assert core.learner.trained == N


def test_the_end_is_the_same_for_any_partitioning_and_polls() -> None:
    events = list(generate(N, [], seed=13))
    alerts = [drift_alert(events[700])]
    runs = [run(events, alerts, partitions, seed) for partitions, seed in ((1, 0), (3, 1), (5, 2), (3, 9))]
    assert len({tuple(r[1]) for r in runs}) == 1
    predictions = [[c.learner.pipeline.predict_one(events[i]["features"]) for i in range(0, N, 97)]
                   for c, _, _ in runs]
    assert all(p == predictions[0] for p in predictions)  # one model: the same events learned in one order
