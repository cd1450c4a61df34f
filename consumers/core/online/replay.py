"""Replay: the events a quarantine held, learned once it is released.

The held events come back from the quarantine topic on their partitions; they are learned
(not scored again: they were scored at their step) in stream order, ``(event time, id)``, as
they were judged, whatever their partitions. An event still waiting in the learning order is
learned at its own step instead, and an event held twice (a copy sent again after a restart)
is learned once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from driftline.learners.errors import UnusableEvent
from driftline.stream.events import EventBatch

if TYPE_CHECKING:
    from driftline.consumers.core.learner import LearnerCore


def learn_released(core: LearnerCore, batches: Sequence[EventBatch]) -> int:
    """Learn (without scoring again) from released events, in stream order (event time,
    then id, as they were judged) whatever their partitions; an event held twice (a copy
    sent again after a restart) is learned once."""
    core.flush_minibatch()
    order = sorted({(int(b.ts[i]), event_id, k, i) for k, b in enumerate(batches) for i, event_id in enumerate(b.ids)})
    seen: set[str] = set()
    n = 0
    for _, event_id, k, i in order:
        if event_id in seen:
            continue
        seen.add(event_id)
        batch = batches[k]
        offset = int(batch.offsets[i])
        waiting = core.order.waiting.get(event_id)
        if waiting is not None and waiting.offset == offset and waiting.partition == batch.partition:
            waiting.held = None  # not learned yet: learned from at its step
            continue
        orphan = core.order.orphans.get(event_id)
        y = batch.label[i] if batch.label[i] is not None else (orphan.label if orphan is not None else None)
        if y is None:
            continue
        try:
            core.learner.learn(batch.feature_rows(i), y)
        except UnusableEvent as exc:
            core.route_unusable(batch.partition, offset, batch.feature_rows(i), y, str(exc))
            continue
        core.snapshots.maybe_take(core.learner.pipeline, batch.partition, offset, core.learner.trained,
                                  int(batch.ts[i]))
        core.replayed_offsets.append((batch.partition, offset))
        n += 1
    return n
