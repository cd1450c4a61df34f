"""Duplicate event ids: the second event with an id already seen is not judged or learned twice.

Ids are remembered per partition in a bounded window of the most recent ones (a capacity, not
the stream's length, bounds the memory); a duplicate further back than that is not caught, and
the capacity is the stated limit. The window is part of the role's checkpointed state, so live,
backtest and a restarted role reject the same events.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from driftline.stream.events import EventBatch, Reject


class RecentIds:
    def __init__(self, capacity: int = 10_000):
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def split(self, batch: EventBatch) -> tuple[EventBatch, list[Reject]]:
        """The batch without events whose id was seen before, and a reject for each of those."""
        if self.capacity == 0 or not len(batch):
            return batch, []
        seen = self._seen
        ids = batch.ids
        if len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):  # the common case, in C
            seen.update(zip(ids, batch.offsets.tolist()))
            for _ in range(len(seen) - self.capacity):
                seen.popitem(last=False)
            return batch, []
        keep = np.ones(len(batch), dtype=bool)
        rejects = []
        for i, event_id in enumerate(ids):
            offset = int(batch.offsets[i])
            first = seen.get(event_id)
            if first is not None:
                keep[i] = False
                rejects.append(Reject(batch.partition, offset, batch.raw[i] if batch.raw else None,
                                      f"duplicate id {event_id!r:.80} (first seen at offset {first})"))
                continue
            seen[event_id] = offset
            if len(seen) > self.capacity:
                seen.popitem(last=False)
        if not rejects:
            return batch, []
        return select(batch, keep), rejects

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "ids": list(self._seen.items())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seen = OrderedDict((k, v) for k, v in state["ids"])


def select(batch: EventBatch, keep: np.ndarray) -> EventBatch:
    idx = np.flatnonzero(keep)
    return EventBatch(
        partition=batch.partition,
        offsets=batch.offsets[idx],
        ids=[batch.ids[i] for i in idx],
        ts=batch.ts[idx],
        numeric={k: v[idx] for k, v in batch.numeric.items()},
        categorical={k: v[idx] for k, v in batch.categorical.items()},
        label=batch.label[idx],
        prediction=batch.prediction[idx],
        raw=[batch.raw[i] for i in idx] if batch.raw else [],
        keys=[batch.keys[i] for i in idx] if batch.keys else [],
        undeclared=batch.undeclared,
    )
