"""The values each detector watches, taken from a parsed batch as NumPy arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from driftline.stream.events import EventBatch

if TYPE_CHECKING:
    from driftline.consumers.core.plan import PlannedDetector


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
        out = np.full(len(values), np.nan)
        present = np.not_equal(values, None)  # None: missing (NaN)
        out[present] = values[present].astype(np.float64)
        return out
    return _as_levels(values)


def _as_levels(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None else str(v) for v in values]
    return out
