"""Events from a file instead of Kafka: JSONL, CSV or Parquet, in chunks.

Each chunk is (offsets, raw JSON bytes), offsets being 0-based line (row) numbers, so a file
goes through exactly the parsing a Kafka message goes through. A CSV or Parquet row becomes
the event ``{"id", "ts", "features": {...}, "label", "prediction"}`` with its columns named
as the schema names the fields; empty cells are missing values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from driftline.stream.events import StreamSchema

Chunk = tuple[list[int], list[bytes]]


#: the file types a replay reads, by suffix
READABLE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")


def read_chunks(path: str | Path, schema: StreamSchema, chunk_size: int = 5000) -> Iterator[Chunk]:
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".jsonl", ".json", ".ndjson")):
        yield from _jsonl(path, chunk_size)
    elif suffix.endswith(".csv"):
        import pandas as pd

        for offset, frame in _frames(pd.read_csv(path, chunksize=chunk_size)):
            yield _rows(frame, schema, offset)
    elif suffix.endswith(".parquet"):
        import pandas as pd

        frame = pd.read_parquet(path)
        for start in range(0, len(frame), chunk_size):
            yield _rows(frame.iloc[start : start + chunk_size], schema, start)
    else:
        raise ValueError(f"{path}: unknown file type (use .jsonl, .csv or .parquet)")


def _jsonl(path: Path, chunk_size: int) -> Iterator[Chunk]:
    offsets: list[int] = []
    raws: list[bytes] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh):
            offsets.append(number)
            raws.append(line.rstrip(b"\r\n"))
            if len(raws) >= chunk_size:
                yield offsets, raws
                offsets, raws = [], []
    if raws:
        yield offsets, raws


def _frames(reader: Any) -> Iterator[tuple[int, Any]]:
    offset = 0
    for frame in reader:
        yield offset, frame
        offset += len(frame)


def _rows(frame: Any, schema: StreamSchema, start: int) -> Chunk:
    features = [f for f in schema.features if f in frame.columns]
    raws = []
    for row in frame.to_dict("records"):
        event: dict[str, Any] = {
            schema.id_field: _clean(row.get(schema.id_field)),
            schema.timestamp_field: _clean(row.get(schema.timestamp_field)),
            "features": {f: _clean(row[f]) for f in features},
        }
        for name in (schema.label_field, schema.prediction_field):
            if name and name in row:
                event[name] = _clean(row[name])
        raws.append(orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY))
    return list(range(start, start + len(frame))), raws


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    return value
