"""Events as they enter driftline: raw message bytes turned into a columnar batch.

``parse_events`` validates a whole poll's worth of messages at once and returns an
:class:`EventBatch` (one NumPy column per feature) plus the rejects, each with the reason,
for the dead-letter topic. Nothing is dropped: every input is either in the batch or rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import orjson

FeatureType = Literal["numeric", "categorical"]
TargetType = Literal["binary", "multiclass", "regression"]

_NUMBER = (int, float)
_NONE = type(None)


@dataclass(frozen=True)
class StreamSchema:
    """What an event of one stream looks like: its fields and their types."""

    name: str
    features: dict[str, FeatureType]
    id_field: str = "id"
    timestamp_field: str = "ts"
    label_field: str | None = None
    label_type: TargetType | None = None
    prediction_field: str | None = None
    prediction_type: TargetType | None = None
    #: the deployed model's score fields (class probabilities), in the configuration's order
    score_fields: tuple[str, ...] = ()
    #: a message larger than this is rejected unread
    max_event_bytes: int = 1_000_000

    @property
    def numeric(self) -> list[str]:
        return [n for n, t in self.features.items() if t == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [n for n, t in self.features.items() if t == "categorical"]


@dataclass(frozen=True)
class Reject:
    """A message that could not be read, with why; it goes to the dead-letter topic."""

    partition: int
    offset: int
    raw: bytes | None
    error: str
    #: the feature whose value had the wrong type (a schema error), when that is why
    feature: str | None = None


@dataclass
class EventBatch:
    """Valid events of one partition, in offset order, as columns.

    Numbers are float64 (NaN = missing); categories, labels and predictions are object arrays
    (``None`` = missing). ``raw`` and ``keys`` keep the original bytes for quarantine.
    """

    partition: int
    offsets: np.ndarray
    ids: list[str]
    ts: np.ndarray
    numeric: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]
    label: np.ndarray
    prediction: np.ndarray
    raw: list[bytes] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    #: how many fields (features or top-level keys) the events had that the schema does not
    #: declare: counted, not used
    undeclared: int = 0
    #: each event's partition, when the batch merges several (a stream's judgement); None:
    #: every event is of ``partition``
    partitions: np.ndarray | None = None
    #: the deployed model's scores, one float64 column per score field (NaN = missing);
    #: None when the stream declares none
    scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def partition_of(self, index: int) -> int:
        return int(self.partitions[index]) if self.partitions is not None else self.partition

    def partition_array(self) -> np.ndarray:
        if self.partitions is not None:
            return self.partitions
        return np.full(len(self.ids), self.partition, dtype=np.int64)

    def take(self, index: np.ndarray) -> EventBatch:
        """The events at ``index`` (positions), in that order; raw bytes and keys kept when present."""
        idx = np.asarray(index, dtype=np.int64)
        return EventBatch(
            partition=self.partition,
            offsets=self.offsets[idx],
            ids=[self.ids[i] for i in idx],
            ts=self.ts[idx],
            numeric={k: v[idx] for k, v in self.numeric.items()},
            categorical={k: v[idx] for k, v in self.categorical.items()},
            label=self.label[idx],
            prediction=self.prediction[idx],
            raw=[self.raw[i] for i in idx] if self.raw else [],
            keys=[self.keys[i] for i in idx] if self.keys else [],
            undeclared=self.undeclared,
            partitions=None if self.partitions is None else self.partitions[idx],
            scores=None if self.scores is None else self.scores[idx],
        )


    def feature_rows(self, index: int) -> dict[str, Any]:
        """One event's features as a dict (missing ones left out), for per-event learners."""
        row: dict[str, Any] = {}
        for name, col in self.numeric.items():
            value = col[index]
            if not math.isnan(value):
                row[name] = float(value)
        for name, col in self.categorical.items():
            value = col[index]
            if value is not None:
                row[name] = value
        return row


def concat_batches(batches: Sequence[EventBatch], partition: int | None = None) -> EventBatch:
    """One batch of ``batches``' events in order; each event keeps its partition (``partitions``)
    unless they all share one."""
    first = batches[0]
    parts = np.concatenate([b.partition_array() for b in batches]) if batches else np.empty(0, np.int64)
    single = partition if partition is not None else (first.partition if (parts == first.partition).all() else -1)
    return EventBatch(
        partition=single,
        offsets=np.concatenate([b.offsets for b in batches]),
        ids=[i for b in batches for i in b.ids],
        ts=np.concatenate([b.ts for b in batches]),
        numeric={k: np.concatenate([b.numeric[k] for b in batches]) for k in first.numeric},
        categorical={k: np.concatenate([b.categorical[k] for b in batches]) for k in first.categorical},
        label=np.concatenate([b.label for b in batches]),
        prediction=np.concatenate([b.prediction for b in batches]),
        raw=[r for b in batches for r in b.raw] if all(len(b.raw) == len(b) for b in batches) else [],
        keys=[k for b in batches for k in b.keys] if all(len(b.keys) == len(b) for b in batches) else [],
        undeclared=sum(b.undeclared for b in batches),
        partitions=None if single >= 0 else parts,
        scores=np.concatenate([b.scores for b in batches]) if all(b.scores is not None for b in batches) else None,
    )


def parse_events(
    schema: StreamSchema,
    partition: int,
    offsets: Sequence[int],
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
) -> tuple[EventBatch, list[Reject]]:
    """Parse and validate raw event messages of one partition."""
    docs, rejects, kept = _decode(partition, offsets, values, schema.max_event_bytes)
    return build_batch(schema, partition, docs, kept, offsets, values, keys, rejects)


def _decode(
    partition: int, offsets: Sequence[int], values: Sequence[bytes | None], max_bytes: int = 1_000_000
) -> tuple[list[dict[str, Any]], list[Reject], list[int]]:
    docs: list[dict[str, Any]] = []
    kept: list[int] = []
    rejects: list[Reject] = []
    for i, raw in enumerate(values):
        if raw is None:
            rejects.append(Reject(partition, offsets[i], raw, "empty message (null value)"))
            continue
        if len(raw) > max_bytes:
            rejects.append(Reject(partition, offsets[i], raw, f"message of {len(raw)} bytes is larger than {max_bytes}"))
            continue
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            reason = "not UTF-8" if "utf-8" in str(exc).lower() else "not valid JSON"
            where = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
            rejects.append(Reject(partition, offsets[i], raw, f"{reason}: {getattr(exc, 'msg', exc)}{where}"))
            continue
        if not isinstance(doc, dict):
            rejects.append(Reject(partition, offsets[i], raw, f"not a JSON object but {type(doc).__name__}"))
            continue
        docs.append(doc)
        kept.append(i)
    return docs, rejects, kept


def build_batch(
    schema: StreamSchema,
    partition: int,
    docs: list[dict[str, Any]],
    kept: list[int],
    offsets: Sequence[int],
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None,
    rejects: list[Reject],
) -> tuple[EventBatch, list[Reject]]:
    """Columns from decoded documents; each column's types are checked in one pass."""
    n = len(docs)
    bad: dict[int, str] = {}

    ids = [d.get(schema.id_field) for d in docs]
    if not (_only(ids, (str,)) and all(ids)):  # the fast path: every id a non-empty string
        for i, v in enumerate(ids):
            ids[i], why = event_id(v)
            if why:
                bad.setdefault(i, f"field {schema.id_field!r} {why}")

    ts_raw = [d.get(schema.timestamp_field) for d in docs]
    ts = np.empty(n, dtype=np.int64)
    if not (_only(ts_raw, (int,)) and _fits(ts_raw, ts)):
        for i, v in enumerate(ts_raw):
            parsed = _timestamp(v)
            if parsed is None:
                bad.setdefault(
                    i, f"field {schema.timestamp_field!r} must be epoch milliseconds or ISO-8601, got {v!r:.60}"
                )
                ts[i] = -1
            else:
                ts[i] = parsed

    feats = [d.get("features") for d in docs]
    if not _only(feats, (dict,)):
        for i, f in enumerate(feats):
            if not isinstance(f, dict):
                bad.setdefault(i, f"field 'features' must be an object, got {type(f).__name__}")
                feats[i] = {}

    numeric: dict[str, np.ndarray] = {}
    bad_feature: dict[int, str] = {}  # the feature of a schema error, per bad event
    for name in schema.numeric:
        col = [f.get(name) for f in feats]
        if not _only(col, (*_NUMBER, _NONE)):
            for i, v in enumerate(col):
                if v is not None and (type(v) is bool or not isinstance(v, _NUMBER)):
                    bad.setdefault(i, f"feature {name!r} is numeric, got {type(v).__name__} {v!r:.60}")
                    bad_feature.setdefault(i, name)
                    col[i] = None
        arr = np.array(col, dtype=np.float64) if n else np.empty(0)
        infinite = np.isinf(arr)
        if infinite.any():
            for i in np.flatnonzero(infinite):
                bad.setdefault(int(i), f"feature {name!r} is not a finite number")
                bad_feature.setdefault(int(i), name)
            arr[infinite] = np.nan
        numeric[name] = arr

    categorical: dict[str, np.ndarray] = {}
    for name in schema.categorical:
        col = [f.get(name) for f in feats]
        if not _only(col, (str, _NONE)):
            for i, v in enumerate(col):
                if isinstance(v, int) and type(v) is not bool:
                    col[i] = str(v)
                elif v is not None and not isinstance(v, str):
                    bad.setdefault(i, f"feature {name!r} is categorical, got {type(v).__name__} {v!r:.60}")
                    bad_feature.setdefault(i, name)
                    col[i] = None
        categorical[name] = object_array(col)

    label = _target(docs, schema.label_field, schema.label_type, "label", bad)
    prediction = _target(docs, schema.prediction_field, schema.prediction_type, "prediction", bad)

    scores = _scores(docs, schema.score_fields, bad) if schema.score_fields else None

    declared = schema.features.keys()
    known = {schema.id_field, schema.timestamp_field, "features", schema.label_field, schema.prediction_field,
             *schema.score_fields}
    undeclared = sum(len(f.keys() - declared) for f in feats) + sum(len(d.keys() - known) for d in docs)

    keep = np.ones(n, dtype=bool)
    for i, reason in bad.items():
        keep[i] = False
        j = kept[i]
        # a feature's type error is named only when it is the reason given
        feature = bad_feature.get(i) if reason.startswith("feature ") else None
        rejects.append(Reject(partition, offsets[j], values[j], reason, feature))
    rejects.sort(key=lambda r: r.offset)
    idx = np.flatnonzero(keep)
    all_kept = keep.all()
    src = [kept[i] for i in idx]
    batch = EventBatch(
        partition=partition,
        offsets=np.asarray([offsets[j] for j in src], dtype=np.int64),
        ids=ids if all_kept else [ids[i] for i in idx],
        ts=ts if all_kept else ts[idx],
        numeric={k: (v if all_kept else v[idx]) for k, v in numeric.items()},
        categorical={k: (v if all_kept else v[idx]) for k, v in categorical.items()},
        label=label if all_kept else label[idx],
        prediction=prediction if all_kept else prediction[idx],
        raw=[values[j] for j in src],
        keys=[keys[j] for j in src] if keys is not None else [None] * len(src),
        undeclared=undeclared,
        scores=None if scores is None else (scores if all_kept else scores[idx]),
    )
    return batch, rejects


def _scores(docs: list[dict[str, Any]], fields: tuple[str, ...], bad: dict[int, str]) -> np.ndarray:
    """The score fields as float64 columns: a probability in [0, 1], or null (missing)."""
    out = np.full((len(docs), len(fields)), np.nan)
    for j, name in enumerate(fields):
        for i, d in enumerate(docs):
            v = d.get(name)
            if v is None:
                continue
            if type(v) is bool or not isinstance(v, _NUMBER) or not 0.0 <= v <= 1.0:
                bad.setdefault(i, f"score {name!r} must be a probability in [0, 1], got {v!r:.60}")
            else:
                out[i, j] = v
    return out


def event_id(value: Any) -> tuple[str, str]:
    """An id as driftline keeps it, and why it is refused ("" when it is not): a non-empty
    string as it is, an integer as its decimal string (``12345`` is ``"12345"``)."""
    if isinstance(value, str) and value:
        return value, ""
    if isinstance(value, int) and type(value) is not bool:
        return str(value), ""
    what = {bool: "a boolean", float: "a number with a fraction", dict: "an object", list: "an array",
            str: "an empty string", type(None): "none (missing)"}.get(type(value), type(value).__name__)
    if type(value) is float and value.is_integer():
        what = "a decimal number"
    return "", f"must be a non-empty string or an integer, got {what} {value!r:.60}"


def _target(
    docs: list[dict[str, Any]], field_name: str | None, kind: str | None, what: str, bad: dict[int, str]
) -> np.ndarray:
    if field_name is None:
        return np.full(len(docs), None, dtype=object)
    col = [d.get(field_name) for d in docs]
    for i, v in enumerate(col):
        if v is None:
            continue
        value = normalise_target(v, kind)
        if value is None:
            bad.setdefault(i, f"{what} {v!r:.60} is not a valid {kind} value")
        col[i] = value
    return object_array(col)


def normalise_target(value: Any, kind: str | None) -> Any:
    """A label or prediction in its canonical form, or None when it is not of that type.

    binary: 0 or 1 (from 0/1, true/false); multiclass: a string class name;
    regression: a finite float.
    """
    if kind == "binary":
        if type(value) is bool:
            return int(value)
        if isinstance(value, (int, float)) and value in (0, 1):
            return int(value)
        return None
    if kind == "multiclass":
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and type(value) is not bool:
            return str(value)
        return None
    if isinstance(value, (int, float)) and type(value) is not bool and math.isfinite(value):
        return float(value)
    return None


def _only(col: list[Any], types: tuple[type, ...]) -> bool:
    return set(map(type, col)) <= set(types)


def object_array(col: list[Any]) -> np.ndarray:
    arr = np.empty(len(col), dtype=object)
    arr[:] = col
    return arr


#: the timestamps driftline takes (epoch ms, about 292 million years either way of 1970)
TS_RANGE = (-(2**62), 2**62)


def _fits(values: list[int], into: np.ndarray) -> bool:
    """Copy integers into an int64 column; False (nothing to rely on) when one is out of range."""
    try:
        into[:] = values
    except OverflowError:
        return False
    return bool(not len(values) or (TS_RANGE[0] <= into.min() and into.max() <= TS_RANGE[1]))


def _timestamp(value: Any) -> int | None:
    if type(value) is int:
        return value if TS_RANGE[0] <= value <= TS_RANGE[1] else None
    if type(value) is float and math.isfinite(value):
        return int(value) if TS_RANGE[0] <= value <= TS_RANGE[1] else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return int(parsed.timestamp() * 1000)
        except (ValueError, OverflowError):  # not a date, or one that leaves the calendar in UTC
            return None
    return None


def parse_label_messages(
    partition: int, offsets: Sequence[int], values: Sequence[bytes | None], id_field: str, label_field: str,
    label_type: str | None, ts_field: str | None = "ts",
) -> tuple[list[tuple[str, Any, int, int]], list[Reject]]:
    """Late labels ``{"id": ..., "label": ..., "ts": ...}``: (event id, label, offset, label time)
    or a reject. The label's time is when it became known; it places the label in the
    learner's order, so a label without one is turned away (``ts_field=None``: not read, 0)."""
    docs, rejects, kept = _decode(partition, offsets, values)
    out = []
    for doc, i in zip(docs, kept):
        the_id, why = event_id(doc.get(id_field))
        label = normalise_target(doc.get(label_field), label_type)
        ts = _timestamp(doc.get(ts_field)) if ts_field is not None else 0
        if why:
            rejects.append(Reject(partition, offsets[i], values[i], f"label message: field {id_field!r} {why}"))
        elif label is None:
            rejects.append(
                Reject(partition, offsets[i], values[i], f"label {doc.get(label_field)!r:.60} is not a valid {label_type} value")
            )
        elif ts is None:
            rejects.append(Reject(
                partition, offsets[i], values[i],
                f"label message: field {ts_field!r} must be the time the label became known (epoch milliseconds or "
                f"ISO-8601), got {doc.get(ts_field)!r:.60}",
            ))
        else:
            out.append((the_id, label, offsets[i], ts))
    return out, rejects
