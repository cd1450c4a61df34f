"""The judge's path (codes on the wire, the merge behind the watermark, the detectors batch by
batch) gives the alerts of a plain reference computation: the whole stream sorted by
``(event time, events before rejected messages, id)`` with Python's sort and judged in one
call, for 1, 3 and 12 partitions, polls of random sizes and a checkpoint on the way."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.order.intake import PartitionIntake, reject_id
from driftline.consumers.core.order.merge import Messages, StreamMerge
from driftline.consumers.core.plan import monitor_plan
from driftline.stream.codes import decode, encode
from driftline.stream.events import parse_events
from driftline.stream.messages import Alert
from driftline.stream.synthetic import FEATURES, Drift, generate

N = 12_000
DRIFTS = [Drift("income mean shift", "data_drift", "income", 6000, "x1.5"),
          Drift("country mix shift", "data_drift", "country", 8000, "DE 40%->10%, new level PL 25%")]
CFG = DriftlineConfig.model_validate({
    "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"},
               "prediction": {"field": "prediction", "type": "binary"}},
    "reference": {"first_n": 2000},
})


def partitioned(seed: int, partitions: int, tick_ms: int) -> dict[int, list[bytes]]:
    """The seeded stream with drifts, its times on a grid of ``tick_ms`` (runs of equal times
    across partitions), split over partitions at random, with a few unreadable messages."""
    rng = np.random.default_rng(seed)
    streams: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    for e in generate(N, DRIFTS, seed=seed):
        e["ts"] -= e["ts"] % tick_ms
        streams[int(rng.integers(partitions))].append(orjson.dumps(e))
        if rng.random() < 0.002:
            streams[int(rng.integers(partitions))].append(b"{unreadable %d" % int(rng.integers(1 << 30)))
    return streams


def reference_alerts(streams: dict[int, list[bytes]]) -> list[Alert]:
    """Every message placed by its partition's order (a rejected one at the newest event time
    before it), sorted by Python, and the stream judged in one call."""
    records = []  # (ts, kind, id, partition, offset, raw)
    for p, raws in streams.items():
        newest = -(2**62)
        for offset, raw in enumerate(raws):
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                records.append((newest, 1, reject_id(raw), p, offset, raw))
                continue
            newest = max(newest, doc["ts"])
            records.append((doc["ts"], 0, doc["id"], p, offset, raw))
    records.sort(key=lambda r: r[:3])
    events = [r for r in records if r[1] == 0]
    batch, rejects = parse_events(stream_schema(CFG), 0, list(range(len(events))), [r[5] for r in events])
    assert not rejects and batch.ids == [r[2] for r in events]
    batch.partition, batch.partitions = -1, np.array([r[3] for r in events], dtype=np.int64)
    batch.offsets = np.array([r[4] for r in events], dtype=np.int64)
    messages = Messages(flags=np.array([float(r[1]) for r in records]),
                        partitions=np.array([r[3] for r in records], dtype=np.int64),
                        offsets=np.array([r[4] for r in records], dtype=np.int64),
                        ts=np.array([r[0] for r in records], dtype=np.int64), ids=[r[2] for r in records])
    return DriftEngine(monitor_plan(CFG)).process(batch, messages, live=False)


def judged_alerts(streams: dict[int, list[bytes]], seed: int) -> list[Alert]:
    """As the live roles judge: polls of random sizes per partition, in random turns, through
    the codes' wire format, a release after each; the judge's state checkpointed halfway."""
    rng = np.random.default_rng(seed)
    schema, plan = stream_schema(CFG), monitor_plan(CFG)
    lateness = CFG.stream.allowed_lateness_ms
    intakes = {p: PartitionIntake.of(CFG, p) for p in streams}
    engine, merge = DriftEngine(plan), StreamMerge(list(streams), lateness, idle_ms=float("inf"))
    pos = {p: 0 for p in streams}
    alerts: list[Alert] = []
    restarted = False
    while any(pos[p] < len(streams[p]) for p in streams):
        p = int(rng.choice([q for q in streams if pos[q] < len(streams[q])]))
        raws = streams[p][pos[p]:pos[p] + int(rng.integers(1, 900))]
        batch, rejects = parse_events(schema, p, list(range(pos[p], pos[p] + len(raws))), raws)
        merge.add(decode(encode(intakes[p].admit(batch, rejects)[2])), 0.0)
        pos[p] += len(raws)
        released = merge.release(0.0)
        if not released.empty:
            alerts += engine.process(released.batch, released.messages, live=False)  # type: ignore[arg-type]
        if not restarted and sum(pos.values()) > N // 2:  # a new judge takes over from the checkpoint
            restarted = True
            state, blob = merge.state_dict()
            engine_state = orjson.loads(orjson.dumps(engine.state_dict()))
            engine, merge = DriftEngine(plan), StreamMerge(list(streams), lateness, idle_ms=float("inf"))
            engine.load_state_dict(engine_state)
            merge.load_state_dict(orjson.loads(orjson.dumps(state)), blob, 0.0)
    released = merge.release(0.0, flush=True)
    if not released.empty:
        alerts += engine.process(released.batch, released.messages, live=False)  # type: ignore[arg-type]
    return alerts


def summary(alerts: list[Alert]) -> list[tuple]:
    """Everything an alert says but the wall clock (``details`` too: what the detector knew at
    the firing event, such as a chi-square test's unseen levels, whatever the batches)."""
    return [(a.alert_id, a.detector, a.severity, a.position.event_id, a.position.partition, a.position.offset,
             a.position.ts, a.statistic, a.p_value, a.threshold, a.window.reference_n, a.window.current_n,
             a.window.start_ts, a.window.end_ts, orjson.dumps(a.details, option=orjson.OPT_SORT_KEYS))
            for a in alerts]


@pytest.mark.parametrize("partitions", [1, 3, 12])
@pytest.mark.parametrize(("seed", "tick_ms"), [(4, 10), (9, 50)])
def test_the_judge_gives_the_reference_alerts_on_any_partitioning(partitions: int, seed: int, tick_ms: int) -> None:
    streams = partitioned(seed, partitions, tick_ms)
    expected = reference_alerts(streams)
    income = {a.detector for a in expected if a.feature == "income" and a.severity == "drift"}
    assert {"ks-income", "cusum-income"} <= income  # the drifts are there to be found
    assert any(a.feature == "country" and a.severity == "drift" for a in expected)
    assert any(r.startswith(b"{unreadable") for raws in streams.values() for r in raws)
    assert summary(judged_alerts(streams, seed * 100 + partitions)) == summary(expected)
