"""The learner's steps taken in bulk, when no step can change another.

In mini-batches, with the error blocks judged at the end of the steps
(:attr:`~driftline.consumers.core.learner.LearnerCore.judge_later`), no quarantine open and no
rollback planned, an arrival holds nothing and starts nothing, and a learning only joins the
pending mini-batch: the steps before the frontier are then taken from the learning order at
once (:meth:`~driftline.consumers.core.order.learning.LearningOrder.take`), the learnings in the
sample added to the mini-batch in their order, learned at each count boundary, and the blocks
they close sealed where the step-by-step loop seals them (:func:`.judging.seal_cuts`). The
model, the errors, the alerts and the counters are those of the loop; only the Python work per
event is less.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from driftline.consumers.core.online.judging import seal_cuts
from driftline.consumers.core.online.minibatch import PendingRow
from driftline.consumers.core.online.sample import in_sample
from driftline.consumers.core.order.learning import LEARN

if TYPE_CHECKING:
    from driftline.consumers.core.learner import LearnerCore
    from driftline.consumers.core.online.outcome import LearnOutcome


def in_bulk(core: LearnerCore) -> bool:
    """Whether ``core``'s steps can be taken in bulk now (see the module)."""
    return core.judge_later and core._batched() and not core.rollbacks and not core.book.active


def take_in_bulk(core: LearnerCore, out: LearnOutcome, judged_to: int | None) -> None:
    """Every step before the frontier (before the first the judge has not judged, with
    ``judged_to``), as :meth:`LearnerCore.step`'s loop takes them when :func:`in_bulk`."""
    kinds, times, events = core.order.take(judged_to)
    out.steps += len(kinds)
    if not kinds:
        return
    learnings = np.flatnonzero(np.array(kinds, dtype=np.int8) == LEARN)
    learned = [events[i] for i in learnings.tolist()]
    if core.sample < 1.0:
        keep = np.array([in_sample(e.event_id, core.sample) for e in learned], dtype=bool)
        core.sampled_out += int(len(keep) - keep.sum())
        learnings = learnings[keep]
        learned = [e for e, k in zip(learned, keep.tolist()) if k]
    buckets = np.array(times, dtype=np.int64) // core.block_ms
    for rows in seal_cuts(buckets, learnings, core.errors.bucket, core._rows()):
        core._sealed.seal(rows)
    row_buckets = buckets[learnings].tolist()
    pending = [PendingRow(e, e.held is None) for e in learned]  # held at an earlier arrival: scored only
    at = 0
    while at < len(pending):
        room = max(core.minibatch.size - len(core.minibatch), 1)
        core.minibatch.rows += pending[at:at + room]
        at = min(at + room, len(pending))
        core.errors.bucket = row_buckets[at - 1]  # as each learning sets it
        if core.minibatch.full:
            core._boundary()
