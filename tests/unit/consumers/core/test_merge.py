"""One order for the stream: the intake and the merge behind the watermark give the same
sequence of judged events for any partitioning and any interleaving of the partitions' polls."""

from __future__ import annotations

import zlib

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.merge import StreamMerge
from driftline.stream.codes import decode, encode
from driftline.stream.events import parse_events
from driftline.stream.synthetic import FEATURES, generate

CFG = DriftlineConfig.model_validate({"stream": {"name": "t", "features": FEATURES}})
LATENESS = 200


def events(n: int, seed: int) -> list[dict]:
    out = list(generate(n, [], seed=seed))
    rng = np.random.default_rng(seed)
    for e in out:  # jitter event times within the lateness, as producers on many machines do
        e["ts"] += int(rng.integers(0, LATENESS // 2))
    return out


def judged_sequence(evs: list[dict], partitions: int, seed: int, polls: int = 7) -> list[str]:
    """Split ``evs`` over partitions by id, read them in random polls, merge; the released ids."""
    rng = np.random.default_rng(seed)
    streams: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    for e in evs:
        streams[zlib.crc32(e["id"].encode()) % partitions].append(orjson.dumps(e))
    intakes = {p: PartitionIntake(p, 1000, LATENESS) for p in streams}
    merge = StreamMerge(list(streams), LATENESS, idle_ms=1e12)
    pos = {p: 0 for p in streams}
    out: list[str] = []
    while any(pos[p] < len(streams[p]) for p in streams):
        p = int(rng.choice([q for q in streams if pos[q] < len(streams[q])]))
        take = int(rng.integers(1, polls + 1))
        raws = streams[p][pos[p]:pos[p] + take]
        batch, rejects = parse_events(stream_schema(CFG), p, list(range(pos[p], pos[p] + len(raws))), raws)
        _, dropped, codes = intakes[p].admit(batch, rejects)
        assert not dropped
        merge.add(decode(encode(codes)), 0)  # through the wire format, as live
        pos[p] += len(raws)
        released = merge.release(0)
        if not released.empty:
            out += released.batch.ids
    final = merge.release(0, flush=True)
    return out + (final.batch.ids if not final.empty else [])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_judged_order_does_not_depend_on_partitioning_or_timing(seed: int) -> None:
    evs = events(3000, seed)
    expected = [e["id"] for e in sorted(evs, key=lambda e: (e["ts"], e["id"]))]
    for partitions in (1, 3, 12):
        assert judged_sequence(evs, partitions, seed=seed * 100 + partitions) == expected


def test_an_event_later_than_the_lateness_behind_its_partition_is_turned_away() -> None:
    raws = [orjson.dumps({"id": f"e{i}", "ts": ts, "features": {}}) for i, ts in enumerate([1000, 2000, 1500, 700])]
    batch, rejects = parse_events(stream_schema(CFG), 0, [0, 1, 2, 3], raws)
    accepted, dropped, codes = PartitionIntake(0, 100, allowed_lateness_ms=600).admit(batch, rejects)
    assert accepted.ids == ["e0", "e1", "e2"]  # 1500 is within 600 of 2000; 700 is not
    assert [r.offset for r in dropped] == [3] and "late" in dropped[0].error
    assert codes.max_ts == 2000


def test_an_idle_partition_is_passed_over_and_an_all_idle_stream_is_judged_whole() -> None:
    merge = StreamMerge([0, 1], allowed_lateness_ms=100, idle_ms=1000, now_ms=0)
    raws = [orjson.dumps({"id": f"e{i}", "ts": 1000 + i, "features": {}}) for i in range(500)]
    batch, _ = parse_events(stream_schema(CFG), 0, list(range(500)), raws)
    _, _, codes = PartitionIntake(0, 100, 100).admit(batch)
    codes.caught_up = True
    merge.add(codes, now_ms=0)
    assert merge.release(now_ms=10).empty  # partition 1 has said nothing: it holds the stream back
    heartbeat = PartitionIntake(1, 100, 100).admit(parse_events(stream_schema(CFG), 1, [], [])[0])[2]
    heartbeat.caught_up = True
    merge.add(heartbeat, now_ms=400)  # its instance says it is read to its end ...
    assert merge.release(now_ms=500).empty  # ... but it is not idle for long enough yet
    assert merge.release(now_ms=1500).empty  # quiet since is not enough: the instance must say so
    for p in (0, 1):  # each instance says, over a second after its first word, that it is still read to its end
        heartbeat = PartitionIntake(p, 100, 100).heartbeat(500 if p == 0 else 0)
        merge.add(heartbeat, now_ms=1450)
    released = merge.release(now_ms=1500)  # both idle: everything that came is judged
    assert released.batch is not None and len(released.batch) == 500
    assert merge.buffered == 0


def test_quiet_time_is_counted_on_the_instance_clock_not_on_when_the_judge_takes_its_words_in() -> None:
    """A judge that lags takes an instance's words in late and in a burst: the instance brought
    data at its 0 and said "read to the end" at its 200; taken in at the judge's 0 and 5,000, that
    is no second of quiet at the instance, so the partition is not passed over."""
    merge = StreamMerge([0, 1], allowed_lateness_ms=100, idle_ms=1000, now_ms=0)
    for p in (0, 1):
        raws = [orjson.dumps({"id": f"p{p}-{i}", "ts": 1000 + i, "features": {}}) for i in range(100 * (p + 1))]
        batch, _ = parse_events(stream_schema(CFG), p, list(range(len(raws))), raws)
        codes = PartitionIntake(p, 100, 100).admit(batch)[2]
        merge.add(codes, now_ms=0, said_ms=0)
    heartbeat = PartitionIntake(0, 100, 100).heartbeat(100)
    merge.add(heartbeat, now_ms=5000, said_ms=200)
    assert merge.idle(5000) == []  # quiet for 200 ms at the instance, though 5 s here
    merge.add(PartitionIntake(0, 100, 100).heartbeat(100), now_ms=5100, said_ms=1200)
    assert merge.idle(5100) == [0]  # a second at the instance: passed over


def test_a_partition_whose_instance_went_silent_holds_the_stream_back() -> None:
    merge = StreamMerge([0, 1], allowed_lateness_ms=100, idle_ms=300, now_ms=0)
    for p in (0, 1):
        raws = [orjson.dumps({"id": f"p{p}-{i}", "ts": 1000 + i, "features": {}}) for i in range(400 + 100 * p)]
        batch, _ = parse_events(stream_schema(CFG), p, list(range(len(raws))), raws)
        codes = PartitionIntake(p, 100, 100).admit(batch)[2]
        codes.caught_up = True
        merge.add(codes, now_ms=0)
    # partition 0's instance crashed (no word since): however long, it is not passed over
    heartbeat = PartitionIntake(1, 100, 100).admit(parse_events(stream_schema(CFG), 1, [], [])[0])[2]
    heartbeat.caught_up = True
    merge.add(heartbeat, now_ms=10_000)
    released = merge.release(now_ms=10_000)
    assert released.batch is not None and int(released.batch.ts.max()) < 1000 + 400 - 100  # behind partition 0
    assert merge.idle(10_000) == [1]


def test_the_merge_state_round_trips() -> None:
    merge = StreamMerge([0], allowed_lateness_ms=10_000, idle_ms=1e9)
    raws = [orjson.dumps({"id": f"e{i}", "ts": 1000 + i, "features": {}}) for i in range(50)]
    batch, _ = parse_events(stream_schema(CFG), 0, list(range(50)), raws)
    merge.add(PartitionIntake(0, 100, 10_000).admit(batch)[2], 0)
    assert merge.release(0).empty and merge.buffered == 50
    state, blob = merge.state_dict()
    restored = StreamMerge([0], allowed_lateness_ms=10_000, idle_ms=1e9)
    restored.load_state_dict(orjson.loads(orjson.dumps(state)), blob, 0)
    assert restored.release(0, flush=True).batch.ids == merge.release(0, flush=True).batch.ids
