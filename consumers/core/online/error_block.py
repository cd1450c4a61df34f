"""The errors of one block of learning time, judged together by the concept detectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from driftline.consumers.core.order.learning import WaitingEvent
from driftline.consumers.core.order.watermark import NO_TIME
from driftline.consumers.core.segments.watch import Block


@dataclass
class ErrorBlock:
    """The errors of the learning steps of one block of learning time (``learner.error_block_ms``),
    judged together once the steps are past it: cut by the data's time, never by polls."""

    bucket: int = NO_TIME
    errors: list[float] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    #: with segments or fairness: each event's features, label and the learner's prediction
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)

    def add(self, bucket: int, error: float, event: WaitingEvent, prediction: Any = None, keep_rows: bool = False) -> None:
        self.bucket = bucket
        self.errors.append(error)
        self.partitions.append(event.partition)
        self.offsets.append(event.offset)
        self.ts.append(event.ts)
        self.ids.append(event.event_id)
        if keep_rows:
            self.rows.append(event.features())
            self.labels.append(event.label)
            self.predictions.append(prediction)

    def extend(self, bucket: int, errors: Sequence[float], events: Sequence[WaitingEvent],
               predictions: Sequence[Any], keep_rows: bool = False) -> None:
        """:meth:`add` of several steps of one block, in their order."""
        self.bucket = bucket
        self.errors += errors
        self.partitions += [e.partition for e in events]
        self.offsets += [e.offset for e in events]
        self.ts += [e.ts for e in events]
        self.ids += [e.event_id for e in events]
        if keep_rows:
            self.rows += [e.features() for e in events]
            self.labels += [e.label for e in events]
            self.predictions += predictions

    def __len__(self) -> int:
        return len(self.errors)

    def split(self, n: int) -> tuple[ErrorBlock, ErrorBlock]:
        """The first ``n`` steps and the rest, in their order; both keep the bucket."""
        lists = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "bucket"}
        return (ErrorBlock(self.bucket, **{k: v[:n] for k, v in lists.items()}),
                ErrorBlock(self.bucket, **{k: v[n:] for k, v in lists.items()}))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.errors, dtype=np.float64), np.array(self.partitions, dtype=np.int64),
                np.array(self.offsets, dtype=np.int64), np.array(self.ts, dtype=np.int64))

    def to_list(self) -> list[Any]:
        return [self.bucket, self.errors, self.partitions, self.offsets, self.ts, self.ids, self.rows, self.labels,
                self.predictions]

    def block(self) -> Block:
        """The block as the segments take it."""
        return Block(*self.arrays(), self.ids, self.rows, self.labels, self.predictions)
