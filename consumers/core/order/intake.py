"""One partition's events on their way to the stream's judgement: duplicates and late ones out.

A :class:`PartitionIntake` keeps, per partition, the recent ids (a repeated id is a
duplicate, dead-lettered) and the partition's newest event time, its watermark. An event more
than ``stream.allowed_lateness_ms`` older than its partition's watermark is *late*: it is
dead-lettered with that reason and judged by no detector. Both rules depend only on the
partition's own order, never on timing, so the stream's judgement behind the watermark
(:mod:`.merge`) is the same however the partitions' polls interleave.

The accepted events and the rejected messages' places go on as
:class:`~driftline.stream.codes.PartitionCodes`, the compact message the judge merges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.order.watermark import NO_TIME
from driftline.stream.codes import PartitionCodes
from driftline.stream.dedupe import RecentIds, select
from driftline.stream.events import EventBatch, Reject

__all__ = ["NO_TIME", "PartitionIntake", "reject_id"]


def reject_id(raw: bytes | None) -> str:
    """A rejected message's place among equal event times: by its content, on any partition."""
    return "reject:" + hashlib.sha256(raw or b"").hexdigest()[:16]


class PartitionIntake:
    """Duplicates and late events out of one partition's batches; its watermark kept."""

    def __init__(self, partition: int, dedupe_window: int, allowed_lateness_ms: int):
        self.partition = partition
        self.allowed_lateness_ms = allowed_lateness_ms
        self.recent = RecentIds(dedupe_window)
        self.max_ts = NO_TIME

    @classmethod
    def of(cls, cfg: DriftlineConfig, partition: int) -> PartitionIntake:
        """The intake of ``partition`` by the stream's rules (``stream.dedupe_window``, ``allowed_lateness_ms``)."""
        return cls(partition, cfg.stream.dedupe_window, cfg.stream.allowed_lateness_ms)

    def heartbeat(self, next_offset: int, caught_up: bool = True) -> PartitionCodes:
        """The codes that say "read to its end, nothing new" (``caught_up``) or, when an instance
        lets the partition go, "wait for its next owner": the watermark and where it stands."""
        empty = np.empty(0, dtype=np.int64)
        batch = EventBatch(self.partition, empty, [], empty.copy(), {}, {}, np.empty(0, dtype=object),
                           np.empty(0, dtype=object))
        return PartitionCodes(self.partition, batch, max_ts=self.max_ts, caught_up=caught_up, next_offset=next_offset)

    def admit(
        self, batch: EventBatch, rejects: Sequence[Reject] = ()
    ) -> tuple[EventBatch, list[Reject], PartitionCodes]:
        """``(accepted events, duplicates and late events as rejects, the codes to publish)``.

        ``rejects`` are the poll's unreadable messages: they are placed in the stream (at the
        watermark before them) for the schema detector, and returned by the caller's dead letters.
        """
        batch, duplicates = self.recent.split(batch)
        before = np.maximum.accumulate(np.concatenate([[self.max_ts], batch.ts]))[:-1] if len(batch) else batch.ts
        late = batch.ts < before - self.allowed_lateness_ms
        out = list(duplicates)
        if late.any():
            for i in np.flatnonzero(late):
                out.append(Reject(
                    batch.partition, int(batch.offsets[i]), batch.raw[i] if batch.raw else None,
                    f"late: event time {int(batch.ts[i])} is more than stream.allowed_lateness_ms="
                    f"{self.allowed_lateness_ms} behind its partition's newest ({int(before[i])})",
                ))
            batch = select(batch, ~late)
        reject_ts = self._reject_times(batch, rejects)
        if len(batch):
            self.max_ts = max(self.max_ts, int(batch.ts.max()))
        codes = PartitionCodes(
            partition=self.partition, batch=_columns_only(batch),
            reject_offsets=np.array([r.offset for r in rejects], dtype=np.int64),
            reject_ts=reject_ts, reject_ids=[reject_id(r.raw) for r in rejects], max_ts=self.max_ts,
        )
        return batch, sorted(out, key=lambda r: r.offset), codes

    def _reject_times(self, batch: EventBatch, rejects: Sequence[Reject]) -> np.ndarray:
        """Each rejected message's time: the partition's watermark at its offset."""
        if not rejects:
            return np.empty(0, dtype=np.int64)
        offsets = np.array([r.offset for r in rejects], dtype=np.int64)
        running = np.maximum.accumulate(np.concatenate([[self.max_ts], batch.ts])) if len(batch) else np.array([self.max_ts])
        # events before each rejected message: those with a smaller offset
        before = np.searchsorted(batch.offsets, offsets, side="left")
        return running[before].astype(np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {"recent": self.recent.state_dict(), "max_ts": self.max_ts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recent.load_state_dict(state["recent"])
        self.max_ts = int(state["max_ts"])


def _columns_only(batch: EventBatch) -> EventBatch:
    """The batch without the original bytes: what the detectors read, no more."""
    return EventBatch(batch.partition, batch.offsets, batch.ids, batch.ts, batch.numeric, batch.categorical,
                      batch.label, batch.prediction, scores=batch.scores)
