"""Events as they enter driftline: raw message bytes turned into a columnar batch.

``parse_events`` validates a whole poll's worth of messages at once and returns an
:class:`EventBatch` (one NumPy column per feature) plus the rejects, each with the reason,
for the dead-letter topic. Nothing is dropped: every input is either in the batch or rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import orjson

from driftline.stream.shape.fastjson import FastJson
from driftline.stream.shape.layout import Layout, split_path
from driftline.stream.shape.values import (
    event_id,
    object_array,
    only,
    target_column,
    timestamp_column,
)

FeatureType = Literal["numeric", "categorical"]
TargetType = Literal["binary", "multiclass", "regression"]

_NUMBER = (int, float)
_NONE = type(None)
#: a score field's place among the layout's numeric columns (not a feature)
SCORE = "\x00score:"


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
    #: where the id is: ``field`` (the path ``id_field``), the message ``key``, or the
    #: ``header`` named ``id_field``
    id_source: Literal["field", "key", "header"] = "field"
    #: where the event time is: ``field`` (the path ``timestamp_field``) or the Kafka ``record``'s timestamp
    timestamp_source: Literal["field", "record"] = "field"
    #: a numeric event time counts ``ms`` or ``s`` since 1970 (ISO-8601 text is always taken)
    timestamp_unit: Literal["ms", "s"] = "ms"
    #: the object holding the features (a dotted path), or None: at the message's top level
    features_path: str | None = "features"
    #: features at a path of their own (dotted, from the message's root)
    feature_paths: dict[str, str] = field(default_factory=dict)
    #: ``json``, ``avro`` (Confluent wire format, decoded by ``avro``), ``json_schema``
    #: (Confluent wire format, validated and decoded by ``json_schema``) or ``protobuf``
    #: (Confluent wire format, decoded by ``protobuf``)
    format: Literal["json", "avro", "json_schema", "protobuf"] = "json"
    #: the Avro decoder (:class:`driftline.stream.shape.avro.AvroDecoder`) when format is avro
    avro: Any = None
    #: the JSON Schema decoder (:class:`driftline.stream.shape.json_schema.JsonSchemaDecoder`)
    #: when format is json_schema
    json_schema: Any = None
    #: the Protobuf decoder (:class:`driftline.stream.shape.protobuf.ProtobufDecoder`) when format is protobuf
    protobuf: Any = None

    @property
    def numeric(self) -> list[str]:
        return [n for n, t in self.features.items() if t == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [n for n, t in self.features.items() if t == "categorical"]

    def feature_path(self, name: str) -> tuple[str, ...]:
        if name in self.feature_paths:
            return split_path(self.feature_paths[name])
        return (*split_path(self.features_path), name) if self.features_path else (name,)

    @cached_property
    def layout(self) -> Layout:
        """Where each field is in a message."""
        return Layout(
            id_path=split_path(self.id_field) if self.id_source == "field" else None,
            ts_path=split_path(self.timestamp_field) if self.timestamp_source == "field" else None,
            numeric=tuple((n, self.feature_path(n)) for n in self.numeric)
            + tuple((SCORE + f, split_path(f)) for f in self.score_fields),
            categorical=tuple((n, self.feature_path(n)) for n in self.categorical),
            label_path=split_path(self.label_field) if self.label_field else None,
            prediction_path=split_path(self.prediction_field) if self.prediction_field else None,
            envelope=self.features_path == "features" and not self.feature_paths,
        )

    @cached_property
    def fast_json(self) -> FastJson:
        return FastJson(self.layout)

    @property
    def id_name(self) -> str:
        """Where the id is, as an error names it."""
        return {"key": "the message key", "header": f"header {self.id_field!r}"}.get(self.id_source,
                                                                                    f"field {self.id_field!r}")


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
    #: None when the stream declares no score
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
        at = idx.tolist()  # Python ints index a list several times faster than NumPy's
        return EventBatch(
            partition=self.partition,
            offsets=self.offsets[idx],
            ids=pick(self.ids, at),
            ts=self.ts[idx],
            numeric={k: v[idx] for k, v in self.numeric.items()},
            categorical={k: v[idx] for k, v in self.categorical.items()},
            label=self.label[idx],
            prediction=self.prediction[idx],
            raw=pick(self.raw, at) if self.raw else [],
            keys=pick(self.keys, at) if self.keys else [],
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


def pick(items: Sequence[Any], at: list[int]) -> list[Any]:
    """``[items[i] for i in at]``, by ``operator.itemgetter`` (about twice as fast on long lists)."""
    if len(at) < 2:
        return [items[i] for i in at]
    return list(itemgetter(*at)(items))


def concat_batches(batches: Sequence[EventBatch], partition: int | None = None) -> EventBatch:
    """One batch of ``batches``' events in order; each event keeps its partition (``partitions``)
    unless they all share one."""
    first = batches[0]
    parts = np.concatenate([b.partition_array() for b in batches]) if batches else np.empty(0, np.int64)
    single = partition if partition is not None else (first.partition if (parts == first.partition).all() else -1)
    return EventBatch(
        partition=single,
        offsets=np.concatenate([b.offsets for b in batches]),
        ids=list(chain.from_iterable(b.ids for b in batches)),
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
    *,
    timestamps: Sequence[int | None] | None = None,
    headers: Sequence[Any] | None = None,
    fast: bool = True,
) -> tuple[EventBatch, list[Reject]]:
    """Parse and validate raw event messages of one partition (``timestamps`` and ``headers``:
    the records', for an event time or an id taken from there). ``fast``: msgspec reads what it
    can; each message is read as the per-message path reads it either way."""
    rows, rejects, kept, undeclared, typed = read_rows(schema, partition, offsets, values, fast)
    outside = _from_record(schema, kept, keys, timestamps, headers)
    batch, rejects = build_batch(schema, partition, rows, kept, offsets, values, keys, rejects, undeclared, outside,
                                 typed=typed)
    if fast and rejects and schema.format == "json":  # a refusal is the per-message path's, with its reason
        rejects = _as_alone(schema, rejects, offsets, keys, timestamps, headers)  # (a few differ: huge numbers)
    return batch, rejects


def _as_alone(schema: StreamSchema, rejects: list[Reject], offsets: Sequence[int], keys: Sequence[bytes | None] | None,
              timestamps: Sequence[int | None] | None, headers: Sequence[Any] | None) -> list[Reject]:
    """Each refused message as the per-message path refuses it alone (or as it was, if that takes it)."""
    where = {offset: i for i, offset in enumerate(offsets)}
    out = []
    for reject in rejects:
        i = where[reject.offset]
        if reject.raw is None:
            out.append(reject)
            continue
        alone = parse_events(schema, reject.partition, [reject.offset], [reject.raw],
                             [keys[i]] if keys is not None else None,
                             timestamps=[timestamps[i]] if timestamps is not None else None,
                             headers=[headers[i]] if headers is not None else None, fast=False)[1]
        out.append(alone[0] if alone else reject)
    return out


def parse_records(schema: StreamSchema, partition: int, records: Sequence[Any]) -> tuple[EventBatch, list[Reject]]:
    """:func:`parse_events` of Kafka consumer records (offset, value, key, timestamp, headers)."""
    return parse_events(schema, partition, [m.offset for m in records], [m.value for m in records],
                        [m.key for m in records], timestamps=[m.timestamp for m in records],
                        headers=[m.headers for m in records])


def read_rows(
    schema: StreamSchema, partition: int, offsets: Sequence[int], values: Sequence[bytes | None], fast: bool = True
) -> tuple[list[tuple[Any, ...]], list[Reject], list[int], int, bool]:
    """Each readable message's row (see :class:`~driftline.stream.shape.layout.Layout`), the
    unreadable ones rejected with why, the positions of the rows' messages, undeclared fields,
    and whether msgspec read every row (then each numeric value is a float or None)."""
    rejects: list[Reject] = []
    limit = schema.max_event_bytes
    if None not in values and (not values or max(map(len, values)) <= limit):  # type: ignore[arg-type]
        sized: Sequence[int] = range(len(values))  # the usual poll: every message to be read
    else:
        sized = []
        for i, raw in enumerate(values):
            if raw is None:
                rejects.append(Reject(partition, offsets[i], raw, "empty message (null value)"))
            elif len(raw) > limit:
                rejects.append(Reject(partition, offsets[i], raw, f"message of {len(raw)} bytes is larger than {limit}"))
            else:
                sized.append(i)
    if schema.format == "json" and fast:
        read = schema.fast_json.rows([values[i] for i in sized] if len(sized) < len(values) else values)  # type: ignore[arg-type]
        if None not in read:  # msgspec took every one
            return read, rejects, list(sized), 0, True  # type: ignore[return-value]
    else:
        read = [None] * len(sized)
    rows: list[tuple[Any, ...]] = []
    kept: list[int] = []
    undeclared = 0
    for i, row in zip(sized, read):
        if row is None:  # the per-message path: it says why, or takes what the fast one would not
            doc, why = document(schema, values[i])  # type: ignore[arg-type]
            if doc is not None:
                undeclared += schema.layout.undeclared(doc)
                row, why = schema.layout.row(doc)
            if why:
                rejects.append(Reject(partition, offsets[i], values[i], why))
                continue
        rows.append(row)  # type: ignore[arg-type]
        kept.append(i)
    return rows, rejects, kept, undeclared, False


def document(schema: StreamSchema, raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """One message decoded to an object, or why it cannot be."""
    if schema.format == "avro":
        return schema.avro.decode(raw)
    if schema.format == "json_schema":
        return schema.json_schema.decode(raw)
    if schema.format == "protobuf":
        return schema.protobuf.decode(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = "not UTF-8" if "utf-8" in str(exc).lower() else "not valid JSON"
        where = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
        return None, f"{reason}: {getattr(exc, 'msg', exc)}{where}"
    if not isinstance(doc, dict):
        return None, f"not a JSON object but {type(doc).__name__}"
    return doc, ""


def _from_record(
    schema: StreamSchema, kept: list[int], keys: Sequence[bytes | None] | None,
    timestamps: Sequence[int | None] | None, headers: Sequence[Any] | None,
) -> dict[int, list[Any]]:
    """The id from the message key or a header, the event time from the record, as configured:
    the columns of a row's places 0 (id) and 1 (event time) that are not in the message's value."""
    out: dict[int, list[Any]] = {}
    if schema.id_source == "key":
        out[0] = [_text(keys[j]) if keys is not None else None for j in kept]
    elif schema.id_source == "header":
        name = schema.id_field
        out[0] = [_text(next((v for k, v in (headers[j] or ()) if k == name), None)) if headers is not None else None
                  for j in kept]
    if schema.timestamp_source == "record":
        out[1] = [timestamps[j] for j in kept] if timestamps is not None else [None] * len(kept)
    return out


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value


def build_batch(
    schema: StreamSchema,
    partition: int,
    rows: list[tuple[Any, ...]],
    kept: list[int],
    offsets: Sequence[int],
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None,
    rejects: list[Reject],
    undeclared: int = 0,
    outside: dict[int, list[Any]] | None = None,
    typed: bool = False,
) -> tuple[EventBatch, list[Reject]]:
    """Columns from the messages' rows (and ``outside``: the columns of the fields not in the
    messages' values, by their place); each column's types are checked in one pass, but for the
    numeric columns of rows msgspec typed (``typed``: each value a float or None already)."""
    n = len(rows)
    bad: dict[int, str] = {}
    layout = schema.layout
    n_num, n_cat = len(layout.numeric), len(layout.categorical)
    columns: list[Any] = [None] * (4 + n_num + n_cat)
    for place, col in zip(layout.present, zip(*rows) if n else [() for _ in layout.present]):
        columns[place] = list(col)
    for place, col in (outside or {}).items():
        columns[place] = col
    columns = [[None] * n if col is None else col for col in columns]

    ids = columns[0]
    if not (only(ids, (str,)) and all(ids)):  # the fast path: every id a non-empty string
        for i, v in enumerate(ids):
            ids[i], why = event_id(v)
            if why:
                bad.setdefault(i, f"{schema.id_name} {why}")

    ts = timestamp_column(schema, columns[1], bad)

    numeric: dict[str, np.ndarray] = {}
    bad_feature: dict[int, str] = {}  # the feature of a schema error, per bad event
    for k, (name, _) in enumerate(layout.numeric):
        col = columns[2 + k]
        score = name.startswith(SCORE)
        what = f"score {name[len(SCORE):]!r}" if score else f"feature {name!r}"
        if not typed and not only(col, (*_NUMBER, _NONE)):
            for i, v in enumerate(col):
                if v is not None and (type(v) is bool or not isinstance(v, _NUMBER)):
                    bad.setdefault(i, f"{what} is numeric, got {type(v).__name__} {v!r:.60}")
                    if not score:
                        bad_feature.setdefault(i, name)
                    col[i] = None
        arr = np.array(col, dtype=np.float64) if n else np.empty(0)
        infinite = np.isinf(arr)
        if infinite.any():
            for i in np.flatnonzero(infinite):
                bad.setdefault(int(i), f"{what} is not a finite number")
                if not score:
                    bad_feature.setdefault(int(i), name)
            arr[infinite] = np.nan
        numeric[name] = arr
    scores = _scores(numeric, schema.score_fields, bad) if schema.score_fields else None

    categorical: dict[str, np.ndarray] = {}
    for k, name in enumerate(schema.categorical):
        col = columns[2 + n_num + k]
        if not only(col, (str, _NONE)):
            for i, v in enumerate(col):
                if isinstance(v, int) and type(v) is not bool:
                    col[i] = str(v)
                elif v is not None and not isinstance(v, str):
                    bad.setdefault(i, f"feature {name!r} is categorical, got {type(v).__name__} {v!r:.60}")
                    bad_feature.setdefault(i, name)
                    col[i] = None
        categorical[name] = object_array(col)

    label = target_column(columns[2 + n_num + n_cat], schema.label_field, schema.label_type, "label", bad)
    prediction = target_column(columns[3 + n_num + n_cat], schema.prediction_field, schema.prediction_type, "prediction",
                         bad)

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
    src = kept if all_kept else [kept[i] for i in idx]
    batch = EventBatch(
        partition=partition,
        offsets=np.asarray([offsets[j] for j in src], dtype=np.int64),
        ids=ids if all_kept else [ids[i] for i in idx],
        ts=ts if all_kept else ts[idx],
        numeric={k: (v if all_kept else v[idx]) for k, v in numeric.items()},
        categorical={k: (v if all_kept else v[idx]) for k, v in categorical.items()},
        label=label if all_kept else label[idx],
        prediction=prediction if all_kept else prediction[idx],
        scores=None if scores is None else (scores if all_kept else scores[idx]),
        raw=[values[j] for j in src],
        keys=[keys[j] for j in src] if keys is not None else [None] * len(src),
        undeclared=undeclared,
    )
    return batch, rejects


def _scores(numeric: dict[str, np.ndarray], fields: tuple[str, ...], bad: dict[int, str]) -> np.ndarray:
    """The score fields out of the numeric columns, as one float64 matrix: a probability in
    [0, 1], or NaN (missing)."""
    out = np.column_stack([numeric.pop(SCORE + f) for f in fields]) if fields else np.empty((0, 0))
    outside = ~np.isnan(out) & ((out < 0.0) | (out > 1.0))
    for i, j in zip(*np.nonzero(outside)):
        bad.setdefault(int(i), f"score {fields[j]!r} must be a probability in [0, 1], got {out[i, j]!r:.60}")
    return out
