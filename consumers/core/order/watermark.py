"""Watermarks of one input's partitions, and how far in event time they let the stream go.

Each partition's watermark is the newest event time it has brought. An input (the ``events``
topic, or ``labels``) lets everything older than its *bound* be released in order: the
smallest watermark over its partitions, less ``allowed_lateness_ms``. Nothing still to come
on a partition can be older than that bound, since an event more than the lateness behind
its own partition's newest is turned away at intake (:mod:`.intake`); so what is released
behind the bound is the same on any partitioning and any interleaving of polls.

An idle partition would hold the bound back for ever: one whose reader, in its last word,
said it is read to its end although it has brought nothing for ``idle_ms`` of wall-clock
time by the reader's own clock (what the reader saw, however late its words are taken in),
and whose reader was heard from lately (here), is passed over. A reader that stops (a crash,
a rebalance) cannot say so: its partition holds the stream back until the next reader
speaks, whatever became of the "I am moving on" message. When every partition is idle the
input sets no bound. That is the one place where timing enters.

Pure computation: the wall clock is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: the watermark of a partition that has seen no event yet
NO_TIME = -(2**62)

#: how recent (wall-clock ms) a reader's last word must be for its partition to count as idle
#: (instances say a caught-up partition is read to its end once a second)
FRESH_MS = 3000.0


@dataclass
class Watermark:
    max_ts: int = NO_TIME
    caught_up: bool = False
    #: wall-clock time (ms), here, its reader last said anything (data or "read to the end")
    heard_at: float = 0.0
    #: the next source offset not yet taken in: what comes again below it is a replay
    next_offset: int = 0
    #: the reader's own clock (ms) when it last brought something (None: not heard since a
    #: restart: its first word starts the count) and at its last word; the quiet time is theirs
    said_active_at: float | None = None
    said_at: float = 0.0


class Watermarks:
    """One input's partitions: their watermarks, which are idle, and the bound they set."""

    def __init__(self, partitions: Iterable[int], allowed_lateness_ms: int, idle_ms: float, now_ms: float = 0.0):
        self.allowed_lateness_ms = allowed_lateness_ms
        self.idle_ms = idle_ms
        self.parts: dict[int, Watermark] = {p: Watermark(heard_at=-math.inf) for p in partitions}

    def heard(self, partition: int, max_ts: int, caught_up: bool, now_ms: float, brought: bool,
              said_ms: float | None = None) -> Watermark:
        """A partition's reader spoke: its watermark, whether it is read to its end, and
        whether it brought anything (events, labels or rejected messages). ``said_ms``: when the
        reader said it, by its own clock (a monitor instance's, for the judge); the quiet time
        is counted on that clock, so a judge that takes the words in late or in a burst counts
        what the reader saw, not its own lag. Without it, ``now_ms``."""
        part = self.parts.setdefault(partition, Watermark())
        said = now_ms if said_ms is None else said_ms
        part.max_ts = max(part.max_ts, max_ts)
        part.caught_up = caught_up
        part.heard_at = now_ms
        part.said_at = said
        if brought:
            part.said_active_at = said
        elif part.said_active_at is None:
            part.said_active_at = said
        return part

    def waited(self, ms: float) -> None:
        """The reader did not read for ``ms`` (it waited on something else): that time is no quiet
        time of the partitions."""
        for part in self.parts.values():
            if part.said_active_at is not None:
                part.said_active_at += ms

    def idle(self, now_ms: float) -> list[int]:
        """Partitions passed over now: their reader's last word, heard lately, said "read to the
        end" ``idle_ms`` or more after the partition last brought anything. Quiet time after a
        reader's last word does not count: one gone silent (crashed, in a rebalance) may have
        data still to bring, so its partition holds the stream back until a reader speaks."""
        fresh = max(self.idle_ms, FRESH_MS)
        return [p for p, s in self.parts.items()
                if s.caught_up and s.said_active_at is not None and s.said_at - s.said_active_at >= self.idle_ms
                and now_ms - s.heard_at <= fresh]

    def bound(self, now_ms: float) -> tuple[int | None, bool]:
        """``(bound, passed_over)``: the event time before which this input has brought all it
        will (None when every partition is idle, or there is none), and whether an idle
        partition was passed over to get it."""
        idle = set(self.idle(now_ms))
        active = [s.max_ts for p, s in self.parts.items() if p not in idle]
        if not active:
            return None, False
        return min(active) - self.allowed_lateness_ms, bool(idle)

    @property
    def newest(self) -> int:
        return max((s.max_ts for s in self.parts.values()), default=NO_TIME)

    def state_dict(self) -> dict[str, list[Any]]:
        return {str(p): [s.max_ts, s.caught_up, s.next_offset] for p, s in self.parts.items()}

    def load_state_dict(self, state: dict[str, list[Any]], now_ms: float) -> None:
        self.parts = {int(p): Watermark(int(m), bool(c), -math.inf, int(o)) for p, (m, c, o) in state.items()}
