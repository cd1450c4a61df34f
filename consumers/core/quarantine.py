"""Quarantine book-keeping: which events are held back from training, and why.

A quarantine starts at the position of the alert that called for it: every event of that
partition at or after the alert's offset is held (routed to the quarantine topic, kept out of
training) until the quarantine is released. Overlapping quarantines are kept apart; an event
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
    released: bool = False
    held: int = 0


class QuarantineBook:
    def __init__(self) -> None:
        self._by_alert: dict[str, Quarantine] = {}

    def start(self, alert_id: str, partition: int, from_offset: int, reason: str) -> bool:
        """Open a quarantine; False if this alert already opened one (idempotent)."""
        if alert_id in self._by_alert:
            return False
        self._by_alert[alert_id] = Quarantine(alert_id, partition, from_offset, reason)
        return True

    def release(self, alert_id: str | None = None) -> list[str]:
        """Release one quarantine (or all with ``None``); the ids released."""
        out = []
        for q in self._by_alert.values():
            if not q.released and (alert_id is None or q.alert_id == alert_id):
                q.released = True
                out.append(q.alert_id)
        return out

    def holding(self, partition: int, offset: int) -> Quarantine | None:
        best = None
        for q in self._by_alert.values():
            if not q.released and q.partition == partition and offset >= q.from_offset:
                if best is None or q.from_offset < best.from_offset:
                    best = q
        return best

    @property
    def active(self) -> list[Quarantine]:
        return [q for q in self._by_alert.values() if not q.released]

    @property
    def all(self) -> list[Quarantine]:
        return list(self._by_alert.values())
