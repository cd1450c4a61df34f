"""The values each detector watches, taken from a parsed batch as NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from driftline.stream.events import EventBatch, Reject

if TYPE_CHECKING:
    from driftline.consumers.core.plan import PlannedDetector


def messages(batch: EventBatch, rejects: Sequence[Reject]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rejected flags, offsets, ts)`` of a poll's messages in offset order (1 = rejected).

    A rejected message has no timestamp of its own: it takes the previous message's.
    """
    offsets = np.concatenate([batch.offsets, np.array([r.offset for r in rejects], dtype=np.int64)])
    flags = np.concatenate([np.zeros(batch.offsets.shape[0]), np.ones(len(rejects))])
    ts = np.concatenate([batch.ts, np.full(len(rejects), -1, dtype=np.int64)])
    order = np.argsort(offsets, kind="stable")
    offsets, flags, ts = offsets[order], flags[order], ts[order]
    known = np.maximum.accumulate(np.where(ts >= 0, np.arange(ts.shape[0]), 0)) if ts.shape[0] else ts
    return flags, offsets, np.where(ts >= 0, ts, ts[known]) if ts.shape[0] else ts


def column(batch: EventBatch, planned: PlannedDetector) -> np.ndarray:
    """The values ``planned`` watches: a feature column, or the label or predictions."""
    if planned.target == "feature" and planned.features:  # a multivariate detector: rows
        # stacked as rows (a copy per feature), returned transposed: each feature stays contiguous
        return np.stack([batch.numeric[f] for f in planned.features]).T
    if planned.target == "feature":
        assert planned.feature is not None
        if planned.feature in batch.numeric:
            return batch.numeric[planned.feature]
        return batch.categorical[planned.feature]
    values = batch.label if planned.target == "label" else batch.prediction
    if planned.input_type in ("numeric", "binary"):  # a binary target's classes as 0/1 values
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return _as_levels(values)


def _as_levels(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None else str(v) for v in values]
    return out
