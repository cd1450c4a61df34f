"""The stream's events in one order, fixed by the data: a merge behind the watermark.

Partitions are read at their own pace; the stream's judgement must not depend on it. A
:class:`StreamMerge` buffers each partition's contributions
(:class:`~driftline.stream.codes.PartitionCodes`) and releases, in the order of
``(event time, events before rejected messages, id)``, every event older than the
*frontier*: the smallest watermark (newest event time) over the stream's partitions, less
``allowed_lateness_ms``. An event is released only once every partition has gone past its
time by the lateness, so the released sequence is the same for 1 or 12 partitions, any
number of instances and any interleaving of their polls (events that came later than the
lateness behind their own partition were already turned away at intake).

An idle partition would hold the frontier back for ever: one whose instance says, in its
latest word, that it is read to its end and has brought no event for ``idle_ms`` of
wall-clock time is passed over
(counted in :attr:`skipped`); when every partition is idle, everything buffered is released
(the frontier moves just past the newest event seen).
That is the one place where timing enters: an event that then arrives behind the frontier is
returned as *late* (counted, dead-lettered by the caller), never judged out of order.

Pure computation: the wall clock is passed in, so live, backtest and tests run the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.consumers.core.order.watermark import FRESH_MS, NO_TIME, Watermarks
from driftline.stream.codes import PartitionCodes, decode, encode
from driftline.stream.events import EventBatch, concat_batches, pick

__all__ = ["FRESH_MS", "Messages", "Released", "StreamMerge"]


@dataclass
class Messages:
    """The released messages in stream order, for the schema detector: 1 = rejected."""

    flags: np.ndarray
    partitions: np.ndarray
    offsets: np.ndarray
    ts: np.ndarray
    ids: list[str]


@dataclass
class Released:
    """What one release gives: events in stream order, all messages in stream order, and the
    events that arrived behind the frontier (only after idle partitions were passed over)."""

    batch: EventBatch | None
    messages: Messages | None
    late: list[tuple[int, int, str]] = field(default_factory=list)  # (partition, offset, id)

    @property
    def empty(self) -> bool:
        return self.batch is None


class StreamMerge:
    """Buffer partitions' codes; release the stream's events in data order behind the frontier."""

    def __init__(self, partitions: Iterable[int], allowed_lateness_ms: int, idle_ms: float, now_ms: float = 0.0):
        self.allowed_lateness_ms = allowed_lateness_ms
        self.idle_ms = idle_ms
        self.marks = Watermarks(partitions, allowed_lateness_ms, idle_ms, now_ms)
        self.frontier = NO_TIME  # nothing may be released yet
        self.pending: list[PartitionCodes] = []
        #: partitions passed over as idle so far, and events that came behind the frontier
        self.skipped = 0
        self.late = 0
        #: after :meth:`release`: every partition was idle, so the stream set no bound (quiet)
        self.quiet = False
        self._late: list[tuple[int, int, str]] = []

    def add(self, codes: PartitionCodes, now_ms: float, said_ms: float | None = None) -> None:
        """One instance's codes of a partition; ``said_ms``: when the instance sent them, by its
        clock (the partition's quiet time is counted on it: :meth:`.Watermarks.heard`)."""
        part = self.marks.parts.get(codes.partition)
        codes = _from_offset(codes, part.next_offset if part is not None else 0)
        brought = bool(len(codes.batch) or len(codes.reject_ids))
        part = self.marks.heard(codes.partition, codes.max_ts, codes.caught_up, now_ms, brought, said_ms)
        part.next_offset = max(part.next_offset, codes.next_offset)
        if brought:
            self.pending.append(self._drop_behind(codes))

    def idle(self, now_ms: float) -> list[int]:
        """Partitions passed over now (:meth:`.Watermarks.idle`)."""
        return self.marks.idle(now_ms)

    def release(self, now_ms: float, flush: bool = False) -> Released:
        """Everything before the frontier (everything with ``flush``, as at the end of a file)."""
        bound, passed_over = self.marks.bound(now_ms)
        self.quiet = bound is None and not flush
        if flush:
            frontier = 2**62
        elif bound is None:  # every partition read to its end and quiet: judge all that came
            frontier = self.marks.newest + 1
        else:
            frontier = bound
        if passed_over and frontier > self.frontier:
            self.skipped += 1
        self.frontier = max(self.frontier, frontier)
        released = self._take(self.frontier)
        released.late, self._late = self._late, []
        return released

    def _take(self, frontier: int) -> Released:
        pending = [c for c in self.pending if len(c.batch) or len(c.reject_ids)]
        if not pending:
            self.pending = []
            return Released(None, None)
        events = concat_batches([c.batch for c in pending], partition=-1)
        parts = events.partition_array()
        r_parts = np.concatenate([c.reject_partition_array() for c in pending])
        r_offsets = np.concatenate([c.reject_offsets for c in pending])
        r_ts = np.concatenate([c.reject_ts for c in pending])
        r_ids = [i for c in pending for i in c.reject_ids]
        out, r_out = events.ts < frontier, r_ts < frontier
        stay, r_stay = np.flatnonzero(~out), np.flatnonzero(~r_out)
        if stay.shape[0] or r_stay.shape[0]:
            rest = events.take(stay)
            rest.partitions, rest.partition = parts[stay], -1
            self.pending = [PartitionCodes(-1, rest, reject_offsets=r_offsets[r_stay], reject_ts=r_ts[r_stay],
                                           reject_ids=[r_ids[i] for i in r_stay], reject_partitions=r_parts[r_stay])]
        else:
            self.pending = []
        go, r_go = np.flatnonzero(out), np.flatnonzero(r_out)
        if not go.shape[0] and not r_go.shape[0]:
            return Released(None, None)
        order = _order(events.ts[go], np.zeros(go.shape[0], np.int8), events.ids, index=go)
        batch = events.take(go[order])  # one take: the released events, in stream order
        batch.partitions, batch.partition = parts[go[order]], -1
        if not r_go.shape[0]:  # no rejected message: the messages are the events, in their order
            messages = Messages(flags=np.zeros(go.shape[0]), partitions=batch.partitions, offsets=batch.offsets,
                                ts=batch.ts, ids=batch.ids)
            return Released(batch, messages)
        flags = np.concatenate([np.zeros(go.shape[0]), np.ones(r_go.shape[0])])
        m_ts = np.concatenate([batch.ts, r_ts[r_go]])
        m_ids = batch.ids + [r_ids[i] for i in r_go]
        m_order = _order(m_ts, flags.astype(np.int8), m_ids)
        messages = Messages(
            flags=flags[m_order],
            partitions=np.concatenate([batch.partitions, r_parts[r_go]])[m_order],
            offsets=np.concatenate([batch.offsets, r_offsets[r_go]])[m_order],
            ts=m_ts[m_order],
            ids=pick(m_ids, m_order.tolist()),
        )
        return Released(batch, messages)

    def _drop_behind(self, codes: PartitionCodes) -> PartitionCodes:
        """``codes`` without what arrives behind the frontier already released (kept as late)."""
        keep = codes.batch.ts >= self.frontier
        r_keep = codes.reject_ts >= self.frontier
        if keep.all() and r_keep.all():
            return codes
        for i in np.flatnonzero(~keep):
            self._late.append((codes.partition, int(codes.batch.offsets[i]), codes.batch.ids[i]))
        self.late += int((~keep).sum())
        return _subset(codes, keep, r_keep)

    @property
    def buffered(self) -> int:
        return sum(len(c.batch) + len(c.reject_ids) for c in self.pending)

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, Any], bytes]:
        """JSON-able state and the buffered codes as bytes (a checkpoint's blob)."""
        pending = [encode(c) for c in self.pending]
        state = {
            "frontier": self.frontier, "skipped": self.skipped, "late": self.late,
            "parts": self.marks.state_dict(),
            "pending": [len(b) for b in pending],
        }
        return state, b"".join(pending)

    def load_state_dict(self, state: dict[str, Any], blob: bytes, now_ms: float) -> None:
        self.frontier = int(state["frontier"])
        self.skipped, self.late = int(state["skipped"]), int(state["late"])
        self.marks.load_state_dict(state["parts"], now_ms)
        self.pending, at = [], 0
        for size in state["pending"]:
            self.pending.append(decode(blob[at:at + size]))
            at += size


def _from_offset(codes: PartitionCodes, start: int) -> PartitionCodes:
    """``codes`` without the events and rejects before ``start`` (already merged once)."""
    keep = codes.batch.offsets >= start
    r_keep = codes.reject_offsets >= start
    if keep.all() and r_keep.all():
        return codes
    return _subset(codes, keep, r_keep)


def _subset(codes: PartitionCodes, keep: np.ndarray, r_keep: np.ndarray) -> PartitionCodes:
    return PartitionCodes(
        codes.partition, codes.batch.take(np.flatnonzero(keep)), stream=codes.stream,
        reject_offsets=codes.reject_offsets[r_keep], reject_ts=codes.reject_ts[r_keep],
        reject_ids=[i for i, k in zip(codes.reject_ids, r_keep) if k], max_ts=codes.max_ts,
        caught_up=codes.caught_up, next_offset=codes.next_offset,
    )


def _order(ts: np.ndarray, kind: np.ndarray, ids: list[str], index: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted by (event time, kind, id): the stream order, the same on any partitioning.
    Position ``i``'s id is ``ids[index[i]]`` (``ids[i]`` without ``index``).

    A stable sort on event time alone is that order where no two times are equal; only the
    runs of equal times are ordered further, by kind and id (:func:`_order_by_id`), so only
    their ids are read.
    """
    if not ts.shape[0]:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    tied = np.zeros(order.shape[0], dtype=bool)
    tied[1:] = sorted_ts[1:] == sorted_ts[:-1]
    if not tied.any():
        return order
    member = tied.copy()
    member[:-1] |= tied[1:]  # every member of a run of equal times, its first included
    run = order[member]  # the runs keep their places: only their members are reordered
    at = run if index is None else index[run]
    order[member] = run[_order_by_id(ts[run], kind[run], pick(ids, at.tolist()))]
    return order


def _order_by_id(ts: np.ndarray, kind: np.ndarray, ids: list[str]) -> np.ndarray:
    """Positions sorted by (event time, kind, id), ranking every id."""
    id_rank = np.argsort(np.argsort(np.array(ids, dtype=str), kind="stable"), kind="stable")
    return np.lexsort((id_rank, kind, ts))
