"""What one partition's poll contributes to its stream's judgement, as a compact message.

The monitor's instances parse their partitions' events (the expensive part) and publish, per
poll and partition, a :class:`PartitionCodes`: the accepted events reduced to the columns the
detectors read (event time, id, offset, each declared feature, label, prediction, the
model's scores), the
rejected messages' place in the stream (for the schema detector), and the partition's
progress (its newest event time, whether it is caught up). One judge merges them.

Wire format: a 4-byte big-endian length, a JSON header (ids, categories, labels,
predictions, rejects, progress), then the int64 offsets and event times and the float64
numeric and score columns as raw little-endian arrays. About 8 bytes per numeric feature per event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from driftline.stream.events import EventBatch, object_array

VERSION = 1
_LEN = struct.Struct(">I")


@dataclass
class PartitionCodes:
    """One partition's contribution: accepted events, rejected messages' keys, progress."""

    partition: int
    batch: EventBatch
    #: the stream the partition belongs to (a codes topic may be shared by several streams)
    stream: str = ""
    #: rejected messages (unreadable, wrong type): offset, event time (the previous event's),
    #: and a content id (``reject:<sha256 prefix>``) that orders them the same on any partitioning
    reject_offsets: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    reject_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    reject_ids: list[str] = field(default_factory=list)
    #: the partition's newest event time so far (its watermark), and whether the instance has
    #: read it to its end (an idle partition may then be passed over, see ``StreamMerge``)
    max_ts: int = -(2**62)
    caught_up: bool = False
    next_offset: int = 0
    #: the rejected messages' partitions, when the record merges several (``batch.partitions``
    #: then holds the events'); None: all are ``partition``'s
    reject_partitions: np.ndarray | None = None

    def reject_partition_array(self) -> np.ndarray:
        if self.reject_partitions is not None:
            return self.reject_partitions
        return np.full(len(self.reject_ids), self.partition, dtype=np.int64)


def encode(codes: PartitionCodes) -> bytes:
    b = codes.batch
    header: dict[str, Any] = {
        "v": VERSION, "s": codes.stream, "p": codes.partition, "n": len(b), "ids": b.ids,
        "num": list(b.numeric), "cat": {k: v.tolist() for k, v in b.categorical.items()},
        "label": b.label.tolist(), "pred": b.prediction.tolist(),
        "rej": [codes.reject_offsets.tolist(), codes.reject_ts.tolist(), codes.reject_ids],
        "max_ts": codes.max_ts, "caught_up": codes.caught_up, "next": codes.next_offset,
    }
    if b.partitions is not None:
        header["parts"] = b.partitions.tolist()
    if codes.reject_partitions is not None:
        header["rparts"] = codes.reject_partitions.tolist()
    if b.scores is not None:
        header["nscore"] = int(b.scores.shape[1])
    head = orjson.dumps(header)
    arrays = [np.ascontiguousarray(b.offsets, dtype="<i8"), np.ascontiguousarray(b.ts, dtype="<i8")]
    arrays += [np.ascontiguousarray(b.numeric[k], dtype="<f8") for k in b.numeric]
    if b.scores is not None:  # the score columns, each contiguous
        arrays += [np.ascontiguousarray(b.scores.T, dtype="<f8")]
    return _LEN.pack(len(head)) + head + b"".join(a.tobytes() for a in arrays)


def decode(raw: bytes) -> PartitionCodes:
    """The message back; ValueError when it is not a codes message of this version."""
    if len(raw) < _LEN.size:
        raise ValueError("not a codes message: too short")
    (size,) = _LEN.unpack_from(raw)
    header = orjson.loads(raw[_LEN.size:_LEN.size + size])
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise ValueError(f"not a codes message of version {VERSION}")
    n = int(header["n"])
    body = memoryview(raw)[_LEN.size + size:]
    names = header["num"]
    n_scores = header.get("nscore")
    if len(body) != 8 * n * (2 + len(names) + (n_scores or 0)):
        raise ValueError("codes message truncated")
    columns = np.frombuffer(body, dtype="<i8", count=2 * n).reshape(2, n) if n else np.empty((2, 0), np.int64)
    floats = np.frombuffer(body, dtype="<f8", offset=16 * n, count=len(names) * n).reshape(len(names), n) if n and names else None
    scores = None
    if n_scores is not None:
        at = 8 * n * (2 + len(names))
        scores = np.frombuffer(body, dtype="<f8", offset=at).reshape(n_scores, n).T.copy() if n \
            else np.empty((0, n_scores))
    batch = EventBatch(
        partition=int(header["p"]),
        offsets=columns[0].astype(np.int64),
        ids=header["ids"],  # a fresh list, the JSON's
        ts=columns[1].astype(np.int64),
        numeric={k: floats[i].astype(np.float64) if floats is not None else np.empty(0) for i, k in enumerate(names)},
        categorical={k: object_array(v) for k, v in header["cat"].items()},
        label=object_array(header["label"]),
        prediction=object_array(header["pred"]),
        partitions=np.array(header["parts"], dtype=np.int64) if "parts" in header else None,
        scores=scores,
    )
    offsets, ts, ids = header["rej"]
    return PartitionCodes(
        partition=batch.partition, batch=batch, stream=str(header.get("s", "")),
        reject_offsets=np.array(offsets, dtype=np.int64), reject_ts=np.array(ts, dtype=np.int64),
        reject_ids=ids, max_ts=int(header["max_ts"]), caught_up=bool(header["caught_up"]),
        next_offset=int(header["next"]),
        reject_partitions=np.array(header["rparts"], dtype=np.int64) if "rparts" in header else None,
    )
