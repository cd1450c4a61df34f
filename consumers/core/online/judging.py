"""When the concept detectors may judge the learner's error blocks later, all at once.

An error block is judged once the learning steps are past its time, so that an alert that
calls for a quarantine or a rollback acts at the very next step. When no policy can act on
the learner's alerts, nothing a step does depends on them: the blocks closed during a call of
the steps are then sealed as they close and judged together at its end, in one call of the
detectors over their errors one block after another (the detectors take an array as they
take its values one by one), their alerts in the order one call per block gives. The alerts,
their ids and the model are the same; what changes is only how often the detectors are called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: pure arithmetic over the learner's rows
    from driftline.consumers.config.model import PolicyConfig
    from driftline.consumers.core.online.error_block import ErrorBlock
    from driftline.consumers.core.plan import PlannedDetector

#: the actions that change the learner's later steps
STEP_ACTIONS = frozenset({"quarantine", "rollback"})


def alerts_can_act(policies: Sequence[PolicyConfig], planned: Sequence[PlannedDetector]) -> bool:
    """Whether some policy could quarantine or roll back on an alert of the learner's error
    detectors in ``planned`` (any severity): its ``when`` matches their kind, feature and name."""
    for policy in policies:
        if not STEP_ACTIONS.intersection(policy.do):
            continue
        when = policy.when
        if when.segment is not None:  # a segment's alerts: the learner judges none here without segments
            return True
        for p in planned:
            if p.target != "error":
                continue
            if ((when.kind is None or when.kind == p.kind) and (when.feature is None or when.feature == p.feature)
                    and (when.detector is None or when.detector == p.name)):
                return True
    return False


class SealedBlocks:
    """The error rows of the blocks closed but not judged yet: the first ``rows`` of the
    learner's rows in learning order (its :class:`ErrorBlock`'s, then its pending mini-batch's
    unscored ones), cut after each block (``cuts``: the row counts where blocks end)."""

    def __init__(self) -> None:
        self.cuts: list[int] = []

    @property
    def rows(self) -> int:
        return self.cuts[-1] if self.cuts else 0

    def __bool__(self) -> bool:
        return bool(self.cuts)

    def seal(self, rows: int) -> None:
        """A block closes: the first ``rows`` rows are all in closed blocks (no empty block kept)."""
        if rows > self.rows:
            self.cuts.append(rows)

    def take(self, errors: ErrorBlock) -> tuple[ErrorBlock, list[int], ErrorBlock]:
        """The sealed rows of ``errors`` (every one of them scored by then), the cuts between their
        blocks, and the rows left (the open block, its bucket kept; none: a new block, as after
        a block judged on its own); nothing is sealed after."""
        n, cuts = self.rows, self.cuts
        self.cuts = []
        sealed, rest = errors.split(n)
        return sealed, cuts[:-1], rest if len(rest) else type(errors)()


def seal_cuts(buckets: np.ndarray, row_steps: np.ndarray, bucket: int, rows_before: int) -> list[int]:
    """Where blocks close over a run of steps, as :class:`SealedBlocks` counts: a block closes
    at each step whose block (``buckets``: each step's time // the block's length) is past the
    block of the newest row before it (``bucket`` before the run's first row), and the count is
    the rows before that step (``rows_before`` and the run's rows, steps ``row_steps``, before it).
    The same as checking step by step; counts not past the last seal are dropped by :meth:`SealedBlocks.seal`."""
    n = len(buckets)
    if not n:
        return []
    is_row = np.zeros(n, dtype=bool)
    is_row[row_steps] = True
    rows_at = rows_before + np.cumsum(is_row) - is_row
    newest = np.maximum.accumulate(np.where(is_row, buckets, bucket))
    before = np.concatenate(([bucket], np.maximum(newest[:-1], bucket)))
    return np.unique(rows_at[buckets > before]).tolist()
