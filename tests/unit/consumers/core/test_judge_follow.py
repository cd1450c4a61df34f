"""Live, the learner follows the judge's decisions: where the judge passed an idle partition over
and the events that came afterwards were late at the judge, they are late at the learner too,
and no others, whatever the learner's own polls and wall clock (:mod:`driftline.consumers.core.order.judged`)."""

from __future__ import annotations

import zlib

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.judged import JudgeProgress
from driftline.consumers.core.order.merge import StreamMerge
from driftline.consumers.core.plan import learner_plan
from driftline.stream.codes import decode, encode
from driftline.stream.events import parse_events
from driftline.stream.synthetic import FEATURES, generate

PARTITIONS = 3
LATENESS = 200
IDLE_MS = 500
#: partition 2's producer is down for this share of the stream: its events in it come afterwards
OUTAGE = (0.4, 0.6)


def config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"},
                   "allowed_lateness_ms": LATENESS, "idle_partition_ms": IDLE_MS},
        "reference": {"first_n": 500},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"]},
    })


def partitioned(n: int, seed: int) -> tuple[dict[int, list[bytes]], int]:
    """The events by partition (by id); and how many of partition 2's come before its outage."""
    evs = list(generate(n, [], seed=seed))
    out: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    before = 0
    for i, e in enumerate(evs):
        p = zlib.crc32(e["id"].encode()) % PARTITIONS
        out[p].append(orjson.dumps(e))
        before += p == 2 and i < n * OUTAGE[0]
    return out, before


def judge(cfg: DriftlineConfig, parts: dict[int, list[bytes]], first_back: int, seed: int):
    """The judge as live: random polls of the partitions, partition 2 silent during the outage (read
    to its end, so passed over once idle); its progress records, released and late event ids."""
    rng = np.random.default_rng(seed)
    intakes = {p: PartitionIntake(p, 1000, LATENESS) for p in parts}
    merge = StreamMerge(list(parts), LATENESS, IDLE_MS, now_ms=0)
    pos = dict.fromkeys(parts, 0)
    records: list[tuple[int, dict[int, int], bool]] = []
    released: list[str] = []
    late: list[str] = []
    now = 0.0
    while any(pos[p] < len(parts[p]) for p in parts):
        now += float(rng.integers(10, 120))
        ready = {p: len(parts[p]) for p in parts}
        if sum(pos[q] for q in (0, 1)) < 0.9 * (len(parts[0]) + len(parts[1])):
            ready[2] = min(ready[2], first_back)  # the outage: what partition 2 brings next is not written yet
        for p in parts:  # every reader speaks at each tick: data, or "read to the end"
            take = int(rng.integers(0, 60))
            raws = parts[p][pos[p]:min(ready[p], pos[p] + take)]
            batch, rejects = parse_events(stream_schema(cfg), p, list(range(pos[p], pos[p] + len(raws))), raws)
            _, dropped, codes = intakes[p].admit(batch, rejects)
            assert not dropped
            pos[p] += len(raws)
            codes.next_offset, codes.caught_up = pos[p], pos[p] >= ready[p]
            merge.add(decode(encode(codes)), now)
        out = merge.release(now)
        released += [] if out.empty else out.batch.ids
        late += [event_id for _, _, event_id in out.late]
        records.append((merge.frontier, {p: part.next_offset for p, part in merge.marks.parts.items()}, merge.quiet))
    for _ in range(2 * IDLE_MS // 100):  # the end: every reader says "read to the end" until all are idle
        now += 100
        for p in parts:
            merge.add(intakes[p].heartbeat(pos[p]), now)
        out = merge.release(now)
        released += [] if out.empty else out.batch.ids
        records.append((merge.frontier, {p: part.next_offset for p, part in merge.marks.parts.items()}, merge.quiet))
    return records, released, late, merge.skipped


def learn(cfg: DriftlineConfig, parts: dict[int, list[bytes]], records, seed: int, follow: bool = True):
    """The learner as live: its own random polls and wall clock, the judge's records read at random
    points (in their order), steps after each poll."""
    rng = np.random.default_rng(seed)
    schema = stream_schema(cfg)
    core = LearnerCore(cfg, learner_plan(cfg), live=False, event_partitions=range(PARTITIONS), now_ms=0,
                       follow_judge=follow)
    pos = dict.fromkeys(parts, 0)
    heard = 0
    now = 0.0
    frontier = -(2**62)
    while any(pos[p] < len(parts[p]) for p in parts) or heard < len(records):
        now += float(rng.integers(1, 2000))  # slow, uneven polls: on its own clock it would pass partitions over
        p = int(rng.integers(0, PARTITIONS))
        raws = parts[p][pos[p]:pos[p] + int(rng.integers(1, 300))]
        if raws:
            batch, _ = parse_events(schema, p, list(range(pos[p], pos[p] + len(raws))), raws)
            pos[p] += len(raws)
            core.add_events(batch, caught_up=pos[p] >= len(parts[p]), now_ms=now)
            core.order.read_to(p, pos[p])
        for q in range(PARTITIONS):
            if q != p:
                core.heard("events", q, True, now)
        for _ in range(int(rng.integers(0, 4))):
            if heard < len(records):
                f, offsets, quiet = records[heard]
                frontier = max(frontier, f)
                if follow:
                    core.judge_heard(f, offsets, quiet)
                heard += 1
        core.step(now, judged_to=frontier)
    core.step(now + 1, judged_to=2**62)
    return core


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_learner_learns_exactly_the_events_the_judge_judged(seed: int) -> None:
    cfg = config()
    parts, first_back = partitioned(6000, seed)
    records, released, late, skipped = judge(cfg, parts, first_back, seed)
    assert skipped and late  # the judge passed partition 2 over, and some of its events came late
    assert len(released) + len(late) == 6000
    models = []
    for run in range(3):
        core = learn(cfg, parts, records, seed * 10 + run)
        assert core.learner.seen == len(released)  # every judged event learned (its label inline)
        assert core.late_events == len(late)  # and the judge's late ones not
        assert core.order.judge is not None and core.order.judge.ahead == 0
        models.append(core.learner.metric)
    assert models[0] == models[1] == models[2]  # the same events in the same order: the same model


def test_on_its_own_clock_the_learner_would_learn_other_events() -> None:
    """The failure the above guards against: a learner passing partitions over on its own clock."""
    cfg = config()
    parts, first_back = partitioned(6000, 1)
    records, released, _, _ = judge(cfg, parts, first_back, 1)
    seen = {learn(cfg, parts, records, run, follow=False).learner.seen for run in range(3)}
    assert seen != {len(released)}


def test_progress_records_settle_events_read_ahead_of_the_judge() -> None:
    judge = JudgeProgress()
    ids = ["a", "b", "c", "d"]
    keep = judge.admit(0, np.array([0, 1, 2, 3]), np.array([100, 200, 300, 400]), ids)
    assert keep.all() and judge.ahead == 4  # nothing known yet: all wait
    assert judge.heard(150, {0: 2, 1: 0}) == []  # a, b taken in at the frontier before (none)
    assert judge.heard(350, {0: 2, 1: 5}) == ["c"]  # c not taken in, and the frontier went past it
    assert judge.ahead == 1  # d waits on
    assert judge.bound({0: 4, 1: 5}) == 350  # the newest read past
    # taken in later, the frontier then at 350: an event at 320 was late, one at 360 judged
    judge.heard(500, {0: 6, 1: 5})
    assert judge.admit(0, np.array([4, 5]), np.array([320, 360]), ["e", "f"]).tolist() == [False, True]
    assert judge.admit(0, np.array([6]), np.array([450]), ["g"]).tolist() == [False]  # not taken in, 500 past it


def test_time_the_reader_waited_is_no_quiet_time_of_its_partitions() -> None:
    from driftline.consumers.core.order.watermark import Watermarks

    marks = Watermarks([0], allowed_lateness_ms=0, idle_ms=1000, now_ms=0)
    marks.heard(0, 100, caught_up=True, now_ms=0, brought=True)
    marks.waited(5000)  # the reader waited 5 s on the judge, reading nothing
    marks.heard(0, 100, caught_up=True, now_ms=5500, brought=False)
    assert marks.idle(5500) == []  # 0.5 s of quiet, not 5.5
    marks.heard(0, 100, caught_up=True, now_ms=6100, brought=False)
    assert marks.idle(6100) == [0]


def test_records_no_event_still_to_read_can_need_are_dropped_as_they_come() -> None:
    from driftline.consumers.core.order import judged

    read = {0: 0}
    progress = JudgeProgress(read)
    for k in range(1, 5 * judged.PRUNE_AT):  # a learner reading all the records after a restart
        progress.heard(100 * k, {0: 10 * k})
    assert len(progress._frontiers) > 2 * judged.PRUNE_AT  # it has read nothing yet: all may be needed
    read[0] = 10 * 4 * judged.PRUNE_AT + 5  # read past most of them
    progress.heard(100 * 5 * judged.PRUNE_AT, {0: 10 * 5 * judged.PRUNE_AT})
    assert len(progress._frontiers) <= judged.PRUNE_AT + 2
    # what is kept still says where each event still to read was taken in
    assert progress.bound() == 100 * 4 * judged.PRUNE_AT
    keep = progress.admit(0, np.array([read[0], read[0] + 1]), np.array([100 * 4 * judged.PRUNE_AT - 1,
                                                                         100 * 4 * judged.PRUNE_AT]), ["x", "y"])
    assert keep.tolist() == [False, True]  # taken in at the frontier 100 * 4 * PRUNE_AT
