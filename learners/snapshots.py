"""Snapshots of the online learner, to roll it back to before a drift.

The learner takes a snapshot (its River pipeline, pickled) every ``every`` trained events
(in mini-batches: at the first boundary past each), labelled with the newest event time it
had learned (``max_ts``: events are learned in learning order, not in event time, so this is
the running maximum); the newest ``keep`` are kept, and the oldest give way while they hold
more than ``max_bytes`` together. :meth:`SnapshotRing.before` finds the newest snapshot that
had learned no event from the time a drift began on: one answer for the stream, whatever its
partitions.

The ring survives a restart: :meth:`SnapshotRing.state_dict` and :meth:`SnapshotRing.blob`
go into the learner's checkpoint (signed: the snapshots are unpickled on a rollback only).
"""

from __future__ import annotations

import pickle
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

#: the default bound on the snapshots' bytes together
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    #: the event learned last when it was taken
    partition: int
    offset: int
    trained: int
    #: the pipeline, pickled when the snapshot was taken
    model: bytes
    #: the newest event time learned when it was taken (None: a snapshot of an older version)
    max_ts: int | None = None

    @property
    def pipeline(self) -> Any:
        """A fresh copy of the pipeline as it was (only from bytes driftline wrote: unpickling runs code)."""
        return pickle.loads(self.model)  # noqa: S301 - taken by this learner, or from its signed checkpoint


class SnapshotRing:
    def __init__(self, every: int, keep: int, max_bytes: int = MAX_BYTES):
        if every < 1 or keep < 1:
            raise ValueError("every and keep must be at least 1")
        self.every = every
        self.max_bytes = max_bytes
        self._ring: deque[Snapshot] = deque(maxlen=keep)
        #: the newest event time learned by the model as it stands
        self.max_ts: int | None = None

    def maybe_take(self, pipeline: Any, partition: int, offset: int, trained: int, ts: int) -> bool:
        """After learning the event at ``(partition, offset)`` of event time ``ts``: snapshot
        ``pipeline`` if ``trained`` is a multiple of ``every``; True if taken."""
        self.learned(ts)
        if trained % self.every:
            return False
        self._take(pipeline, partition, offset, trained)
        return True

    def _take(self, pipeline: Any, partition: int, offset: int, trained: int) -> None:
        model = pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)
        self._ring.append(Snapshot(partition, offset, trained, model, self.max_ts))
        while len(self._ring) > 1 and self.bytes > self.max_bytes:
            self._ring.popleft()

    def learned(self, ts: int) -> None:
        """An event of time ``ts`` is learned (a mini-batch's row): the snapshots after know it."""
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)

    def take_if_due(self, pipeline: Any, partition: int, offset: int, before: int, trained: int) -> bool:
        """After a mini-batch took the trained count from ``before`` to ``trained`` (its last row
        ``(partition, offset)``, every row's time noted with :meth:`learned`): snapshot ``pipeline`` if
        a multiple of ``every`` is in ``(before, trained]``; True if taken."""
        if trained // self.every == before // self.every:
            return False
        self._take(pipeline, partition, offset, trained)
        return True

    def before(self, ts: int) -> Snapshot | None:
        """The newest snapshot that had learned no event of time ``ts`` or later."""
        for snap in reversed(self._ring):
            if snap.max_ts is not None and snap.max_ts < ts:
                return snap
        return None

    def restore(self, snap: Snapshot) -> Any:
        """Go back to ``snap``: the snapshots taken after it (of the model given up) are dropped,
        and the newest time learned is the snapshot's; its pipeline, to learn on from."""
        while self._ring and self._ring[-1] is not snap:
            self._ring.pop()
        self.max_ts = snap.max_ts
        return snap.pipeline

    @property
    def bytes(self) -> int:
        return sum(len(s.model) for s in self._ring)

    def __len__(self) -> int:
        return len(self._ring)

    # -- state: the ring in the learner's checkpoint --------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "max_ts": self.max_ts,
            "snapshots": [[s.partition, s.offset, s.trained, len(s.model), s.max_ts] for s in self._ring],
        }

    def blob(self) -> bytes:
        return b"".join(s.model for s in self._ring)

    def load_state_dict(self, state: dict[str, Any], blob: bytes) -> None:
        self.max_ts = state.get("max_ts")  # absent in checkpoints of earlier versions
        self._ring.clear()
        at = 0
        for partition, offset, trained, size, max_ts in state["snapshots"]:
            model = blob[at:at + size]
            at += size
            # earlier versions kept each partition's offsets there, no time: never restored by time
            self._ring.append(Snapshot(partition, offset, trained, model, None if isinstance(max_ts, dict) else max_ts))


def pack(parts: list[bytes]) -> bytes:
    """Several byte strings as one (a checkpoint has one blob): their lengths, then them."""
    return struct.pack(f">I{len(parts)}Q", len(parts), *map(len, parts)) + b"".join(parts)


def unpack(blob: bytes) -> list[bytes]:
    (n,) = struct.unpack(">I", blob[:4])
    sizes = struct.unpack(f">{n}Q", blob[4:4 + 8 * n])
    out, at = [], 4 + 8 * n
    for size in sizes:
        out.append(blob[at:at + size])
        at += size
    return out
