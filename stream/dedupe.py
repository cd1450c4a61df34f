"""Duplicate event ids: the second event with an id already seen is not judged or learned twice.

Ids are remembered per partition in a bounded window of the most recent ones (a capacity, not
the stream's length, bounds the memory); a duplicate further back than that is not caught, and
the capacity is the stated limit. The window is part of the role's checkpointed state, so live,
backtest and a restarted role reject the same events.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

import numpy as np

from driftline.stream.events import EventBatch, Reject


class RecentIds:
    """The last ``capacity`` accepted ids of one partition, each with the offset it was first seen at.

    Guaranteed: whatever the batching, the same events are rejected, and :meth:`state_dict`
    lists the same ids, oldest first (a batch without duplicates is handled in bulk, one
    with duplicates event by event; both give what the event-by-event rule gives).
    """

    def __init__(self, capacity: int = 10_000):
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        #: id -> offset where it was first seen; insertion-ordered, so the oldest come first
        self._seen: dict[str, int] = {}

    def split(self, batch: EventBatch) -> tuple[EventBatch, list[Reject]]:
        """The batch without events whose id was seen before, and a reject for each of those."""
        if self.capacity == 0 or not len(batch):
            return batch, []
        fresh = dict(zip(batch.ids, batch.offsets.tolist()))
        if len(fresh) == len(batch) and self._seen.keys().isdisjoint(fresh):  # the common case, in C
            self._seen.update(fresh)
            _forget_oldest(self._seen, len(self._seen) - self.capacity)
            return batch, []
        return self._split_one_by_one(batch)

    def _split_one_by_one(self, batch: EventBatch) -> tuple[EventBatch, list[Reject]]:
        """:meth:`split` for a batch with duplicates: the rule applied event by event."""
        seen = self._seen
        order = deque(seen)  # the ids oldest first, to forget the oldest in O(1)
        keep = np.ones(len(batch), dtype=bool)
        rejects = []
        for i, (event_id, offset) in enumerate(zip(batch.ids, batch.offsets.tolist())):
            first = seen.get(event_id)
            if first is not None:
                keep[i] = False
                rejects.append(Reject(batch.partition, offset, batch.raw[i] if batch.raw else None,
                                      f"duplicate id {event_id!r:.80} (first seen at offset {first})"))
                continue
            seen[event_id] = offset
            order.append(event_id)
            if len(seen) > self.capacity:
                del seen[order.popleft()]
        if not rejects:
            return batch, []
        return select(batch, keep), rejects

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "ids": list(self._seen.items())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seen = {k: v for k, v in state["ids"]}


def _forget_oldest(seen: dict[str, int], n: int) -> None:
    """Remove the ``n`` oldest entries of ``seen`` (none when ``n <= 0``)."""
    for key in list(islice(seen, max(n, 0))):
        del seen[key]


def select(batch: EventBatch, keep: np.ndarray) -> EventBatch:
    return batch.take(np.flatnonzero(keep))
