"""Ranks of values in a sorted reference: the shared step of the rank-based detectors.

The windowed KS test and the rank CUSUM (:mod:`driftline.detectors.numeric`) both turn each
new value into its counts in the reference, ``(#ref < x, #ref <= x)``; ties take the left
count from where the reference's run of the tied value starts, so ranks are exact on
discrete data too.
"""

from __future__ import annotations

import numpy as np


def run_starts(reference_sorted: np.ndarray) -> np.ndarray:
    """For each position of a sorted array, where its run of equal values starts.

    >>> run_starts(np.array([1.0, 2.0, 2.0, 3.0])).tolist()
    [0, 1, 1, 3]
    """
    n = reference_sorted.shape[0]
    new = np.empty(n, dtype=bool)
    new[:1], new[1:] = True, reference_sorted[1:] != reference_sorted[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(n), 0))


def own_ranks(reference_sorted: np.ndarray, starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reference_ranks` of a sorted reference's own values, ``(#ref < x, #ref <= x)``,
    from its runs of equal values (no sorting): where each value's run starts and ends.

    >>> own_ranks(np.array([1.0, 2.0, 2.0, 3.0]))
    (array([0, 1, 1, 3]), array([1, 3, 3, 4]))
    """
    n = reference_sorted.shape[0]
    left = run_starts(reference_sorted) if starts is None else starts
    last = np.empty(n, dtype=bool)  # the last value of its run
    last[-1:], last[:-1] = True, reference_sorted[1:] != reference_sorted[:-1]
    right = np.minimum.accumulate(np.where(last, np.arange(1, n + 1), n)[::-1])[::-1]
    return left.astype(np.int64, copy=True), right.astype(np.int64, copy=False)


def reference_ranks(
    reference_sorted: np.ndarray, x: np.ndarray, starts: np.ndarray | None = None, memo: RankMemo | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(#ref < x, #ref <= x)`` for every value of ``x``, as int64 arrays.

    ``starts`` is :func:`run_starts` of the reference, when the caller keeps it; with a
    ``memo``, a call with the same reference and values as the memo's last one returns its
    ranks without ranking again.

    The values are sorted and merged with the reference (a linear merge, faster than a
    search per value); a value tied with the reference takes its left count from where the
    reference's run of that value starts.

    >>> reference_ranks(np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 0.5, 2.5]))
    (array([1, 0, 3]), array([3, 0, 3]))
    """
    if x.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    if memo is not None:
        hit = memo.get(reference_sorted, x)
        if hit is not None:
            return hit
    order = np.argsort(x)
    xs = x[order]
    n = reference_sorted.shape[0]
    # a stable merge of the two sorted arrays puts each reference value before the values of
    # ``x`` equal to it, so a value's place in the merge, less the values of ``x`` before it,
    # is ``#ref <= x`` (a linear merge: about twice as fast as searching)
    merged = np.argsort(np.concatenate([reference_sorted, xs]), kind="stable")
    right_s = np.flatnonzero(merged >= n) - np.arange(xs.shape[0])
    below = np.maximum(right_s - 1, 0)  # the largest reference value <= x, when there is one
    tied = (right_s > 0) & (reference_sorted[below] == xs)
    if tied.any():  # a tied value's left count is where the reference's run of its value starts
        starts = run_starts(reference_sorted) if starts is None else starts
        left_s = np.where(tied, starts[below], right_s)
    else:
        left_s = right_s.copy()
    left, right = np.empty_like(left_s), np.empty_like(right_s)
    left[order], right[order] = left_s, right_s
    if memo is not None:
        memo.put(reference_sorted, x, left, right)
    return left, right


class RankMemo:
    """The last ranking of one column, shared by the detectors that rank it.

    A feature's KS test and rank CUSUM rank the same batch against equal references, so the
    second gets the first's ranks (a comparison of arrays, not a search). Whoever shares a
    memo owns it: the engine keeps one per column, so that no two columns, engines or threads
    ever see each other's ranks. The memo is a cache: a detector without one, or a miss,
    ranks the values itself, with the same result.

    >>> memo = RankMemo()
    >>> ref, x = np.array([1.0, 2.0, 3.0]), np.array([2.5, 0.0])
    >>> reference_ranks(ref, x, memo=memo)
    (array([2, 0]), array([2, 0]))
    >>> reference_ranks(ref, x.copy(), memo=memo)[0] is reference_ranks(ref, x, memo=memo)[0]
    True
    >>> memo.hits
    2
    """

    def __init__(self) -> None:
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.hits = 0

    def get(self, reference_sorted: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        last = self._last
        if last is not None and _same(last[0], reference_sorted) and _same(last[1], x):
            self.hits += 1
            return last[2], last[3]
        return None

    def put(self, reference_sorted: np.ndarray, x: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        left.flags.writeable = right.flags.writeable = False  # shared: no detector may change them
        self._last = (reference_sorted.copy(), x.copy(), left, right)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))
