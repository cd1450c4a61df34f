"""A stream spread over partitions as a producer keyed by event id would spread it, for the
tests that feed the learner's core in random polls."""

from __future__ import annotations

import zlib

import orjson


def spread(events: list[dict], partitions: int) -> dict[int, list[tuple[int, bytes]]]:
    """Each partition's ``(offset, message)`` in order, the partition by a hash of the event's id."""
    parts: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    for e in events:
        p = zlib.crc32(e["id"].encode()) % partitions
        parts[p].append((len(parts[p]), orjson.dumps(e)))
    return parts
