"""What the learner's steps give back to their caller (the learner role, or the backtest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the outcome carries what the steps made
    from driftline.consumers.core.online.quiet import QuietEnd
    from driftline.consumers.core.online.rollback import Rollback
    from driftline.consumers.core.order.learning import Label
    from driftline.consumers.core.quarantine import Quarantine
    from driftline.stream.events import Reject
    from driftline.stream.messages import Alert


@dataclass
class HeldEvent:
    """An event a quarantine holds: the message as it came, for the quarantine topic (copied
    with its event time as the record time: where the stream takes its time from the record,
    that is the original's)."""

    partition: int
    offset: int
    raw: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]] | None
    quarantine: Quarantine
    ts: int | None = None


@dataclass
class LearnOutcome:
    alerts: list[Alert] = field(default_factory=list)
    #: labels no event will join (a duplicate, late, or no event in time): the role dead-letters them
    turned_labels: list[tuple[Label, str]] = field(default_factory=list)
    held: list[HeldEvent] = field(default_factory=list)
    #: steps taken (arrivals and learnings)
    steps: int = 0
    #: labelled events the model could not use (partition, offset, the event as the learner saw
    #: it, why): not scored, not learned from; the role dead-letters them
    unusable: list[Reject] = field(default_factory=list)
    #: quarantines ended by their detector's quiet time at the last step taken: the steps stop
    #: there, and the caller replays their held events (:meth:`LearnerCore.replay`) before the next
    released: list[QuietEnd] = field(default_factory=list)
    #: online rollbacks taken (or skipped) during these steps
    rollbacks: list[Rollback] = field(default_factory=list)
