"""Events from a file instead of Kafka: JSONL, CSV, Parquet or Avro container files, in chunks.

Each chunk is (offsets, raw JSON bytes), offsets being 0-based line (row, record) numbers, so
a file goes through exactly the parsing a Kafka message goes through (:func:`read_events`). A
CSV or Parquet row becomes a message of the stream's shape: each field's column is named as its
path (``applicant.income``) or as the feature (``income``), and its value is put at the
field's path; empty cells (and pandas' missing markers such as ``n/a``) and absent feature
columns are missing values. A CSV's id column is read as text, as written. An Avro container
file's records (its own schema inside) are the messages, as JSON.

A file that cannot be read at all (missing, of an unknown type, Parquet without ``pyarrow``,
a CSV pandas cannot parse) is an :class:`~driftline.stream.errors.InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from driftline.stream.errors import InputError
from driftline.stream.events import EventBatch, Reject, StreamSchema, parse_events
from driftline.stream.shape.layout import Path as FieldPath
from driftline.stream.shape.layout import dotted

Chunk = tuple[list[int], list[bytes]]
#: how much of a JSONL file is read at once
BLOCK_BYTES = 4 << 20


#: the file types a replay reads, by suffix
READABLE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".avro")


def file_kind(path: str | Path) -> str:
    """``jsonl``, ``csv`` or ``parquet`` by the file's suffix; InputError for any other."""
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    if suffix.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if suffix.endswith(".csv"):
        return "csv"
    if suffix.endswith(".parquet"):
        return "parquet"
    if suffix.endswith(".avro"):
        return "avro"
    raise InputError(f"{path}: unknown file type (use {', '.join(READABLE_SUFFIXES)})")


def check_readable(path: str | Path) -> str:
    """That ``path`` is a file a replay can read, before anything is done; its kind."""
    path = Path(path)
    kind = file_kind(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if kind == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError(f"{path}: reading Parquet needs pyarrow: pip install 'driftline[parquet]'") from None
    return kind


def read_events(path: str | Path, schema: StreamSchema, chunk_size: int = 5000) -> Iterator[tuple[EventBatch, list[Reject]]]:
    """The file's events parsed, chunk by chunk, as the live roles parse messages (as JSON)."""
    if schema.id_source != "field" or schema.timestamp_source != "field":
        raise InputError(f"{path}: a file holds no message keys, headers or record timestamps, but stream.id_source "
                         f"is {schema.id_source} and stream.timestamp_source {schema.timestamp_source}",
                         hint="export the id and the event time into the events, and point stream.id_field and "
                              "stream.timestamp_field at them in a copy of the configuration")
    as_json = replace(schema, format="json", avro=None, json_schema=None, protobuf=None)
    for offsets, raws in read_chunks(path, schema, chunk_size):
        yield parse_events(as_json, 0, offsets, raws)


def read_chunks(path: str | Path, schema: StreamSchema, chunk_size: int = 5000) -> Iterator[Chunk]:
    path = Path(path)
    kind = check_readable(path)
    if kind == "jsonl":
        yield from _jsonl(path, chunk_size)
    elif kind == "avro":
        yield from _avro(path, chunk_size)
    elif kind == "csv":
        yield from _csv(path, schema, chunk_size)
    else:
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's errors are one of these
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        for start in range(0, len(frame), chunk_size):
            yield _rows(frame.iloc[start : start + chunk_size], schema, start)


def _jsonl(path: Path, chunk_size: int) -> Iterator[Chunk]:
    """Lines in chunks, read in large blocks (a line's ``\\r\\n`` or ``\\n`` taken off)."""
    number = 0
    pending: list[bytes] = []
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            pending += lines
            while len(pending) >= chunk_size:
                raws, pending = pending[:chunk_size], pending[chunk_size:]
                yield list(range(number, number + len(raws))), _no_cr(raws)
                number += len(raws)
    if tail:
        pending.append(tail)
    if pending:
        yield list(range(number, number + len(pending))), _no_cr(pending)


def _no_cr(lines: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r") for line in lines] if any(line.endswith(b"\r") for line in lines) else lines


def _avro(path: Path, chunk_size: int) -> Iterator[Chunk]:
    import fastavro

    offsets: list[int] = []
    raws: list[bytes] = []
    try:
        with path.open("rb") as fh:
            for number, record in enumerate(fastavro.reader(fh)):
                offsets.append(number)
                raws.append(orjson.dumps(record, default=_json_value))
                if len(raws) >= chunk_size:
                    yield offsets, raws
                    offsets, raws = [], []
    except (ValueError, EOFError, OSError) as exc:  # fastavro's errors on a damaged or foreign file
        raise InputError(f"{path}: not a readable Avro container file after record {len(offsets)} ({exc})") from None
    if raws:
        yield offsets, raws


def _json_value(value: Any) -> Any:
    """An Avro value JSON has no type for: bytes as text, decimals and the rest as their text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _csv(path: Path, schema: StreamSchema, chunk_size: int) -> Iterator[Chunk]:
    import pandas as pd

    offset = 0
    try:
        reader = pd.read_csv(path, chunksize=chunk_size, dtype={schema.id_field: str})
        for frame in reader:
            yield _rows(frame, schema, offset)
            offset += len(frame)
    except pd.errors.EmptyDataError:
        return  # an empty file has no event
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file after row {offset} ({' '.join(str(exc).split())})") from None


def _rows(frame: Any, schema: StreamSchema, start: int) -> Chunk:
    layout = schema.layout
    names = ["", "", *(n for n, _ in layout.numeric), *(n for n, _ in layout.categorical), "", ""]
    placed: list[tuple[str, FieldPath]] = []  # (column, path in the message)
    for name, path in zip(names, layout.paths):
        if path is None:
            continue
        column = next((c for c in (dotted(path), name) if c and c in frame.columns), None)
        if column is not None:
            placed.append((column, path))
    raws = []
    for row in frame.to_dict("records"):
        event: dict[str, Any] = {}
        for column, path in placed:
            _place(event, path, _clean(row[column]))
        raws.append(orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY))
    return list(range(start, start + len(frame))), raws


def _place(doc: dict[str, Any], path: FieldPath, value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def _clean(value: Any) -> Any:
    """A cell as JSON has it: missing markers (NaN, NaT, pd.NA) None, NumPy scalars plain, and
    a whole float as the integer it stands for (a column of integers with a gap is read as
    floats), so ids, classes and epoch timestamps stay integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return str(value)  # JSON has no infinity: refused as a wrong type, as in a message
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, (str, int, bool)):
        return value
    if _missing(value):
        return None
    return str(value)  # a timestamp, a decimal or a date a Parquet column holds: as text


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array cell: not a missing marker
        return False
