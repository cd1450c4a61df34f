"""Windowed two-sample Kolmogorov-Smirnov test of a numeric stream against a reference."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import kolmogi, kolmogorov

from .window import MIN_SIZE, WindowTest, ts_or_none, validate_window_params

__all__ = ["KSWindow", "MIN_SIZE", "ks_statistic", "ts_or_none", "validate_window_params"]


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
        A test runs every ``stride`` values (``tests_per_value = 1 / stride``).
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

    def _fit(self, reference: np.ndarray) -> None:
        n, m = reference.shape[0], self.window
        self._sqrt_en = math.sqrt(n * m / (n + m))

    def _statistic(self, window: np.ndarray) -> float:
        return ks_statistic(self._reference, window)

    def _p_value(self, statistic: float) -> float:
        return float(kolmogorov(self._sqrt_en * statistic))

    def _critical(self, alpha: float) -> float:
        return float(kolmogi(alpha)) / self._sqrt_en
