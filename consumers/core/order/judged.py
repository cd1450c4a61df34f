"""The judge's decisions on the events, as the learner follows them.

The judge merges the stream's partitions behind its frontier (:mod:`.merge`). Where it passes
an idle partition over, the events that partition brings afterwards behind the frontier are
*late at the judge*: no detector judges them. Whether that happens depends on the judge's
wall clock. A learner that decided the same on its own clock would learn another set of
events than the judge judged, and in another order (its alerts and its online rollbacks
would then depend on timing). So the learner, live, follows the judge's decisions instead of
making its own.

After every release the judge writes its *progress*: its frontier and, for every partition of
``events``, the next offset it has taken in. Both only grow. An event at ``(partition, offset)``
was taken in at the frontier of the last progress whose offset on that partition is not
past it, and it is late at the judge if its time is behind that frontier. An event the learner
reads before the judge has taken it in waits *ahead* until a progress says either: taken in
(then at a frontier not past its time: judged), or still not taken in by a frontier past its
time (late). And the learner's bound on ``events`` is the frontier of the newest progress up
to whose offsets it has read every partition: all the judge judged before that frontier, the
learner has read too.

So the learner learns exactly the events the judge judged, whatever the timing of either, and
where the judge passed nothing over, this is every event (within the intake's rules).

Pure computation: the progress records and the offsets read are passed in.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

import numpy as np

from driftline.consumers.core.order.watermark import NO_TIME
from driftline.stream.events import EventBatch

#: past twice this many records kept, :meth:`JudgeProgress.heard` drops those no longer needed
PRUNE_AT = 1024


class JudgeProgress:
    """The judge's progress records, and the events read ahead of them."""

    def __init__(self, read: Mapping[int, int] | None = None) -> None:
        #: the next offset the learner reads per partition (its learning order's, kept up to date
        #: there): the records no event still to read can need are dropped as they come
        self.read: Mapping[int, int] = {} if read is None else read
        self.frontier = NO_TIME
        self.offsets: dict[int, int] = {}
        #: the progress records kept (the first is the newest every partition is read past)
        self._frontiers: list[int] = []
        self._quiet: list[bool] = []
        self._offsets: dict[int, list[int]] = {}
        #: events read before a progress has settled them: (time, partition, offset, id)
        self._ahead: list[tuple[int, int, int, str]] = []

    @property
    def ahead(self) -> int:
        """Events read with a time at or past the judge's frontier (a bound on what waits for it)."""
        return len(self._ahead)

    def heard(self, frontier: int, offsets: Mapping[int, int], quiet: bool = False) -> list[str]:
        """One progress record, in the order written; the ids of the events read ahead that it
        shows late at the judge (not taken in while its frontier went past their time).
        ``quiet``: every partition was idle at the judge, so the stream set it no bound."""
        new_frontier = max(self.frontier, int(frontier))
        new_offsets = dict(self.offsets)
        for p, o in offsets.items():
            new_offsets[int(p)] = max(new_offsets.get(int(p), 0), int(o))
        if new_frontier == self.frontier and new_offsets == self.offsets and self._quiet[-1:] == [quiet]:
            return []  # nothing new (a record read again after a restart, or a repeat)
        self.frontier, self.offsets = new_frontier, new_offsets
        self._frontiers.append(new_frontier)
        self._quiet.append(quiet)
        n = len(self._frontiers)
        for p, o in new_offsets.items():
            column = self._offsets.setdefault(p, [])
            column.extend([0] * (n - 1 - len(column)))  # a partition first named now: nothing before
            column.append(o)
        if n > 2 * PRUNE_AT:  # many records (a learner far behind, or reading them all after a restart)
            self._read_past(self.read)
        late = []
        while self._ahead and self._ahead[0][0] < new_frontier:
            _, p, o, event_id = heapq.heappop(self._ahead)
            if o >= new_offsets.get(p, 0):
                late.append(event_id)  # still not taken in, and the frontier went past its time
            # else: taken in before this record, at a frontier not past its time: judged
        return late

    def admit(self, partition: int, offsets: np.ndarray, ts: np.ndarray, ids: Sequence[str]) -> np.ndarray:
        """Which of one partition's events (in offset order) the judge judges or may still
        judge (``True``), and which it found late (``False``). Those it has not taken in yet
        wait ahead, to be settled by the progress to come (:meth:`heard`)."""
        keep = np.ones(offsets.shape[0], dtype=bool)
        if not offsets.shape[0]:
            return keep
        taken = offsets < self.offsets.get(partition, 0)
        if taken.any():  # the frontier at which each was taken in
            column = self._offsets.get(partition, [])
            frontiers = np.array([NO_TIME, *self._frontiers], dtype=np.int64)
            at = np.searchsorted(np.array(column, dtype=np.int64), offsets[taken], side="right")
            keep[taken] = ts[taken] >= frontiers[at]
        waiting = np.flatnonzero(~taken)
        keep[waiting] = ts[waiting] >= self.frontier
        for i in waiting[keep[waiting]].tolist():
            heapq.heappush(self._ahead, (int(ts[i]), partition, int(offsets[i]), ids[i]))
        return keep

    def judged(self, batch: EventBatch) -> tuple[EventBatch, int]:
        """One partition's batch without the events the judge found late (:meth:`admit`), and their count."""
        if not len(batch):
            return batch, 0
        keep = self.admit(batch.partition, batch.offsets, batch.ts, batch.ids)
        if keep.all():
            return batch, 0
        return batch.take(np.flatnonzero(keep)), int((~keep).sum())

    def bound(self, read: Mapping[int, int] | None = None) -> int | None:
        """The frontier of the newest progress whose offsets ``read`` (the next offset the learner
        reads, per partition) has reached on every partition, None if the judge was quiet then
        (every partition idle: no bound, as :meth:`.Watermarks.bound`); the records before it are
        dropped (nothing the learner reads from now on is older than their offsets)."""
        if not self._read_past(self.read if read is None else read):
            return NO_TIME
        return None if self._quiet[0] else self._frontiers[0]

    def _read_past(self, read: Mapping[int, int]) -> bool:
        """Drop the records before the newest one ``read`` has reached on every partition (it is
        then the first); whether there is one."""
        lo, hi = 0, len(self._frontiers)  # the records read past form a prefix: find its length
        while lo < hi:
            mid = (lo + hi) // 2
            if all(read.get(p, 0) >= column[mid] for p, column in self._offsets.items()):
                lo = mid + 1
            else:
                hi = mid
        if lo > 1:
            del self._frontiers[:lo - 1]
            del self._quiet[:lo - 1]
            for column in self._offsets.values():
                del column[:lo - 1]
        return lo > 0

    # -- state: the events read ahead (the records are read again after a restart) --------
    def ahead_state(self) -> list[list[object]]:
        return [list(e) for e in self._ahead]

    def load_ahead(self, rows: list[list[object]]) -> None:
        self._ahead = [(int(t), int(p), int(o), str(i)) for t, p, o, i in rows]  # type: ignore[call-overload]
        heapq.heapify(self._ahead)

