"""Duplicate ids: the same rejects whatever the batching, within a bounded window of ids."""

from __future__ import annotations

import random
from collections import OrderedDict

import orjson
import pytest

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


def one_by_one(ids: list[str], capacity: int) -> tuple[list[int], list[tuple[str, int]]]:
    """The rule itself, event by event: (offsets rejected, the remembered ids oldest first)."""
    seen: OrderedDict[str, int] = OrderedDict()
    rejected = []
    for offset, event_id in enumerate(ids):
        if event_id in seen:
            rejected.append(offset)
            continue
        seen[event_id] = offset
        if len(seen) > capacity:
            seen.popitem(last=False)
    return rejected, list(seen.items())


@pytest.mark.parametrize("capacity", [1, 7, 150, 5_000])
def test_bulk_and_event_by_event_paths_keep_the_rule(capacity: int) -> None:
    """Batches without duplicates take the bulk path, the others the event-by-event one; the
    rejects and the remembered window are the rule's whatever the mix (ids recur beyond the
    window, so forgotten ids come back as new)."""
    rng = random.Random(capacity)
    ids = [f"e{i}" for i in range(1_000)] + [f"e{rng.randrange(1_200)}" for _ in range(2_000)]
    chunks, left = [], len(ids)
    while left:
        chunks.append(min(left, rng.choice([1, 5, 40, 400])))
        left -= chunks[-1]
    kept, rejected, state = run(ids, chunks, capacity)
    want_rejected, want_ids = one_by_one(ids, capacity)
    assert sorted(set(range(len(ids))) - set(kept)) == want_rejected
    assert [tuple(pair) for pair in state["ids"]] == want_ids


def test_restored_state_rejects_the_same_events() -> None:
    ids = [f"e{i % 700}" for i in range(2_000)]
    raws = events(ids)
    first = RecentIds(300)
    first.split(parse_events(SCHEMA, 0, list(range(1_000)), raws[:1_000])[0])
    restored = RecentIds(300)
    restored.load_state_dict(orjson.loads(orjson.dumps(first.state_dict())))
    rest = parse_events(SCHEMA, 0, list(range(1_000, 2_000)), raws[1_000:])[0]
    a, b = first.split(rest), restored.split(rest)
    assert a[0].offsets.tolist() == b[0].offsets.tolist() and [r.error for r in a[1]] == [r.error for r in b[1]]
    assert first.state_dict() == restored.state_dict()
