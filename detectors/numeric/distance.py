"""Windowed distances to the reference (PSI, Jensen-Shannon, Wasserstein), calibrated by simulation.

A distance has no p-value of its own. At setup each detector draws ``simulations`` windows
from the reference (seeded, with replacement) and computes their distances to it: the null
distribution of the distance. A shifted, scaled chi-square ``a + s chi2(k)`` (Pearson's
type III) fitted to its mean, variance and skewness extrapolates it to the tiny levels the
false-alarm budget asks for (the null law of PSI and of the Jensen-Shannon divergence is
asymptotically a scaled chi-square), after widening it for the reference's own sampling
noise (a real window and the reference are two samples: variance ``1/n + 1/m``, not ``1/m``).
The p-value of a distance ``D`` is ``chi2.sf((D - a) / s, k)``; the window, schedule,
drift, warning and renewal rules are those of :class:`~driftline.detectors.window.WindowTest`,
so ``alpha_drift`` is calibrated like a KS test's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from driftline.detectors.window import WindowTest

#: pseudo-count added to every bin's count before PSI takes logarithms
PSI_PSEUDO_COUNT = 0.5
#: the skewness below which the fitted null is taken as (nearly) normal
MIN_SKEWNESS = 0.05
#: simulated windows scored per vectorised step of the Wasserstein calibration
_SIM_GROUP = 64


def pearson3_fit(null: np.ndarray) -> tuple[float, float, float]:
    """``(a, s, k)`` of the shifted, scaled chi-square ``a + s chi2(k)`` (Pearson's type III)
    with the mean, variance and skewness of ``null``.

    >>> rng = np.random.default_rng(0)
    >>> a, s, k = pearson3_fit(1.0 + 3.0 * rng.chisquare(9, 200_000))
    >>> round(s), round(k)
    (3, 9)
    """
    mean, sd = float(np.mean(null)), float(np.std(null, ddof=1))
    if not sd > 0:
        return mean, 1e-12, 1.0  # a degenerate reference: any other distance is a change
    third = float(np.mean((null - mean) ** 3)) / sd**3
    k = 8.0 / max(third, MIN_SKEWNESS) ** 2
    scale = sd / math.sqrt(2.0 * k)
    return mean - scale * k, scale, k


class _DistanceWindow(WindowTest):
    """A distance of the window to the reference, with the simulated null of the module."""

    def __init__(
        self,
        reference_size: int = 10_000,
        window: int = 1_000,
        stride: int = 100,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        simulations: int = 2_000,
        seed: int = 0,
    ) -> None:
        if not isinstance(simulations, (int, np.integer)) or isinstance(simulations, bool) or simulations < 100:
            raise ValueError(f"{type(self).__name__}: simulations must be an integer >= 100, got {simulations!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"{type(self).__name__}: seed must be an integer >= 0, got {seed!r}")
        self.simulations = int(simulations)
        self.seed = int(seed)
        super().__init__(reference_size, window, stride, alpha_drift, alpha_warning)

    def _fit(self, reference: np.ndarray) -> None:
        self._prepare(reference)
        rng = np.random.default_rng(self.seed)
        picks = rng.integers(0, reference.shape[0], size=(self.simulations, self.window))
        shift, scale, self._dof = pearson3_fit(self._null(picks))
        # the simulated windows vary around the reference itself; a real window and the
        # reference are two samples, whose difference has variance 1/n + 1/m, not 1/m
        inflation = (1.0 + self.window / reference.shape[0]) ** self._power
        self._shift, self._scale = shift * inflation, scale * inflation

    #: how the distance grows with the difference of the empirical distributions (PSI and
    #: JS are quadratic in it, Wasserstein linear), for the two-sample inflation
    _power = 1.0

    def _prepare(self, reference: np.ndarray) -> None:
        """Precompute from the sorted reference what the distance needs."""

    def _null(self, picks: np.ndarray) -> np.ndarray:
        """Distances of the windows ``reference[picks[i]]`` to the reference."""
        return self._statistics(self._encode(self._reference[picks.ravel()]), np.arange(1, picks.shape[0] + 1) * self.window)

    def _p_value(self, statistic: float) -> float:
        from scipy.stats import chi2

        return float(chi2.sf(max(statistic - self._shift, 0.0) / self._scale, self._dof))

    def _critical(self, alpha: float) -> float:
        from scipy.stats import chi2

        return self._shift + float(chi2.isf(alpha, self._dof)) * self._scale


class _BinnedDistance(_DistanceWindow):
    """Distances between bin frequencies, on ``bins`` bins of equal reference probability."""

    def __init__(self, reference_size: int = 10_000, window: int = 1_000, stride: int = 100,
                 alpha_drift: float = 1e-6, alpha_warning: float | None = 1e-4, bins: int = 10,
                 simulations: int = 2_000, seed: int = 0) -> None:
        if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 2:
            raise ValueError(f"{type(self).__name__}: bins must be an integer >= 2, got {bins!r}")
        self.bins = int(bins)
        super().__init__(reference_size, window, stride, alpha_drift, alpha_warning, simulations, seed)

    def _prepare(self, reference: np.ndarray) -> None:
        inner = np.quantile(reference, np.arange(1, self.bins) / self.bins)
        self._edges = np.unique(inner)  # tied quantiles merge bins
        self._n_bins = self._edges.shape[0] + 1
        counts = np.bincount(self._encode(reference), minlength=self._n_bins)
        self._ref_freq = counts / reference.shape[0]
        self._ref_smooth = (counts + PSI_PSEUDO_COUNT) / (reference.shape[0] + PSI_PSEUDO_COUNT * self._n_bins)

    def _encode(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin, found once per value."""
        return np.searchsorted(self._edges, values, side="right")

    def _counts(self, encoded: np.ndarray, stops: np.ndarray) -> np.ndarray:
        rows = sliding_window_view(encoded, self.window)[stops - self.window]
        flat = (rows + self._n_bins * np.arange(rows.shape[0])[:, None]).ravel()
        return np.bincount(flat, minlength=rows.shape[0] * self._n_bins).reshape(rows.shape[0], self._n_bins)

    def _statistic(self, window: np.ndarray) -> float:
        enc = self._encode(window)
        return float(self._statistics(enc, np.array([enc.shape[0]]))[0])


class PSIWindow(_BinnedDistance):
    """Population Stability Index of a sliding window against the reference.

    ``PSI = sum_b (q_b - p_b) ln(q_b / p_b)`` over ``bins`` bins cut at the reference's
    quantiles (so ``p_b = 1 / bins``, tied quantiles merged), with ``q_b`` the window's
    share; a pseudo-count of 0.5 per bin keeps empty bins finite. Calibrated as described in
    :mod:`driftline.detectors.numeric.distance`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 5_000)])
    >>> [(d.index, d.severity) for d in PSIWindow().update(stream)]
    [(20399, 'warning'), (20499, 'drift')]

    References
    ----------
    B. Yurdakul (2018). Statistical properties of population stability index. PhD thesis,
    Western Michigan University.
    """

    method = "psi"

    def _statistics(self, encoded: np.ndarray, stops: np.ndarray) -> np.ndarray:
        counts = self._counts(encoded, stops)
        q = (counts + PSI_PSEUDO_COUNT) / (self.window + PSI_PSEUDO_COUNT * self._n_bins)
        p = self._ref_smooth
        return np.sum((q - p) * np.log(q / p), axis=1)


class JSWindow(_BinnedDistance):
    """Jensen-Shannon divergence between the window's and the reference's bin frequencies.

    ``JS = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2`` (natural logarithms,
    ``0 ln 0 = 0``) over ``bins`` reference-quantile bins. Calibrated as described in
    :mod:`driftline.detectors.numeric.distance`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 5_000)])
    >>> [(d.index, d.severity) for d in JSWindow().update(stream)]
    [(20399, 'warning'), (20499, 'drift')]

    References
    ----------
    J. Lin (1991). Divergence measures based on the Shannon entropy. IEEE Transactions on
    Information Theory 37(1), 145-151.
    """

    method = "js"

    def _statistics(self, encoded: np.ndarray, stops: np.ndarray) -> np.ndarray:
        q = self._counts(encoded, stops) / self.window
        p = np.broadcast_to(self._ref_freq, q.shape)
        m = (p + q) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
            kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
        return np.sum(kl_p + kl_q, axis=1) / 2.0


class WassersteinWindow(_DistanceWindow):
    """Wasserstein-1 distance of the window to the reference, in reference standard deviations.

    ``W1 = integral |F_ref(x) - F_cur(x)| dx`` between the empirical CDFs, exactly, divided by
    the reference's standard deviation (so the threshold does not depend on the feature's
    unit). Unlike binned distances it weighs how far values moved, not only where they fall.
    Calibrated as described in :mod:`driftline.detectors.numeric.distance`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 5_000)])
    >>> [(d.index, d.severity) for d in WassersteinWindow().update(stream)]
    [(20299, 'warning'), (20399, 'drift')]

    References
    ----------
    L. N. Vaserstein (1969). Markov processes over denumerable products of spaces describing
    large systems of automata. Problems of Information Transmission 5(3), 47-52.
    """

    method = "wasserstein"
    _power = 0.5
    #: its simulated null keeps the budget with one alarm budgeted per cluster of exceedances
    #: (see ``calibration.window_extremal_index``); measured in the run-length conformance tests
    budget_clusters = True

    def _prepare(self, reference: np.ndarray) -> None:
        sd = float(np.std(reference))
        self._spread = sd if sd > 0 else 1.0

    def _statistic(self, window: np.ndarray) -> float:
        ref, cur = self._reference, np.sort(window)
        pooled = np.sort(np.concatenate([ref, cur]))
        widths = np.diff(pooled)
        f = np.searchsorted(ref, pooled[:-1], side="right") / ref.shape[0]
        g = np.searchsorted(cur, pooled[:-1], side="right") / cur.shape[0]
        return float(np.sum(np.abs(f - g) * widths)) / self._spread

    def _null(self, picks: np.ndarray) -> np.ndarray:
        """For windows of reference points the integral runs over the reference's gaps only."""
        n = self._reference.shape[0]
        f = np.arange(1, n) / n
        widths = np.diff(self._reference)
        out = []
        for g0 in range(0, picks.shape[0], _SIM_GROUP):
            group = np.sort(picks[g0 : g0 + _SIM_GROUP], axis=1)
            counts = np.zeros((group.shape[0], n), dtype=np.int64)
            np.add.at(counts, (np.arange(group.shape[0])[:, None], group), 1)
            g = np.cumsum(counts, axis=1)[:, :-1] / self.window
            out.append(np.sum(np.abs(f - g) * widths, axis=1) / self._spread)
        return np.concatenate(out)
