"""Snapshots of the online learner, to roll it back to before a drift.

The learner takes a snapshot (a deep copy of its River pipeline, in memory) every ``every``
trained events, labelled with the (partition, offset) of the last event it had learned; the
newest ``keep`` are kept. :meth:`SnapshotRing.before` finds the newest snapshot taken before a
drift began on that partition.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    partition: int
    offset: int
    trained: int
    pipeline: Any


class SnapshotRing:
    def __init__(self, every: int, keep: int):
        if every < 1 or keep < 1:
            raise ValueError("every and keep must be at least 1")
        self.every = every
        self._ring: deque[Snapshot] = deque(maxlen=keep)

    def maybe_take(self, pipeline: Any, partition: int, offset: int, trained: int) -> bool:
        """Snapshot ``pipeline`` if ``trained`` is a multiple of ``every``; True if taken."""
        if trained % self.every:
            return False
        self._ring.append(Snapshot(partition, offset, trained, copy.deepcopy(pipeline)))
        return True

    def before(self, partition: int, offset: int) -> Snapshot | None:
        """The newest snapshot whose last learned event of ``partition`` precedes ``offset``."""
        for snap in reversed(self._ring):
            if snap.partition == partition and snap.offset < offset:
                return snap
        return None

    def __len__(self) -> int:
        return len(self._ring)
