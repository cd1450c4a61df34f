"""Which quarantines are open, as the audit records on ``driftline-actions`` say: one fold.

Every reader of quarantine state (the quarantine commands, the actions role after a restart,
the retrain job's training data) folds the same records the same way:

- ``quarantine``/``started`` with an alert id opens that alert's quarantine;
- ``release`` or ``purge`` ends the quarantine of its alert id, or every open one when the
  record names no alert (an operator's "release all");
- a purge keeps the range it covered (``to_offset``) as never to be trained on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from driftline.stream.messages import ActionRecord

#: (partition, from offset, to offset or None for "still open")
Range = tuple[int, int, int | None]


@dataclass
class QuarantineLog:
    """The fold's result: the open quarantines by alert id (their ``started`` records), and
    the ranges purged quarantines covered."""

    active: dict[str, ActionRecord] = field(default_factory=dict)
    purged: list[Range] = field(default_factory=list)

    def apply(self, r: ActionRecord) -> None:
        if r.action == "quarantine" and r.status == "started" and r.alert_id:
            self.active[r.alert_id] = r
        elif r.action in ("release", "purge"):
            ended = list(self.active) if r.alert_id is None else [r.alert_id]
            for alert_id in ended:
                q = self.active.pop(alert_id, None)
                if q is not None and r.action == "purge":
                    to = r.scope.get("to_offset")
                    self.purged.append((int(q.scope["partition"]), int(q.scope["from_offset"]),
                                        None if to is None else int(to)))

    def excluded(self) -> list[Range]:
        """The event ranges that must not be trained on: open quarantines, purged ranges."""
        opened = [(int(q.scope["partition"]), int(q.scope["from_offset"]), None) for q in self.active.values()]
        return opened + list(self.purged)


def fold_quarantines(records: Iterable[ActionRecord]) -> QuarantineLog:
    """Fold action records, in topic order, into the quarantines they leave open."""
    log = QuarantineLog()
    for r in records:
        log.apply(r)
    return log
