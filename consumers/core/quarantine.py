"""Quarantine book-keeping: which events are held back from training, and why.

A quarantine starts at the alert that called for it. A stream-level alert names its firing
event's time: every event of the stream, on every partition, from that time on is held
(routed to the quarantine topic, kept out of training) until the quarantine is released. An
alert without an event time (of an older version) holds its partition from its offset on. Overlapping quarantines are kept apart; an event
is named by the earliest one that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Quarantine:
    alert_id: str
    partition: int
    from_offset: int
    reason: str
    #: a stream-level alert's event time: every event of the stream from then on is held
    from_ts: int | None = None
    #: the detector whose alert opened it (its quiet time may end it)
    detector: str = ""
    released: bool = False
    held: int = 0

    def holds(self, partition: int, offset: int, ts: int) -> bool:
        if self.released:
            return False
        if self.from_ts is not None:
            return ts >= self.from_ts
        return partition == self.partition and offset >= self.from_offset


class QuarantineBook:
    def __init__(self) -> None:
        self._by_alert: dict[str, Quarantine] = {}

    def start(self, alert_id: str, partition: int, from_offset: int, reason: str, from_ts: int | None = None,
              detector: str = "") -> bool:
        """Open a quarantine; False if this alert already opened one (idempotent)."""
        if alert_id in self._by_alert:
            return False
        self._by_alert[alert_id] = Quarantine(alert_id, partition, from_offset, reason, from_ts, detector)
        return True

    def release(self, alert_id: str | None = None) -> list[str]:
        """Release one quarantine (or all with ``None``); the ids released."""
        out = []
        for q in self._by_alert.values():
            if not q.released and (alert_id is None or q.alert_id == alert_id):
                q.released = True
                out.append(q.alert_id)
        return out

    def holding(self, partition: int, offset: int, ts: int) -> Quarantine | None:
        """The quarantine that holds the event, the one that started earliest if several do."""
        best = None
        for q in self._by_alert.values():
            if q.holds(partition, offset, ts):
                if best is None or (q.from_ts or 0, q.from_offset) < (best.from_ts or 0, best.from_offset):
                    best = q
        return best

    @property
    def active(self) -> list[Quarantine]:
        return [q for q in self._by_alert.values() if not q.released]

    @property
    def all(self) -> list[Quarantine]:
        return list(self._by_alert.values())
