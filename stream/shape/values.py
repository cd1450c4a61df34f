"""The values of an event checked by type: ids, event times, labels and predictions.

Shared by every way a message is read (JSON, Avro, a file's rows), so that each gives the same
values and refuses the same ones with the same reasons.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from driftline.stream.events import StreamSchema

_NUMBER = (int, float)
_NONE = type(None)


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


def target_column(col: list[Any], field_name: str | None, kind: str | None, what: str, bad: dict[int, str]) -> np.ndarray:
    if field_name is None:
        return np.full(len(col), None, dtype=object)
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


def only(col: list[Any], types: tuple[type, ...]) -> bool:
    return set(map(type, col)) <= set(types)


def object_array(col: list[Any]) -> np.ndarray:
    arr = np.empty(len(col), dtype=object)
    arr[:] = col
    return arr


#: the timestamps driftline takes (epoch ms, about 292 million years either way of 1970)
TS_RANGE = (-(2**62), 2**62)


def fits(values: list[int], into: np.ndarray) -> bool:
    """Copy integers into an int64 column; False (nothing to rely on) when one is out of range."""
    try:
        into[:] = values
    except OverflowError:
        return False
    return bool(not len(values) or (TS_RANGE[0] <= into.min() and into.max() <= TS_RANGE[1]))


def timestamp(value: Any, seconds: bool = False) -> int | None:
    """Epoch ms from epoch ms (or s), ISO-8601 text or a datetime (Avro's timestamp types)."""
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        value = value * 1000 if seconds else value
        return int(value) if TS_RANGE[0] <= value <= TS_RANGE[1] else None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:  # not a date
            return None
    if isinstance(value, datetime):
        try:
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return int(value.timestamp() * 1000)
        except (ValueError, OverflowError):  # one that leaves the calendar in UTC
            return None
    return None



def timestamp_column(schema: StreamSchema, ts_raw: list[Any], bad: dict[int, str]) -> np.ndarray:
    """The event times as epoch ms; a bad one marks its event."""
    seconds = schema.timestamp_unit == "s"
    ts = np.empty(len(ts_raw), dtype=np.int64)
    if not seconds and only(ts_raw, (int,)) and fits(ts_raw, ts):
        return ts
    where = "the record's timestamp" if schema.timestamp_source == "record" else f"field {schema.timestamp_field!r}"
    unit = "seconds" if seconds else "milliseconds"
    for i, v in enumerate(ts_raw):
        parsed = timestamp(v, seconds)
        if parsed is None:
            bad.setdefault(i, f"{where} must be epoch {unit} or ISO-8601, got {v!r:.60}")
            ts[i] = -1
        else:
            ts[i] = parsed
    return ts
