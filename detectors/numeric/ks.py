"""Windowed two-sample Kolmogorov-Smirnov test of a numeric stream against a reference."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from driftline.detectors.ranks import RankMemo, reference_ranks, run_starts
from driftline.detectors.window import WindowTest

__all__ = ["KSWindow", "ks_statistic"]


def ks_statistic(reference_sorted: np.ndarray, sample: np.ndarray) -> float:
    """Exact two-sample KS distance ``sup_x |F_ref(x) - F_cur(x)|``.

    Both ECDFs are step functions that only change at sample points, and between two
    consecutive points of ``sample`` the current ECDF is constant, so the supremum is reached
    at a point of ``sample`` either at the right-limit or the left-limit of the reference ECDF.
    """
    cur = np.sort(sample)
    n, m = reference_sorted.shape[0], cur.shape[0]
    right = np.searchsorted(reference_sorted, cur, side="right")
    # the left limits need searches of their own only where a value is tied
    shared = (right > 0) & (reference_sorted[np.maximum(right - 1, 0)] == cur)
    left = np.searchsorted(reference_sorted, cur, side="left") if shared.any() else right
    if m > 1 and np.any(cur[1:] == cur[:-1]):
        cur_right = np.searchsorted(cur, cur, side="right") / m
        cur_left = np.searchsorted(cur, cur, side="left") / m
    else:
        cur_right = np.arange(1, m + 1) / m
        cur_left = np.arange(m) / m
    ref_right, ref_left = right / n, left / n
    return float(max(np.max(np.abs(ref_right - cur_right)), np.max(np.abs(ref_left - cur_left))))


class KSWindow(WindowTest):
    """Two-sample Kolmogorov-Smirnov test of a sliding window against a reference sample.

    The statistic is ``D = sup_x |F_ref(x) - F_cur(x)|`` between the empirical CDFs of the
    reference sample (size ``n``) and of the last ``window`` values (size ``m``), computed
    exactly. Its p-value is the asymptotic Kolmogorov distribution at ``sqrt(en) * D`` with the
    effective size ``en = n * m / (n + m)`` (Kolmogorov, 1933; Smirnov, 1948).

    Reference, schedule (a test every ``stride`` values once ``window`` values are in), drift,
    warning and re-arm rules are those of :class:`~driftline.detectors.window.WindowTest`.

    Parameters
    ----------
    reference_size
        Number of values in the reference sample.
    window
        Number of most recent values tested against the reference.
    stride
        A test runs every ``stride`` values (``tests_per_value = 1 / stride``, whose
        overlapping windows' exceedances the budget counts once per cluster).
    alpha_drift
        Significance level of a drift (see ``calibration.alpha_per_test``).
    alpha_warning
        Significance level of a warning, greater than ``alpha_drift``; ``None`` disables warnings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 5_000)])
    >>> det = KSWindow(reference_size=10_000, window=1_000, stride=100)
    >>> [(d.index, d.severity) for d in det.update(stream)]
    [(20299, 'warning'), (20399, 'drift')]

    References
    ----------
    A. Kolmogorov (1933). Sulla determinazione empirica di una legge di distribuzione.
    N. Smirnov (1948). Table for estimating the goodness of fit of empirical distributions.
    Ann. Math. Statist. 19(2), 279-281.
    """

    method = "ks"
    budget_clusters = True
    #: the ranks shared with the other rank-based detector of the same column (set by its
    #: owner, e.g. the engine; a cache only, never part of the state)
    rank_memo: RankMemo | None = None

    def _fit(self, reference: np.ndarray) -> None:
        n, m = reference.shape[0], self.window
        self._sqrt_en = math.sqrt(n * m / (n + m))
        self._shift = int(n).bit_length()  # codes: (#ref <= x) << shift | (#ref < x)
        self._mask = (1 << self._shift) - 1
        # 32-bit codes sort and convert to float about twice as fast, when they fit
        self._code_type = np.int32 if 2 * self._shift < 31 else np.int64
        self._cur_right, self._cur_left = np.arange(1, m + 1) / m, np.arange(m) / m
        self._starts = run_starts(reference)

    def _statistic(self, window: np.ndarray) -> float:
        return ks_statistic(self._reference, window)

    def _encode(self, values: np.ndarray) -> np.ndarray:
        """Each value as the bits of ``(#ref <= x, #ref < x)``: searched once per value, not per test.

        The codes sort as the values do, and two values share a code only when they are equal
        or no reference point lies between them.
        """
        left, right = reference_ranks(self._reference, values, self._starts, self.rank_memo)
        return ((right << self._shift) | left).astype(self._code_type)

    def _statistics(self, encoded: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """:func:`ks_statistic` of every window at once, from the windows' sorted codes.

        Within a run of ``k`` equal codes the current ECDF is taken at the run's right limit
        for the reference's right limit and at its left limit for the left one, as for tied
        values; when the values differ (no reference point between them, so both reference
        limits are the same), the extremes over the run's positions are at those two ends, so
        the supremum is the same.
        """
        n, m = self._reference.shape[0], self.window
        rows = np.sort(sliding_window_view(encoded, m)[stops - m], axis=1)
        change = rows[:, 1:] != rows[:, :-1]
        edge = np.ones((rows.shape[0], 1), dtype=bool)
        is_last = np.concatenate([change, edge], axis=1)  # the last of a run of equal codes
        is_first = np.concatenate([edge, change], axis=1)
        d_right = np.abs((rows >> self._shift) / n - self._cur_right)
        d_left = np.abs((rows & self._mask) / n - self._cur_left)
        return np.maximum(np.where(is_last, d_right, 0.0).max(axis=1), np.where(is_first, d_left, 0.0).max(axis=1))

    def _p_value(self, statistic: float) -> float:
        from scipy.special import kolmogorov

        return float(kolmogorov(self._sqrt_en * statistic))

    def _critical(self, alpha: float) -> float:
        from scipy.special import kolmogi

        return float(kolmogi(alpha)) / self._sqrt_en
