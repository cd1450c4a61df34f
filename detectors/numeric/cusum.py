"""Rank CUSUM: sequential detection of a change of location or of scale, calibrated exactly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    Detector,
    as_float_array,
    check_state_version,
    hysteresis_fires,
    present_values,
    restored_last_statistic,
)
from driftline.detectors.ranks import RankMemo, own_ranks, reference_ranks, run_starts
from driftline.detectors.window import MIN_SIZE, ts_or_none

#: Siegmund's correction of the threshold for the overshoot of a normal CUSUM
_OVERSHOOT = 1.166
#: blocks processed per vectorised step (only a matter of speed: results do not depend on it)
_CHUNK_BLOCKS = 1024
#: the charts are kept in fixed point, in units of 2**-FIXED_BITS
FIXED_BITS = 32
_ONE = float(2**FIXED_BITS)
#: support points of a reference's score distribution in the calibration (see ``_pooled``)
_MGF_BINS = 1024
#: the smallest threshold (a budget so loose that any rise of a chart would be an alarm)
_MIN_H = 1e-9
#: one-sided charts run together: location up/down, scale up/down
N_CHARTS = 4
#: the charts each ``direction`` watches (indices into location up, down, scale up, down)
DIRECTIONS = {"both": (0, 1, 2, 3), "location": (0, 1), "up": (0,), "down": (1,)}
#: the sign of each chart's score: location up, down, scale up, down
_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])[:, None]


def siegmund_arl(h: float, allowance: float, theta: float | None = None) -> float:
    """In-control average run length (in blocks) of a one-sided CUSUM of increments ``z - k``.

    ``ARL = (exp(theta b) - theta b - 1) / (theta k)`` with ``b = h + 1.166`` (Siegmund, 1985,
    Ch. X), where ``theta`` is the adjustment coefficient of the increments: the positive root of
    ``E[exp(theta (z - k))] = 1``. For N(0, 1) scores ``theta = 2 k`` (the default), which gives
    the classic ``(exp(2 k b) - 2 k b - 1) / (2 k^2)``.

    >>> round(siegmund_arl(4.0, 0.5))  # Montgomery's table: 336 (one-sided, h=4, k=0.5)
    338
    """
    theta = 2.0 * allowance if theta is None else theta
    b = h + _OVERSHOOT
    x = theta * b
    return (math.expm1(x) - x) / (theta * allowance)


def cusum_threshold(alpha: float, allowance: float, charts: int = N_CHARTS, theta: float | None = None) -> float:
    """Threshold ``h`` so that ``charts`` charts together fire with probability ``alpha``
    per block (``ARL`` of one chart ``= charts / alpha``; ``theta`` as in :func:`siegmund_arl`)."""
    theta = 2.0 * allowance if theta is None else theta
    target = charts / alpha
    if siegmund_arl(0.0, allowance, theta) >= target:
        return 0.0
    from scipy.optimize import brentq

    upper = 700.0 / theta  # expm1 stays finite
    return brentq(lambda h: math.log(siegmund_arl(h, allowance, theta) / target), 0.0, upper, xtol=1e-10)


def adjustment_coefficient(scores: np.ndarray, weights: np.ndarray, block: int, allowance: float) -> float:
    """The positive root ``theta`` of ``block * log E[exp(theta s / sqrt(block))] = theta k``.

    ``s`` takes the values ``scores`` (standardised: mean 0, variance 1) with probabilities
    proportional to ``weights``: the reference's distribution of one value's score. The block
    score ``z`` is the standardised mean of ``block`` independent scores, so the root is the
    adjustment (Cramér-Lundberg) coefficient of the increments ``z - k``: exact for the
    reference's distribution, where a normal approximation (``theta = 2 k``) understates the
    upper tail of a skewed score, such as the rare 1s of a 0/1 error stream. A score whose block
    mean can never exceed ``k`` cannot raise its chart; it gets ``theta = 2 k``.

    >>> s = np.array([-1.0, 1.0]); w = np.array([1.0, 1.0])  # symmetric, light tails: about 2k
    >>> round(adjustment_coefficient(s, w, block=25, allowance=0.5), 3)
    1.007
    >>> p = 0.1; s = np.array([-p, 1 - p]) / np.sqrt(p * (1 - p))  # rare 1s: a heavy upper tail
    >>> round(adjustment_coefficient(s, np.array([1 - p, p]), block=10, allowance=0.5), 3)
    0.8
    """
    root_b = math.sqrt(block)
    if scores.max() * root_b <= allowance:
        return 2.0 * allowance
    scores, weights = _pooled(scores, weights)
    log_w = np.log(weights / weights.sum())

    def g(theta: float) -> float:
        a = log_w + scores * (theta / root_b)
        top = a.max()
        return block * (top + math.log(np.exp(a - top).sum())) - theta * allowance  # a stable log-sum-exp

    lo, hi = 1e-9, 2.0 * allowance  # g < 0 just above 0, since g'(0) = -k
    while g(hi) <= 0.0:
        lo, hi = hi, hi * 2.0
    from scipy.optimize import brentq

    return brentq(g, lo, hi, xtol=1e-12)


def _pooled(scores: np.ndarray, weights: np.ndarray, bins: int = _MGF_BINS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``bins`` support points: the weighted mean of the scores in each of ``bins``
    equal-width bins (the moment generating function near ``theta`` moves by a relative
    ``c^2 w^2 / 24`` for bin width ``w``, far below the approximation's own error)."""
    if scores.shape[0] <= bins:
        return scores, weights
    edges = np.linspace(scores.min(), scores.max(), bins + 1)
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    total = np.bincount(which, weights=weights, minlength=bins)
    mean = np.bincount(which, weights=weights * scores, minlength=bins)
    used = total > 0
    return mean[used] / total[used], total[used]


class RankCUSUM(Detector):
    """Two-sided CUSUM charts of location and scale of a numeric stream, in reference ranks.

    Each value ``x`` becomes ``u = F_ref(x)`` (mid-rank in the reference sample), which is
    uniform whatever the distribution of ``x`` as long as it has not changed. Per block of
    ``block`` values the means of ``u`` (location) and of ``|u - 1/2|`` (scale: the tails
    gain or lose mass) are standardised with their reference moments, giving ``z`` scores
    that are N(0, 1) to within the central limit theorem. Four one-sided CUSUM charts
    ``S = max(0, S + z - k)`` (Page, 1954) watch them: location up and down, scale up and down.
    A gradual drift accumulates in the charts, so it is caught long before a window test sees it.

    Each chart has its own threshold ``h``, set so that the watched charts together fire
    with probability ``alpha_drift`` per block: the in-control ARL of each is Siegmund's
    approximation with the adjustment coefficient of its increments computed exactly from the
    reference's distribution of ``u`` (:func:`adjustment_coefficient`), and the allowance
    lowered by ``sqrt(block / n)`` for the error of the reference's moments. For a continuous
    feature ``u`` is uniform whatever the feature's distribution, so the calibration is
    distribution-free; for a discrete or skewed one (a 0/1 error stream with rare errors, a
    binary label) the coefficient accounts for the skewed block sums that a normal
    approximation would under-count (``tests_per_value = 1 / block``). ``drift`` fires when a
    chart exceeds its ``h``; the next ``reference_size`` values then form a new reference
    (until it is complete, :meth:`restore_reference`, called on a rollback of the model, takes
    the previous one back).
    ``warning`` fires when a chart exceeds its ``h_warning`` and re-arms once every chart is
    at or below half of its ``h_warning``.

    ``Detection.statistic`` is the firing chart's ``S``, ``threshold`` its ``h`` (``p_value``
    is None), ``current_n`` the values since the reference was completed, ``start_ts`` the
    timestamp of the firing block's first value. NaN values are skipped.

    Parameters
    ----------
    reference_size
        Number of values in the reference sample.
    block
        Values per block; a block is one test.
    allowance
        ``k``: the chart ignores a shift smaller than ``k`` standard deviations of a block
        mean (a shift of ``2 k`` is detected fastest).
    alpha_drift, alpha_warning
        Probability per block of a false drift (warning); ``alpha_warning=None`` disables warnings.
    direction
        ``"both"`` (all four charts), ``"location"`` (the two location charts: for a 0/1
        stream, whose scale chart would repeat its location chart), or only the location chart
        ``"up"`` (values rising: the right choice for a learner's errors, whose fall is no
        alarm) or ``"down"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(0, 1.3, 5_000)])
    >>> det = RankCUSUM()
    >>> [(d.index, d.severity) for d in det.update(stream)]
    [(20239, 'warning'), (20409, 'drift')]

    References
    ----------
    E. S. Page (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    D. Siegmund (1985). Sequential Analysis: Tests and Confidence Intervals. Springer.
    """

    input_type = "numeric"
    method = "cusum"
    #: the ranks shared with the other rank-based detector of the same column (set by its
    #: owner, e.g. the engine; a cache only, never part of the state)
    rank_memo: RankMemo | None = None

    def __init__(
        self,
        reference_size: int = 10_000,
        block: int = 10,
        allowance: float = 0.5,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        direction: str = "both",
    ) -> None:
        name = type(self).__name__
        if direction not in DIRECTIONS:
            raise ValueError(f"{name}: direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if not isinstance(reference_size, (int, np.integer)) or reference_size < MIN_SIZE:
            raise ValueError(f"{name}: reference_size must be an integer >= {MIN_SIZE}, got {reference_size!r}")
        if not isinstance(block, (int, np.integer)) or isinstance(block, bool) or block < 1:
            raise ValueError(f"{name}: block must be an integer >= 1, got {block!r}")
        if not isinstance(allowance, (int, float)) or not allowance > 0:
            raise ValueError(f"{name}: allowance must be > 0, got {allowance!r}")
        if not isinstance(alpha_drift, (int, float)) or not 0.0 < alpha_drift < 1.0:
            raise ValueError(f"{name}: alpha_drift must be in (0, 1), got {alpha_drift!r}")
        if alpha_warning is not None and not alpha_drift < alpha_warning < 1.0:
            raise ValueError(f"{name}: alpha_warning must be in (alpha_drift, 1) or None, got {alpha_warning!r}")
        self.reference_size = int(reference_size)
        self.block = int(block)
        self.allowance = float(allowance)
        self.alpha_drift = float(alpha_drift)
        self.alpha_warning = None if alpha_warning is None else float(alpha_warning)
        self.direction = direction
        self._watched = list(DIRECTIONS[direction])
        self._reset()

    @property
    def tests_per_value(self) -> float:
        return 1.0 / self.block

    # ----------------------------------------------------------------- state
    def _reset(self) -> None:
        self._ref_buf: list[float] = []
        self._reference: np.ndarray | None = None
        self._moments = np.zeros(4)  # mean and sd of u and of |u - 1/2| in the reference
        self._partial = np.zeros(2, dtype=np.int64)  # integer rank sums in the current block
        self._in_block = 0
        self._block_ts = -1  # timestamp of the current block's first value
        self._charts = np.zeros(N_CHARTS, dtype=np.int64)  # in units of 2**-FIXED_BITS
        self._armed = True
        self._count = 0
        self._h = np.full(N_CHARTS, math.inf)  # per chart, set with the reference
        self._h_warn = np.full(N_CHARTS, math.inf)
        self._previous: np.ndarray | None = None  # the reference before a drift, while collecting

    def _set_reference(self, sorted_values: np.ndarray) -> None:
        self._reset()
        self._reference = sorted_values
        self._starts = run_starts(sorted_values)
        n = sorted_values.shape[0]
        left, right = own_ranks(sorted_values, self._starts)  # twice the mid-ranks, as :meth:`_ranks2`
        r2 = left + right
        u, v = r2 / (2.0 * n), np.abs(r2 - n) / (2.0 * n)
        floor = 1.0 / (2 * n)  # a constant reference: any other value is a change
        self._moments = np.array([u.mean(), max(u.std(), floor), v.mean(), max(v.std(), floor)])
        # the reference moments are estimates: their error biases every z by about
        # sqrt(block / n) standard deviations, which the calibration takes off the allowance
        k = max(self.allowance - math.sqrt(self.block / n), self.allowance / 2)
        # the reference's score distribution (``np.unique`` of the sorted ``r2``: its runs)
        firsts = np.flatnonzero(np.concatenate([[True], r2[1:] != r2[:-1]]))
        levels, counts = r2[firsts], np.diff(np.append(firsts, n))
        mu_u, sd_u, mu_v, sd_v = self._moments
        z_u = (levels / (2.0 * n) - mu_u) / sd_u
        z_v = (np.abs(levels - n) / (2.0 * n) - mu_v) / sd_v
        charts = len(self._watched)
        scores_of = (z_u, -z_u, z_v, -z_v)
        for j in self._watched:
            theta = adjustment_coefficient(scores_of[j], counts.astype(np.float64), self.block, k)
            self._h[j] = max(cusum_threshold(self.alpha_drift, k, charts, theta), _MIN_H)
            if self.alpha_warning is not None:
                self._h_warn[j] = max(cusum_threshold(self.alpha_warning, k, charts, theta), _MIN_H)

    def _ranks2(self, x: np.ndarray) -> np.ndarray:
        """Twice the mid-rank of ``x`` in the reference, as integers: ``u = ranks2 / (2 n)``."""
        left, right = reference_ranks(self._reference, x, self._starts, self.rank_memo)
        return left + right

    def fit_reference(self, values: Any) -> None:
        """Use ``values`` (e.g. training data) as the reference, thinned to ``reference_size``."""
        arr = as_float_array(values)
        arr = np.sort(arr[~np.isnan(arr)])
        if arr.shape[0] < MIN_SIZE:
            raise ValueError(f"{type(self).__name__}.fit_reference: needs at least {MIN_SIZE} values")
        if arr.shape[0] > self.reference_size:
            arr = arr[np.linspace(0, arr.shape[0] - 1, self.reference_size).round().astype(np.int64)]
        self._set_reference(arr)

    def restore_reference(self) -> None:
        """After a rollback: the reference of before the last drift back (while a new one is
        being collected), or the current one kept; the charts at zero, watching at once."""
        if self._reference is None and self._previous is not None:
            self._set_reference(self._previous)
        elif self._reference is not None:
            self._charts[:] = 0
            self._armed = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "previous": None if self._previous is None else self._previous.tolist(),
            "reference_buffer": list(self._ref_buf),
            "reference": None if self._reference is None else self._reference.tolist(),
            "partial": self._partial.tolist(),
            "in_block": self._in_block,
            "block_ts": self._block_ts,
            "charts": self._charts.tolist(),
            "armed": self._armed,
            "count": self._count,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        if state["reference"] is not None:
            self._set_reference(np.asarray(state["reference"], dtype=np.float64))
        self._ref_buf = [float(v) for v in state["reference_buffer"]]
        if state.get("previous") is not None:
            self._previous = np.asarray(state["previous"], dtype=np.float64)
        self._partial = np.asarray(state["partial"], dtype=np.int64)
        self._in_block = int(state["in_block"])
        self._block_ts = int(state["block_ts"])
        self._charts = np.asarray(state["charts"], dtype=np.int64)
        self._armed = bool(state["armed"])
        self._count = int(state["count"])
        self._last_statistic = restored_last_statistic(state)

    # ---------------------------------------------------------------- update
    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        vals, tss, keep = present_values(values, ts)
        detections: list[Detection] = []
        pos = 0
        while pos < vals.shape[0]:
            if self._reference is None:
                take = min(self.reference_size - len(self._ref_buf), vals.shape[0] - pos)
                self._ref_buf.extend(vals[pos : pos + take].tolist())
                pos += take
                if len(self._ref_buf) == self.reference_size:
                    self._set_reference(np.sort(np.asarray(self._ref_buf)))
            else:
                pos = self._monitor(vals, tss, keep, pos, detections)
        return detections

    def _monitor(self, vals, tss, keep, pos, detections) -> int:
        """Feed ``vals[pos:]``; return where to continue (past a drift: renew the reference).

        The charts are rows (location up, down, scale up, down) and the blocks columns; every
        number is computed by the same operations as one value at a time would (exact integer
        block sums, the same floating-point steps per block), so the result does not depend
        on the batching.
        """
        stop = pos + _CHUNK_BLOCKS * self.block  # bounded work per step: a drift stops early
        seg, seg_ts = vals[pos:stop], tss[pos:stop]
        k = seg.shape[0]
        n = self._reference.shape[0]
        # twice the mid-ranks (u times 2n) and their distances from the middle (|u - 1/2| times 2n)
        scores = np.empty((2, k), dtype=np.int64)
        scores[0] = self._ranks2(seg)
        np.abs(scores[0] - n, out=scores[1])
        ends = np.arange(self.block - self._in_block - 1, k, self.block)  # positions closing a block
        if ends.size == 0:
            return self._carry(self._partial + scores.sum(axis=1), seg_ts, pos, k, 0)
        last_end = int(ends[-1])
        # exact integer sums of each block (the first one with what the open block held)
        sums = np.add.reduceat(scores[:, : last_end + 1], np.concatenate([[0], ends[:-1] + 1]), axis=1)
        sums[:, 0] += self._partial
        mu, sd = self._moments[[0, 2], None], self._moments[[1, 3], None]
        z = (sums / (2.0 * n) / self.block - mu) / sd * math.sqrt(self.block)
        incr = z[[0, 0, 1, 1]] * _SIGNS - self.allowance  # location up, down, scale up, down
        # fixed point: integer sums are exact, so the charts do not depend on the batching
        c = np.cumsum(np.round(incr * _ONE).astype(np.int64), axis=1)
        # Lindley's recursion S = max(0, S + x), vectorised: S_t = c_t - min(0, -S_0, c_1, ..., c_t)
        charts = c - np.minimum(np.minimum.accumulate(c, axis=1), np.minimum(-self._charts, 0)[:, None])
        watched = charts[self._watched] / _ONE
        h, h_warn = self._h[self._watched], self._h_warn[self._watched]
        ratio = watched / h[:, None]  # each chart against its own threshold
        drifts = np.flatnonzero(ratio.max(axis=0) > 1.0)
        n_blocks = int(drifts[0]) + 1 if drifts.size else ends.size
        warn_all = watched[:, :n_blocks] / h_warn[:, None]
        warn_ratio = warn_all.max(axis=0)
        high = warn_ratio > 1.0
        if drifts.size:
            high[-1] = False  # the drift block is no warning
        low = warn_ratio <= 0.5
        if high.any():
            fires, armed = hysteresis_fires(high, low, self._armed)
            fired = np.flatnonzero(fires).tolist()
        else:  # no warning: re-armed by any block at or below the re-arm level
            fired, armed = [], self._armed or bool(low.any())

        def top(b: int) -> int:  # the chart nearest to (or furthest past) its threshold
            return int(ratio[:, b].argmax())

        last = top(n_blocks - 1)
        self._last_statistic = (float(watched[last, n_blocks - 1]), float(h[last]))

        def detection(b: int, severity: str) -> Detection:
            i = int(ends[b])
            if severity == "drift":
                j = top(b)
                statistic, threshold = watched[j, b], h[j]
            else:
                j = int(warn_all[:, b].argmax())
                statistic, threshold = watched[j, b], h_warn[j]
            start = (self._block_ts if self._in_block else int(seg_ts[0])) if b == 0 else int(seg_ts[ends[b - 1] + 1])
            return Detection(
                index=int(keep[pos + i]),
                severity=severity,  # type: ignore[arg-type]
                statistic=float(statistic),
                p_value=None,
                threshold=float(threshold),
                reference_n=int(self._reference.shape[0]),
                current_n=self._count + i + 1,
                start_ts=ts_or_none(start),
                end_ts=ts_or_none(int(seg_ts[i])),
            )

        detections.extend(detection(b, "warning") for b in fired)
        if drifts.size:
            detections.append(detection(n_blocks - 1, "drift"))
            previous = self._reference
            self._reset()  # renew the reference from the next values
            self._previous = previous  # kept until the new one is complete (restore_reference)
            return pos + int(ends[n_blocks - 1]) + 1
        self._charts = charts[:, -1].copy()
        self._armed = armed
        self._in_block = 0
        self._count += last_end + 1
        return self._carry(scores[:, last_end + 1 :].sum(axis=1), seg_ts, pos, k, last_end + 1)

    def _carry(self, partial: np.ndarray, seg_ts: np.ndarray, pos: int, k: int, open_at: int) -> int:
        """Keep the sums of the open block, which holds ``seg[open_at:]`` after what it held."""
        if open_at < k:
            if self._in_block == 0:
                self._block_ts = int(seg_ts[open_at])
            self._partial = partial.copy()
            self._in_block += k - open_at
            self._count += k - open_at
        else:
            self._partial = np.zeros(2, dtype=np.int64)
            self._block_ts = -1
        return pos + k
