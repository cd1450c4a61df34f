"""Online rollbacks at a point fixed by the data.

A drift alert whose policy says ``rollback`` rolls the learner's online model back before the
first learning step at or after the alert's event time (the judge's alerts are read before the
learner steps past them; the learner's own, at its next step), to the newest snapshot that
learned no event from the drift's start on (the alert window's ``start_ts``; else the alert's
event). A rollback whose alert comes within ``models.retrain.debounce_seconds`` of event time
after the previous rollback's, or whose drift began before it, is the same storm, and is
skipped: after a rollback the concept detectors watch the restored model at once, and if the
change was real they alert it again; rolling back once more would keep the model from ever
learning the new concept. So the model, and the concept alerts that follow, are the same for any
partitioning and any timing, live and in backtest. Pure bookkeeping: the learner's core does
the restoring (:meth:`~driftline.consumers.core.learner.LearnerCore.rollback_online`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from driftline.consumers.config.model import PolicyConfig
from driftline.consumers.core.policies import actions_for
from driftline.stream.messages import Alert

#: the alerts rolled back for, remembered (an alert read again after a restart is not rolled back twice)
ROLLED_BACK_KEPT = 10_000


@dataclass
class Rollback:
    """An online rollback a drift alert's policy called for: due at the alert's event time."""

    alert_id: str
    #: the alert's event time: the rollback is taken before the first step at or after it
    at: int
    #: when the drift began (event time): the snapshot restored learned nothing from it on
    start: int
    #: what came of it, once taken: the snapshot's trained count, or why nothing rolled back
    restored: int | None = None
    skipped: str | None = None

    def to_list(self) -> list[Any]:
        return [self.alert_id, self.at, self.start, self.restored, self.skipped]


class OnlineRollbacks:
    """The rollbacks planned and not yet due, the alerts already rolled back for, and the
    event time of the latest rollback taken."""

    def __init__(self, policies: Sequence[PolicyConfig], debounce_ms: float):
        self.policies = policies
        self.debounce_ms = debounce_ms
        self.planned: list[Rollback] = []
        self.done: dict[str, None] = {}
        self.last_at: int | None = None

    def __bool__(self) -> bool:
        return bool(self.planned)

    def plan(self, alert: Alert) -> None:
        """Plan the rollback ``alert``'s policy calls for (once per alert, also when read again)."""
        if alert.severity != "drift" or alert.position.ts is None or alert.alert_id in self.done:
            return
        if any(r.alert_id == alert.alert_id for r in self.planned):
            return
        if not any(action == "rollback" for action, _ in actions_for(self.policies, alert)):
            return
        start = alert.window.start_ts if alert.window.start_ts is not None else alert.position.ts
        self.planned.append(Rollback(alert.alert_id, alert.position.ts, min(start, alert.position.ts)))
        self.planned.sort(key=lambda r: (r.at, r.alert_id))

    def take_due(self, at: int, restore: Callable[[int], int | None]) -> list[Rollback]:
        """The rollbacks due before a step at event time ``at``, in order of their alerts, each
        taken with ``restore(start)`` (the snapshot's trained count, None if there is none) or
        skipped as part of the storm of the last one."""
        out = []
        while self.planned and self.planned[0].at <= at:
            r = self.planned.pop(0)
            self.done[r.alert_id] = None
            if len(self.done) > ROLLED_BACK_KEPT:
                del self.done[next(iter(self.done))]
            if self.last_at is not None and (r.start < self.last_at or r.at - self.last_at < self.debounce_ms):
                r.skipped = (f"the online model was last rolled back for an alert at event time {self.last_at}; "
                             f"this alert's drift (from {r.start}, alerted at {r.at}) is the same storm")
            else:
                r.restored = restore(r.start)
                if r.restored is None:
                    r.skipped = f"no snapshot learned nothing from event time {r.start} on"
                else:
                    self.last_at = r.at
            out.append(r)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"due": [r.to_list() for r in self.planned], "done": list(self.done), "at": self.last_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.planned = [Rollback(*row) for row in state.get("due", [])]
        self.done = dict.fromkeys(state.get("done", []))
        self.last_at = state.get("at")
