"""Training data for the batch model: labelled events as a DataFrame, quarantines left out.

Pure functions over parsed event batches and audit records; the Kafka reading is the
retrain job's (``driftline.consumers.modelops.retrain``). An event is excluded from training while a
quarantine holds it (from the quarantine's start offset on, until it is released) and forever
once the quarantine is purged (the purged range as the purge record names it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftline.stream.events import EventBatch
from driftline.stream.messages import ActionRecord
from driftline.stream.quarantines import Range, fold_quarantines

#: columns of a training frame besides the features
LABEL, PARTITION, OFFSET, TS = "__label", "__partition", "__offset", "__ts"

__all__ = ["LABEL", "OFFSET", "PARTITION", "TS", "Range", "describe", "excluded_ranges", "features_and_labels",
           "frame", "is_excluded", "split_holdout"]


def excluded_ranges(records: Iterable[ActionRecord]) -> list[Range]:
    """The event ranges that must not be trained on, from the audit records in order."""
    return fold_quarantines(records).excluded()


def is_excluded(partition: int, offset: int, ranges: Sequence[Range]) -> bool:
    return any(p == partition and offset >= a and (b is None or offset <= b) for p, a, b in ranges)


def frame(batches: Iterable[EventBatch], features: Sequence[str], labels: dict[str, Any],
          ranges: Sequence[Range]) -> tuple[pd.DataFrame, int]:
    """Labelled, non-excluded events as one frame in (partition, offset) order; and how many
    labelled events the quarantines kept out."""
    records: list[dict[str, Any]] = []
    kept_out = 0
    for batch in batches:
        for i, event_id in enumerate(batch.ids):
            y = batch.label[i]
            if y is None:
                y = labels.get(event_id)
            if y is None:
                continue
            offset = int(batch.offsets[i])
            if is_excluded(batch.partition, offset, ranges):
                kept_out += 1
                continue
            row = {name: _value(batch, name, i) for name in features}
            row.update({LABEL: y, PARTITION: batch.partition, OFFSET: offset, TS: int(batch.ts[i])})
            records.append(row)
    columns = [*features, LABEL, PARTITION, OFFSET, TS]
    out = pd.DataFrame.from_records(records, columns=columns)
    return out.sort_values([PARTITION, OFFSET], kind="stable").reset_index(drop=True), kept_out


def _value(batch: EventBatch, name: str, i: int) -> Any:
    if name in batch.numeric:
        return float(batch.numeric[name][i])
    return batch.categorical[name][i]


def split_holdout(data: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): the most recent ``share`` of each partition's events is held out."""
    if not 0 < share < 1:
        raise ValueError(f"holdout share must be between 0 and 1, got {share}")
    train, hold = [], []
    for _, part in data.groupby(PARTITION, sort=True):
        cut = len(part) - max(1, int(round(len(part) * share)))
        train.append(part.iloc[:cut])
        hold.append(part.iloc[cut:])
    if not train:
        return data.iloc[:0], data.iloc[:0]
    return pd.concat(train), pd.concat(hold)


def features_and_labels(data: pd.DataFrame, features: Sequence[str]) -> tuple[pd.DataFrame, pd.Series]:
    X = data[list(features)].copy()
    for name in X.columns:
        if X[name].dtype == object and all(isinstance(v, (float, int, np.floating)) or v is None for v in X[name]):
            X[name] = X[name].astype(float)
    return X.reset_index(drop=True), data[LABEL].reset_index(drop=True)


def describe(data: pd.DataFrame, topic: str, kept_out: int = 0) -> list[dict[str, Any]]:
    """Lineage of a frame: per partition, the topic, offset range and row count."""
    out = []
    for partition, part in data.groupby(PARTITION, sort=True):
        out.append({
            "topic": topic, "partition": int(partition), "from_offset": int(part[OFFSET].min()),
            "to_offset": int(part[OFFSET].max()), "rows": int(len(part)), "quarantined_left_out": kept_out,
        })
    return out
