"""Duplicate ids: the same rejects whatever the batching, within a bounded window of ids."""

from __future__ import annotations

import random

import orjson

from driftline.stream.dedupe import RecentIds
from driftline.stream.events import StreamSchema, parse_events

SCHEMA = StreamSchema("s", {"x": "numeric"})


def events(ids: list[str]) -> list[bytes]:
    return [orjson.dumps({"id": i, "ts": n, "features": {"x": 1.0}}) for n, i in enumerate(ids)]


def run(ids: list[str], chunks: list[int], capacity: int) -> tuple[list[int], list[str], dict]:
    raws = events(ids)
    recent, kept, rejected, start = RecentIds(capacity), [], [], 0
    for size in chunks:
        batch, _ = parse_events(SCHEMA, 0, list(range(start, start + size)), raws[start : start + size])
        batch, rejects = recent.split(batch)
        kept += batch.offsets.tolist()
        rejected += [r.error for r in rejects]
        start += size
    return kept, rejected, recent.state_dict()


def test_batching_does_not_change_which_events_are_duplicates() -> None:
    rng = random.Random(5)
    ids = [f"e{rng.randrange(400)}" for _ in range(2000)]
    whole = run(ids, [2000], capacity=150)
    single = run(ids, [1] * 2000, capacity=150)
    cuts = []
    left = 2000
    while left:
        cuts.append(min(left, rng.randrange(1, 300)))
        left -= cuts[-1]
    assert whole == single == run(ids, cuts, capacity=150)
    kept, rejected, state = whole
    assert rejected and len(kept) + len(rejected) == 2000
    assert len(state["ids"]) == 150  # bounded by the capacity, not the stream


def test_a_duplicate_names_where_the_id_was_first_seen() -> None:
    kept, rejected, _ = run(["a", "b", "a"], [3], capacity=10)
    assert kept == [0, 1] and rejected == ["duplicate id 'a' (first seen at offset 0)"]
