"""The learner's order: events and their labels, joined and taken in an order fixed by the data.

Labels come late, on their own topic, and the order in which the learner's fetches of
``events`` and ``labels`` interleave is timing. What the learner does must not be: each
event gives two steps, taken in the order of ``(time, step, event id)``:

- its **arrival**, at its event time: the quarantines open by then decide whether it is held
  (copied to the quarantine topic, kept out of training);
- its **learning**, once labelled, at the *learning time* ``max(event time, label time)``: the
  model scores it and learns from it, and the concept detectors see its error.

A label message's time is the time the label became known (its ``ts``), not the event's. A
step is taken once both inputs (and, live, the judge) are past its time: every partition of
``events`` and of ``labels`` has brought something later by ``allowed_lateness_ms``
(:class:`~driftline.consumers.core.order.watermark.Watermarks`). Nothing still to come can then be
earlier, so the steps are the same for any partitioning, any interleaving of polls, live and
in backtest. An input whose partitions are all idle sets no bound (``events``: none beyond its
newest event); what then arrives behind the frontier is *late*: counted, never taken out of
order.

The joins are bounded by the data too: an event and a label are joined only if their times
are at most ``max_pending_age_ms`` apart, so an event still waiting when the frontier is past
its time by that much can never be joined and expires (counted), and so does an orphan label
(returned, to be dead-lettered). ``max_pending`` caps what waits by count, the oldest giving
way first: past that cap the order of arrival decides, which the README says.
"""

from __future__ import annotations

import base64
import heapq
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from driftline.consumers.core.order.judged import JudgeProgress
from driftline.consumers.core.order.watermark import NO_TIME, Watermarks

#: the two steps of an event, in this order at equal times
ARRIVE, LEARN = 0, 1


@dataclass
class WaitingEvent:
    """One event between its poll and its learning, with what the quarantine topic needs.

    Its features are ``x`` (a dict, missing ones left out) or, until a dict is asked for
    (:meth:`features`), row ``source[1]`` of the feature columns ``source[0]`` (a
    :class:`~driftline.learners.minibatch.Columns`: the poll's columns, not its raw messages)
    it came in: the mini-batch learner reads them from the columns, never through a dict per event."""

    event_id: str
    x: dict[str, Any] | None
    partition: int
    offset: int
    ts: int
    raw: bytes | None = None
    key: bytes | None = None
    headers: list[tuple[str, bytes]] | None = None
    #: its label (None: not yet), when it became known, and where it came from
    label: Any = None
    label_ts: int = NO_TIME
    label_partition: int = -1
    label_offset: int = -1
    arrived: bool = False
    #: the quarantine that holds it (its alert id), once decided; and whether it was copied
    held: str | None = None
    copied: bool = False
    #: the feature columns and the row its features are in (not kept in a checkpoint: ``x`` is)
    source: tuple[Any, int] | None = field(default=None, repr=False, compare=False)

    @property
    def learn_at(self) -> int:
        return max(self.ts, self.label_ts)

    def features(self) -> dict[str, Any]:
        """The features as a dict, missing ones left out (built from ``source`` once, if need be)."""
        if self.x is None:
            columns, index = self.source  # type: ignore[misc]
            self.x = columns.row(index)
        return self.x

    def to_list(self) -> list[Any]:
        raw = base64.b64encode(self.raw).decode() if self.raw is not None else None
        key = base64.b64encode(self.key).decode() if self.key is not None else None
        headers = [[k, base64.b64encode(v or b"").decode()] for k, v in self.headers] if self.headers else None
        return [self.event_id, self.features(), self.partition, self.offset, self.ts, raw, key, headers, self.label,
                self.label_ts, self.label_partition, self.label_offset, self.arrived, self.held, self.copied]

    @classmethod
    def from_list(cls, row: list[Any]) -> WaitingEvent:
        e = cls(*row)
        e.raw = base64.b64decode(e.raw) if e.raw is not None else None
        e.key = base64.b64decode(e.key) if e.key is not None else None
        e.headers = [(k, base64.b64decode(v)) for k, v in e.headers] if e.headers else None
        return e


@dataclass
class Label:
    event_id: str
    label: Any
    ts: int
    partition: int
    offset: int


@dataclass
class Turned:
    """What the order turned away this time: each is counted by the caller, labels dead-lettered."""

    #: labels no event will join: (label, why)
    labels: list[tuple[Label, str]]
    #: events that will never be learned (no label came in time, or pushed out by the cap)
    expired_events: int = 0
    #: events that arrived behind the frontier (only after an idle input was passed over)
    late_events: int = 0


class LearningOrder:
    """Join events and labels by id; take their steps in data order behind the frontier."""

    def __init__(self, event_partitions: Iterable[int], label_partitions: Iterable[int], allowed_lateness_ms: int,
                 idle_ms: float, max_age_ms: int | None, max_pending: int, now_ms: float = 0.0):
        self.events = Watermarks(event_partitions, allowed_lateness_ms, idle_ms, now_ms)
        self.labels = Watermarks(label_partitions, allowed_lateness_ms, idle_ms, now_ms)
        self.allowed_lateness_ms = allowed_lateness_ms
        self.max_age_ms = max_age_ms
        self.max_pending = max_pending
        self.frontier = NO_TIME
        self.waiting: dict[str, WaitingEvent] = {}
        #: unlabelled events in arrival order (the count cap pushes out the oldest)
        self._unlabelled: OrderedDict[str, None] = OrderedDict()
        self.orphans: OrderedDict[str, Label] = OrderedDict()
        self._arrivals: list[tuple[int, str]] = []
        self._learnings: list[tuple[int, str]] = []
        #: arrived events still without a label, in event-time order (their expiry)
        self._arrived: deque[tuple[int, str]] = deque()
        self._orphan_times: list[tuple[int, str]] = []
        self.passed_over = 0
        self._due = 0
        #: after :meth:`steps`: every step before this time is taken
        self.reached = NO_TIME
        #: live, behind a judge: its decisions on ``events`` (:meth:`follow_judge`), and the next
        #: offset read on each ``events`` partition
        self.judge: JudgeProgress | None = None
        self.read: dict[int, int] = {}

    def follow_judge(self) -> None:
        """Take the judge's decisions on ``events`` (:mod:`.judged`), not this order's own: its
        bound on ``events`` is the judge's frontier as far as every partition is read, and the
        events the judge found late are late here too (an idle partition is the judge's call)."""
        self.judge = JudgeProgress(self.read)

    def judge_heard(self, frontier: int, offsets: dict[int, int], quiet: bool, out: Turned) -> None:
        """One of the judge's progress records: the events read ahead that it shows late leave."""
        assert self.judge is not None
        for event_id in self.judge.heard(frontier, offsets, quiet):
            event = self._remove(event_id)
            if event is None:
                continue
            self._unlabelled.pop(event_id, None)
            out.late_events += 1
            if event.label is not None and event.label_partition >= 0:
                why = "its event came late at the judge (its partition was passed over as idle)"
                out.labels.append((Label(event.event_id, event.label, event.label_ts, event.label_partition,
                                         event.label_offset), why))

    # -- taking in ---------------------------------------------------------------------
    def add_events(self, partition: int, events: Iterable[WaitingEvent], max_ts: int, caught_up: bool,
                   now_ms: float, out: Turned) -> None:
        """One poll of an ``events`` partition, past its intake (duplicates and late ones out):
        ``max_ts`` its watermark after them; ``caught_up`` whether it is read to its end."""
        brought = False
        waiting = self.waiting
        for event in events:
            brought = True
            if event.label is None or event.ts < self.frontier or event.event_id in waiting:
                self.add_event(event, out)
            else:  # the usual: a new event with its label, nothing else to settle
                self._enqueue(event)
        self.events.heard(partition, max_ts, caught_up, now_ms, brought)

    def read_to(self, partition: int, next_offset: int) -> None:
        """Where the reader of an ``events`` partition stands: the next offset it reads (after a
        poll, past every message it brought, events or not), for :meth:`.JudgeProgress.bound`."""
        self.read[partition] = max(self.read.get(partition, 0), next_offset)

    def add_labels(self, partition: int, labels: Iterable[Label], caught_up: bool, now_ms: float,
                   out: Turned) -> None:
        """One poll of a ``labels`` partition, in its order. A label more than
        ``allowed_lateness_ms`` behind the newest label time before it on its partition is late:
        turned away (a label's time is when it became known, so labels come in time order)."""
        part = self.labels.parts.get(partition)
        newest = part.max_ts if part is not None else NO_TIME
        brought = False
        for label in labels:
            brought = True
            if label.ts < newest - self.allowed_lateness_ms:
                out.labels.append((label, f"late: label time {label.ts} is more than stream.allowed_lateness_ms="
                                          f"{self.allowed_lateness_ms} behind its partition's newest ({newest})"))
                continue
            newest = max(newest, label.ts)
            self.add_label(label, out)
        self.labels.heard(partition, newest, caught_up, now_ms, brought)

    def heard(self, topic: str, partition: int, caught_up: bool, now_ms: float) -> None:
        """A poll that brought nothing from ``topic``'s partition (``"events"`` or ``"labels"``)."""
        marks = self.events if topic == "events" else self.labels
        part = marks.parts.get(partition)
        marks.heard(partition, part.max_ts if part is not None else NO_TIME, caught_up, now_ms, False)

    def add_event(self, event: WaitingEvent, out: Turned) -> None:
        if event.ts < self.frontier:
            out.late_events += 1
            return
        old = self._remove(event.event_id)
        if old is not None:  # the same id again (dedupe off or past its window): the earlier gives way
            self._unlabelled.pop(old.event_id, None)
            if old.label is not None:
                out.labels.append((Label(old.event_id, old.label, old.label_ts, old.label_partition,
                                         old.label_offset), "its event came again before it was learned"))
            out.expired_events += 1
        self._enqueue(event)
        if event.label is not None:
            return
        orphan = self.orphans.get(event.event_id)
        if orphan is not None and self._joinable(event.ts, orphan.ts):
            del self.orphans[event.event_id]
            self._join(event, orphan)
            return
        self._unlabelled[event.event_id] = None
        if len(self._unlabelled) > self.max_pending:
            gone, _ = self._unlabelled.popitem(last=False)
            self._remove(gone)
            out.expired_events += 1

    def _enqueue(self, event: WaitingEvent) -> None:
        """``event`` waits: its arrival, and its learning if it has its label, are steps to come."""
        self.waiting[event.event_id] = event
        self._due += 1
        heapq.heappush(self._arrivals, (event.ts, event.event_id))
        if event.label is not None:
            heapq.heappush(self._learnings, (event.learn_at, event.event_id))

    def add_label(self, label: Label, out: Turned) -> None:
        event = self.waiting.get(label.event_id)
        if event is not None and event.label is not None:
            out.labels.append((label, "a second label for an event that has one waiting (the first is kept)"))
            return
        if event is not None and self._joinable(event.ts, label.ts):
            if max(event.ts, label.ts) < self.frontier:
                out.labels.append((label, "came after the learner had learned past its time (an idle input "
                                          "was passed over)"))
                return
            self._unlabelled.pop(label.event_id, None)
            self._join(event, label)
            return
        if label.event_id in self.orphans:
            out.labels.append((label, "a second label for an event not seen yet (the first is kept)"))
            return
        self.orphans[label.event_id] = label
        heapq.heappush(self._orphan_times, (label.ts, label.event_id))
        if len(self.orphans) > self.max_pending:
            _, gone = self.orphans.popitem(last=False)
            out.labels.append((gone, f"no event came for it within learner.max_pending={self.max_pending} labels"))

    def _joinable(self, event_ts: int, label_ts: int) -> bool:
        return self.max_age_ms is None or abs(label_ts - event_ts) <= self.max_age_ms

    def _remove(self, event_id: str) -> WaitingEvent | None:
        event = self.waiting.pop(event_id, None)
        if event is not None and (not event.arrived or event.label is not None):
            self._due -= 1
        return event

    def _join(self, event: WaitingEvent, label: Label) -> None:
        if event.arrived:
            self._due += 1  # an arrived event now has a step to come again
        event.label, event.label_ts = label.label, label.ts
        event.label_partition, event.label_offset = label.partition, label.offset
        heapq.heappush(self._learnings, (event.learn_at, event.event_id))

    # -- the frontier and the steps ------------------------------------------------------
    def advance(self, now_ms: float, flush: bool = False) -> int:
        """Move the frontier to the smaller bound of ``events`` and ``labels``; an input whose
        partitions are all idle sets none, and when neither does (or with ``flush``) it moves
        just past everything seen."""
        bounds = []
        passed_over = False
        if self.judge is not None and not flush:
            judged = self.judge.bound()
            if judged is not None:
                bounds.append(judged)
        for marks in ((self.labels,) if self.judge is not None else (self.events, self.labels)):
            bound, passed = marks.bound(now_ms)
            passed_over |= passed
            if bound is not None and not flush:
                bounds.append(bound)
        newest = max(self.events.newest, self.labels.newest)
        frontier = min(bounds) if bounds else (newest + 1 if newest > NO_TIME else self.frontier)
        if passed_over and frontier > self.frontier:
            self.passed_over += 1
        self.frontier = max(self.frontier, frontier)
        return self.frontier

    def steps(self, judged_to: int | None = None) -> Iterator[tuple[int, WaitingEvent]]:
        """``(ARRIVE or LEARN, event)`` for every step before the frontier, in order; a learned
        event leaves the order. With ``judged_to`` (the judge's frontier, live), the steps stop
        at the first whose event the judge has not judged yet: every alert that could hold an
        event is known before its steps. Steps taken are gone: the caller acts on each before
        the next (a concept alert it raises holds the events that arrive after it)."""
        self.reached = self.frontier
        while True:
            arrive = self._peek(self._arrivals, ARRIVE)
            learn = self._peek(self._learnings, LEARN)
            if arrive is None and learn is None:
                return
            if learn is None or (arrive is not None and (arrive[0], ARRIVE, arrive[1]) < (learn[0], LEARN, learn[1])):
                assert arrive is not None
                event = self.waiting[arrive[1]]
                if judged_to is not None and event.ts >= judged_to:
                    self.reached = arrive[0]
                    return
                heapq.heappop(self._arrivals)
                event.arrived = True
                if event.label is None:
                    self._arrived.append((event.ts, event.event_id))
                    self._due -= 1
                yield ARRIVE, event
            else:
                if judged_to is not None and self.waiting[learn[1]].ts >= judged_to:
                    self.reached = learn[0]
                    return
                heapq.heappop(self._learnings)
                event = self.waiting.pop(learn[1])
                self._due -= 1
                yield LEARN, event

    def take(self, judged_to: int | None = None) -> tuple[list[int], list[int], list[WaitingEvent]]:
        """Every step :meth:`steps` would give, taken at once: their kinds, times (event time
        for an arrival, learning time for a learning) and events, in the same order, and the
        order left as :meth:`steps` leaves it once they are all taken. For a caller whose steps
        cannot change what steps come (nothing it does stops them early)."""
        self.reached = frontier = self.frontier
        waiting = self.waiting
        steps: list[tuple[int, int, str, WaitingEvent]] = []
        for at, event_id in _before(self._arrivals, frontier):
            event = waiting.get(event_id)
            if event is None or event.arrived or event.ts != at:
                continue  # stale
            event.arrived = True  # a second entry of the same event is stale
            steps.append((at, ARRIVE, event_id, event))
        taken: set[str] = set()
        for at, event_id in _before(self._learnings, frontier):
            event = waiting.get(event_id)
            if event is None or event.label is None or event.learn_at != at or event_id in taken:
                continue  # stale
            taken.add(event_id)
            steps.append((at, LEARN, event_id, event))
        steps.sort()  # two sorted runs, merged; (time, step, id) is unique: an event is never compared
        cut = len(steps)
        if judged_to is not None:
            cut = next((i for i, s in enumerate(steps) if s[3].ts >= judged_to), cut)
            for at, kind, event_id, event in steps[cut:]:  # not judged yet: back in their heaps, untaken
                if kind == ARRIVE:
                    event.arrived = False
                    heapq.heappush(self._arrivals, (at, event_id))
                else:
                    heapq.heappush(self._learnings, (at, event_id))
            if cut < len(steps):
                self.reached = steps[cut][0]
                del steps[cut:]
        kinds, times, events = [], [], []
        for at, kind, event_id, event in steps:
            if kind == ARRIVE:
                if event.label is None:
                    self._arrived.append((event.ts, event_id))
                    self._due -= 1
            else:
                del waiting[event_id]
                self._due -= 1
            kinds.append(kind)
            times.append(at)
            events.append(event)
        return kinds, times, events

    def _peek(self, heap: list[tuple[int, str]], step: int) -> tuple[int, str] | None:
        """The heap's first entry before the frontier, stale entries (events gone, or no longer
        at that time) dropped on the way."""
        while heap:
            at, event_id = heap[0]
            event = self.waiting.get(event_id)
            fresh = event is not None and (
                (step == ARRIVE and not event.arrived and event.ts == at)
                or (step == LEARN and event.label is not None and event.learn_at == at)
            )
            if not fresh:
                heapq.heappop(heap)
                continue
            return (at, event_id) if at < self.frontier else None
        return None

    def expire(self, out: Turned) -> None:
        """Events and orphan labels that nothing to come can join any more (past the frontier by
        ``max_pending_age_ms``): counted, the labels returned."""
        if self.max_age_ms is None:
            return
        horizon = self.frontier - self.max_age_ms
        while self._arrived and self._arrived[0][0] < horizon:
            ts, event_id = self._arrived.popleft()
            event = self.waiting.get(event_id)
            if event is not None and event.ts == ts and event.arrived and event.label is None:
                self._remove(event_id)
                self._unlabelled.pop(event_id, None)
                out.expired_events += 1
        while self._orphan_times and self._orphan_times[0][0] < horizon:
            ts, event_id = heapq.heappop(self._orphan_times)
            orphan = self.orphans.get(event_id)
            if orphan is not None and orphan.ts == ts:
                del self.orphans[event_id]
                out.labels.append((orphan, f"no event came for it within learner.max_pending_age_ms="
                                           f"{self.max_age_ms} of its time"))

    @property
    def pending(self) -> int:
        """Events waiting for their label."""
        return len(self._unlabelled)

    @property
    def due(self) -> int:
        """Events with a step still to take (to arrive, or labelled and to learn): 0 once the
        learner has done all that what it has read allows."""
        return self._due

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "frontier": self.frontier, "passed_over": self.passed_over, "reached": self.reached,
            "read": {str(p): o for p, o in self.read.items()},
            "ahead": self.judge.ahead_state() if self.judge is not None else [],
            "events": self.events.state_dict(), "labels": self.labels.state_dict(),
            "waiting": [e.to_list() for e in self.waiting.values()],
            "unlabelled": list(self._unlabelled),
            "orphans": [[o.event_id, o.label, o.ts, o.partition, o.offset] for o in self.orphans.values()],
        }

    def load_state_dict(self, state: dict[str, Any], now_ms: float) -> None:
        self.frontier, self.passed_over = int(state["frontier"]), int(state["passed_over"])
        self.reached = int(state.get("reached", NO_TIME))  # absent in checkpoints of earlier versions
        self.read.clear()  # in place: the judge's progress reads it too
        self.read.update({int(p): int(o) for p, o in state.get("read", {}).items()})
        if self.judge is not None:
            self.judge.load_ahead(state.get("ahead", []))
        self.events.load_state_dict(state["events"], now_ms)
        self.labels.load_state_dict(state["labels"], now_ms)
        self.waiting = {row[0]: WaitingEvent.from_list(row) for row in state["waiting"]}
        self._unlabelled = OrderedDict((k, None) for k in state["unlabelled"])
        self.orphans = OrderedDict((row[0], Label(*row)) for row in state["orphans"])
        self._arrivals = [(e.ts, k) for k, e in self.waiting.items() if not e.arrived]
        self._learnings = [(e.learn_at, k) for k, e in self.waiting.items() if e.label is not None]
        heapq.heapify(self._arrivals)
        heapq.heapify(self._learnings)
        self._arrived = deque(sorted((e.ts, k) for k, e in self.waiting.items() if e.arrived and e.label is None))
        self._orphan_times = [(o.ts, k) for k, o in self.orphans.items()]
        self._due = sum(1 for e in self.waiting.values() if not e.arrived or e.label is not None)
        heapq.heapify(self._orphan_times)


def _before(heap: list[tuple[int, str]], frontier: int) -> list[tuple[int, str]]:
    """The heap's entries before ``frontier``, in order, taken out of it (sorted, the rest is
    still a heap)."""
    heap.sort()
    k = bisect_left(heap, (frontier,))
    out = heap[:k]
    del heap[:k]
    return out
