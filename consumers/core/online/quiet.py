"""Quarantines that end on their detector's quiet time, at a point fixed by the data.

With ``models.quarantine_quiet_events: N`` a quarantine ends at the arrival of the N-th event
of the stream since its start or since its detector's latest drift alert (alerts counted by
their event time), so the events it holds, and where in the learning order they are learned
once released, are the same live and in backtest. Pure bookkeeping over the learner's
arrivals; the learner's core releases the quarantine and its caller replays the held events.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftline.consumers.core.quarantine import Quarantine


@dataclass
class QuietEnd:
    """A quarantine ended at an arrival: its detector quiet for ``quiet`` events of the stream."""

    quarantine: Quarantine
    quiet: int
    #: the arrival it ended at
    ts: int
    event_id: str


class QuietTimes:
    """Per open quarantine, the arrivals counted quiet; the drift alerts' times by detector."""

    def __init__(self, quiet_events: int | None):
        self.quiet_events = quiet_events
        #: per quarantine [events quiet, event time counted to]
        self.counts: dict[str, list[int]] = {}
        #: quarantines ended on their quiet time (a restart re-reads their alerts)
        self.ended: set[str] = set()
        self._drift_ts: dict[str, list[int]] = {}

    def drift(self, detector: str, ts: int) -> None:
        """``detector`` alerted a drift at event time ``ts`` (an alert read again counts once)."""
        times = self._drift_ts.setdefault(detector, [])
        i = bisect_left(times, ts)
        if i == len(times) or times[i] != ts:
            times.insert(i, ts)

    def arrive(self, ts: int, event_id: str, active: Iterable[Quarantine]) -> list[QuietEnd]:
        """Count an arrival at event time ``ts`` towards each open quarantine; those it ends."""
        if not self.quiet_events:
            return []
        ended = []
        for q in active:
            if q.from_ts is None or ts < q.from_ts:
                continue
            count = self.counts.setdefault(q.alert_id, [0, q.from_ts - 1])
            times = self._drift_ts.get(q.detector, [])
            if bisect_right(times, ts) > bisect_right(times, count[1]):  # its detector alerted since
                count[0] = 0
            count[0] += 1
            count[1] = ts
            if count[0] >= self.quiet_events:
                ended.append(QuietEnd(q, count[0], ts, event_id))
        for end in ended:
            self.counts.pop(end.quarantine.alert_id, None)
            self.ended.add(end.quarantine.alert_id)
        return ended

    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "ended": sorted(self.ended)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = {k: list(v) for k, v in state.get("counts", {}).items()}
        self.ended = set(state.get("ended", []))
