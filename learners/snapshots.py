"""Snapshots of the online learner, to roll it back to before a drift.

The learner takes a snapshot (its River pipeline, pickled) every ``every`` trained events,
labelled with the newest offset it had learned on each partition; the newest ``keep`` are
kept, and the oldest give way while they hold more than ``max_bytes`` together.
:meth:`SnapshotRing.before` finds the newest snapshot that had learned nothing from a
partition at or after the offset where a drift began on it.

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
    partition: int
    offset: int
    trained: int
    #: the pipeline, pickled when the snapshot was taken
    model: bytes
    #: the newest offset learned on each partition when it was taken
    learned: dict[int, int]
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
        self._learned: dict[int, int] = {}
        #: the newest event time learned by the model as it stands
        self.max_ts: int | None = None

    def maybe_take(self, pipeline: Any, partition: int, offset: int, trained: int, ts: int) -> bool:
        """After learning the event at ``(partition, offset)`` of event time ``ts``: snapshot
        ``pipeline`` if ``trained`` is a multiple of ``every``; True if taken."""
        self._learned[partition] = max(offset, self._learned.get(partition, -1))
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)
        if trained % self.every:
            return False
        self._take(pipeline, partition, offset, trained)
        return True

    def _take(self, pipeline: Any, partition: int, offset: int, trained: int) -> None:
        model = pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)
        self._ring.append(Snapshot(partition, offset, trained, model, dict(self._learned), self.max_ts))
        while len(self._ring) > 1 and self.bytes > self.max_bytes:
            self._ring.popleft()

    def learned(self, partition: int, offset: int, ts: int) -> None:
        """The event at ``(partition, offset)`` of event time ``ts`` is learned (a mini-batch's
        row): the snapshots after know it."""
        self._learned[partition] = max(offset, self._learned.get(partition, -1))
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)

    def take_if_due(self, pipeline: Any, partition: int, offset: int, before: int, trained: int) -> bool:
        """After a mini-batch took the trained count from ``before`` to ``trained`` (its last row
        ``(partition, offset)``, every row noted with :meth:`learned`): snapshot ``pipeline`` if
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
        and the learned times are the snapshot's; its pipeline, to learn on from."""
        while self._ring and self._ring[-1] is not snap:
            self._ring.pop()
        self._learned = dict(snap.learned)
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
            "learned": {str(p): o for p, o in self._learned.items()},
            "max_ts": self.max_ts,
            "snapshots": [[s.partition, s.offset, s.trained, len(s.model), {str(p): o for p, o in s.learned.items()},
                           s.max_ts] for s in self._ring],
        }

    def blob(self) -> bytes:
        return b"".join(s.model for s in self._ring)

    def load_state_dict(self, state: dict[str, Any], blob: bytes) -> None:
        self._learned = {int(p): int(o) for p, o in state["learned"].items()}
        self.max_ts = state.get("max_ts")  # absent in checkpoints of earlier versions
        self._ring.clear()
        at = 0
        for partition, offset, trained, size, learned, *max_ts in state["snapshots"]:
            model = blob[at:at + size]
            at += size
            self._ring.append(Snapshot(partition, offset, trained, model, {int(p): int(o) for p, o in learned.items()},
                                       max_ts[0] if max_ts else None))


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
