"""Label messages of the ``labels`` topic: labels that come after their events, on their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftline.stream.events import Reject, StreamSchema, document
from driftline.stream.shape.layout import lookup, split_path
from driftline.stream.shape.values import event_id, normalise_target, timestamp


def parse_label_messages(
    partition: int, offsets: Sequence[int], values: Sequence[bytes | None], id_field: str, label_field: str,
    label_type: str | None, schema: StreamSchema | None = None, ts_field: str | None = "ts",
) -> tuple[list[tuple[str, Any, int, int]], list[Reject]]:
    """Late labels ``{"id": ..., "label": ..., "ts": ...}`` (``id_field``, ``label_field`` and
    ``ts_field`` dotted paths): (event id, label, offset, label time) or a reject. ``schema``
    gives the messages' format (JSON by default). The label's time is when it became known; it
    places the label in the learner's order, so a label without one is turned away
    (``ts_field=None``: not read, 0)."""
    id_path, label_path = split_path(id_field), split_path(label_field)
    ts_path = split_path(ts_field) if ts_field is not None else None
    schema = schema or StreamSchema("labels", {})
    out = []
    rejects = []
    for i, raw in enumerate(values):
        if raw is None or len(raw) > schema.max_event_bytes:
            why = "empty message (null value)" if raw is None else f"message of {len(raw)} bytes is larger than " \
                                                                   f"{schema.max_event_bytes}"
            rejects.append(Reject(partition, offsets[i], raw, f"label message: {why}"))
            continue
        doc, why = document(schema, raw)
        if doc is None:
            rejects.append(Reject(partition, offsets[i], raw, f"label message: {why}"))
            continue
        (value, problem), (label_value, label_problem) = lookup(doc, id_path), lookup(doc, label_path)
        the_id, why = event_id(value)
        label = normalise_target(label_value, label_type)
        ts_value, ts_problem = lookup(doc, ts_path) if ts_path is not None else (0, "")
        ts = timestamp(ts_value) if ts_path is not None else 0
        if problem or label_problem or ts_problem:
            rejects.append(Reject(partition, offsets[i], raw, f"label message: {problem or label_problem or ts_problem}"))
        elif why:
            rejects.append(Reject(partition, offsets[i], raw, f"label message: field {id_field!r} {why}"))
        elif label is None:
            rejects.append(Reject(partition, offsets[i], raw, f"label {label_value!r:.60} is not a valid {label_type} value"))
        elif ts is None:
            rejects.append(Reject(
                partition, offsets[i], raw,
                f"label message: field {ts_field!r} must be the time the label became known (epoch milliseconds or "
                f"ISO-8601), got {ts_value!r:.60}",
            ))
        else:
            out.append((the_id, label, offsets[i], ts))
    return out, rejects
