"""Exact run lengths of a Bernoulli CUSUM with integer steps, and its threshold for a budget.

A chart ``S = max(0, S + A)`` on a hit (probability ``p``) and ``S = max(0, S - C)`` on a miss,
with integer steps ``A, C >= 1``, alarming when ``S >= H``, is a Markov chain on ``0 .. H - 1``.
Its average run length from 0 solves ``(I - Q) L = 1`` (Brook & Evans, 1972), a banded system
(``C`` below the diagonal, ``A`` above); it is solved in whichever orientation has the narrower
lower band, so its cost is about ``H * min(A, C) * (A + C)``. Reynolds & Stoumbos (1999) scale the
log-likelihood ratio of a Bernoulli CUSUM to integers the same way and compute its ARL exactly so.

The hit probability under no change is estimated from a reference sample, so the threshold is
set on the alarm rate averaged over that estimate's uncertainty: ``1 / ARL(H; p)`` at Gauss-Hermite
nodes of the estimate's normal approximation on the logit scale, which keeps the budget over
references rather than for the one estimate. The threshold is searched where the log ARL's
growth rate in ``H`` (the root of the steps' moment generating function, Wald's identity)
places it, so a search takes a handful of solves of about the threshold's size.

>>> A, C = 64, 10
>>> arl(40 * 64, A, C, 0.1) > arl(20 * 64, A, C, 0.1) > arl(20 * 64, A, C, 0.15)
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

#: Gauss-Hermite nodes of the reference estimate's uncertainty
_NODES = 5
#: the largest step and the work of one solve (``H * min step * (A + C)``) allowed when the
#: steps' resolution is chosen: a finer resolution rounds the likelihood ratio less
_MAX_STEP, _MIN_STEP, _MAX_WORK = 1024, 8, 1e7
#: the largest solve a threshold search may reach, in its work (``H * min step * (A + C)``) and
#: in the band it stores (``H * (A + C)`` floats): a few hundredths of a second. A reference too
#: small for its rate needs a threshold far above the drift-free one (the rate averaged over its
#: uncertainty); a search that would solve past this is given up (:func:`calibrated_threshold`
#: returns None) and the chart is calibrated again at a coarser resolution instead
MAX_SEARCH_WORK, MAX_SEARCH_BAND = 3e7, 8e6


def integer_steps(up: float, down: float, alpha: float, max_step: int = _MAX_STEP) -> tuple[int, int, float]:
    """``(A, C, unit)``: the steps ``up`` and ``down`` (in nats, both > 0) as integers of ``unit``
    nats, as finely as the ARL solve's work allows for a chart at false-alarm rate ``alpha``, the
    larger step at most ``max_step`` units.

    >>> integer_steps(0.598, 0.0955, 1e-6)[:2]
    (64, 10)
    >>> integer_steps(0.598, 0.0955, 1e-6, max_step=16)[:2]
    (16, 3)
    """
    big, small = max(up, down), min(up, down)
    h_nats = math.log(2.0 / alpha) + 5.0  # above any threshold the calibration will pick
    scale = max_step
    while scale > _MIN_STEP:
        unit = big / scale
        small_steps = max(1, round(small / unit))
        if h_nats / unit * small_steps * (scale + small_steps) <= _MAX_WORK:
            break
        scale //= 2
    unit = big / scale
    a, c = max(1, round(up / unit)), max(1, round(down / unit))
    return a, c, unit


def arl(h: int, a: int, c: int, p: float) -> float:
    """Average run length from 0 of the chart with steps ``+a`` (probability ``p``) and ``-c``,
    alarming at ``S >= h``."""
    if h <= 0:
        return 1.0
    q = 1.0 - p
    if h <= a:  # every hit alarms: a geometric run length
        return 1.0 / p
    from scipy.linalg import solve_banded

    # M = I - Q; M[s, s + a] = -p (s + a < h); M[s, max(s - c, 0)] -= q; M[s, s] += 1
    if c <= a:  # solve M L = 1: lower band c, upper band a
        ab = np.zeros((c + a + 1, h))
        ab[a, :] = 1.0
        ab[0, a:] = -p  # M[j - a, j] for j >= a
        ab[a + c, : h - c] -= q  # M[j + c, j]: from s = j + c down to j
        ab[a, 0] -= q  # s = 0 stays at 0 on a miss
        for s in range(1, min(c, h)):  # 0 < s < c: a miss goes to 0
            ab[a + s, 0] -= q
        return float(solve_banded((c, a), ab, np.ones(h))[0])
    # solve M^T y = e_0 (bands swapped: lower a, upper c); L_0 = sum(y)
    ab = np.zeros((a + c + 1, h))
    ab[c, :] = 1.0
    ab[c + a, : h - a] = -p  # M^T[j + a, j] = M[j, j + a]
    ab[c - c, c:] -= q  # M^T[j - c, j] = M[j, j - c]
    ab[c, 0] -= q
    for s in range(1, min(c, h)):  # M[s, 0] = -q: M^T[0, s]
        ab[c - s, s] -= q
    rhs = np.zeros(h)
    rhs[0] = 1.0
    return float(solve_banded((a, c), ab, rhs).sum())


def chart_calibration(up: float, down: float, p_hat: float, n: int, targets: tuple[float, ...],
                      alpha: float) -> tuple[int, int, float, list[int]]:
    """``(A, C, unit, thresholds)``: a chart's integer steps (:func:`integer_steps` for false-alarm
    rate ``alpha``) and its :func:`calibrated_threshold` for each of ``targets``, at the finest
    resolution whose threshold searches stay within :data:`MAX_SEARCH_WORK` and
    :data:`MAX_SEARCH_BAND`, halving the
    resolution until they do (the coarsest is searched without a limit). The usual chart is
    calibrated at the first resolution; one on a small reference, for a rare rate, whose threshold
    must lie far above the drift-free one, at a coarser one instead of for minutes. Each threshold
    is exact for its steps, so the budget holds at every resolution."""
    step = _MAX_STEP
    while True:
        a, c, unit = integer_steps(up, down, alpha, max_step=step)
        work, band = (MAX_SEARCH_WORK, MAX_SEARCH_BAND) if step > _MIN_STEP else (math.inf, math.inf)
        found = []
        for target in targets:
            h = calibrated_threshold(target, a, c, p_hat, n, work, band)
            if h is None:
                break
            found.append(h)
        else:
            return a, c, unit, found
        step //= 2


def _nodes(p_hat: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hit probabilities and weights: ``p_hat``'s normal uncertainty from ``n`` values, on logits."""
    x, w = np.polynomial.hermite.hermgauss(_NODES)
    logit = math.log(p_hat / (1.0 - p_hat))
    se = math.sqrt(1.0 / (n * p_hat * (1.0 - p_hat)))
    ps = 1.0 / (1.0 + np.exp(-(logit + math.sqrt(2.0) * se * x)))
    return ps, w / w.sum()


def drift_exponent(a: int, c: int, p: float) -> float | None:
    """``theta > 0`` with ``p e^(theta a) + (1 - p) e^(-theta c) = 1``, for a chart whose steps drift
    down (``p a < (1 - p) c``): the rate at which its log ARL grows with ``H`` (Wald's
    identity; Siegmund, 1985, ch. X), which places the threshold's search. None otherwise.

    >>> round(drift_exponent(1, 1, 0.25) / math.log(3), 9)
    1.0
    """
    q = 1.0 - p
    if p * a >= q * c:
        return None
    theta = 2.0 * (q * c - p * a) / (p * a * a + q * c * c)  # the diffusion approximation: a start above
    for _ in range(60):  # Newton on the convex g(theta) = log(p e^(theta a) + q e^(-theta c))
        hi, lo = p * math.exp(theta * a), q * math.exp(-theta * c)
        g, dg = math.log(hi + lo), (a * hi - c * lo) / (hi + lo)
        if dg <= 0.0:  # left of the minimum: back to the right of the root
            theta *= 2.0
            continue
        step = g / dg
        theta -= step
        if abs(step) <= 1e-12 * theta:
            break
    return theta if theta > 0.0 else None


def budget_excess(h: int, target_arl: float, a: int, c: int, p_hat: float, n: int) -> float:
    """``log(alarm rate) - log(1 / target_arl)`` of the chart with threshold ``h``, the rate
    averaged over the uncertainty of ``p_hat``: at most 0 when ``h`` keeps the budget."""
    return _excess(h, target_arl, a, c, *_nodes(p_hat, n))


def _excess(h: int, target_arl: float, a: int, c: int, ps: np.ndarray, ws: np.ndarray) -> float:
    """``-inf`` when every run length is past what a float holds (a chart that all but never
    alarms: a rate at the edge of 0 or 1 in the direction it cannot go)."""
    rate = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for p, w in zip(ps, ws):
            length = arl(h, a, c, float(p))
            if math.isfinite(length) and length > 0.0:
                rate += w / length
    return math.log(rate) + math.log(target_arl) if rate > 0.0 else -math.inf


def _bracket(excess: Callable[[int], float], slope: float, guess: int, f_one: float,
             reach: float = math.inf) -> tuple[int, float, int, float] | None:
    """``(lo, excess(lo), hi, excess(hi))`` with ``excess(lo) > 0 >= excess(hi)``, from ``guess``;
    None when it would have to probe an ``H`` past ``reach``.

    Each probe aims just past the predicted crossing (``h + excess(h) / slope``, the slope then
    re-estimated from the last two probes, as the secant method does); from the fourth probe on a
    side, the steps at least double, so a poor prediction costs a few steps more, never many; an
    upward probe goes at most to twice ``h``, so a slope flattened by rounding costs a few
    probes, never a solve of an absurd size.
    """
    if guess > reach:
        return None
    h, f = guess, excess(guess)
    lo, f_lo, hi, f_hi = 1, f_one, None, None
    step, probes = 0, 0
    while True:
        if f > 0:
            lo, f_lo = h, f
        else:
            hi, f_hi = h, f
        if hi is not None and (lo > 1 or hi == 2):
            return lo, f_lo, hi, f_hi
        if math.isinf(f):  # no alarm in a float's reach: nothing to predict from, halve the way down
            nxt = (lo + h) // 2
        else:
            x = h + f / slope  # the predicted crossing: excess falls about linearly with H
            nxt = math.ceil(x) if f > 0 else math.ceil(x) - 1  # the first H past it, or the last H before
        probes += 1
        if probes > 3:  # predictions that fall short: at least double the step
            nxt = h + max(abs(nxt - h), 2 * step) * (1 if f > 0 else -1)
        # upwards nothing is known above ``h`` (and a slope read off two probes the solve's
        # rounding made almost equal predicts a crossing far off: at most twice ``h``);
        # downwards the probe stays inside (lo, h)
        nxt = min(max(nxt, h + 1), 2 * h) if f > 0 else max(lo + 1, min(nxt, h - 1))
        if nxt > reach:
            return None
        f_next = excess(nxt)
        if math.isfinite(f) and math.isfinite(f_next) and f_next != f and (f - f_next) / (nxt - h) > 0:
            slope = (f - f_next) / (nxt - h)
        step, h, f = abs(nxt - h), nxt, f_next


@functools.lru_cache(maxsize=256)
def calibrated_threshold(target_arl: float, a: int, c: int, p_hat: float, n: int,
                         max_work: float = math.inf, max_band: float = math.inf) -> int | None:
    """The smallest integer ``H`` whose alarm rate, averaged over the uncertainty of ``p_hat``
    (estimated from ``n`` values), is at most ``1 / target_arl``; None if the search would have
    to solve a chart of more than ``max_work`` (``H * min(a, c) * (a + c)``) or a band of more
    than ``max_band`` (``H * (a + c)``) to find it.

    The alarm rate falls strictly with ``H``, so that ``H`` is the one integer where the rate
    crosses the budget; the search brackets it by secant steps from the first guess
    ``log(target) / theta`` (:func:`drift_exponent` at ``p_hat``) and narrows the bracket by
    regula falsi on the log rate, which is nearly linear in ``H``. Each step is an exact ARL solve, so the search
    only decides how few solves find that ``H``, never which ``H`` it is.
    """
    ps, ws = _nodes(p_hat, n)

    def excess(h: int) -> float:
        return _excess(h, target_arl, a, c, ps, ws)

    reach = min(max_work / (min(a, c) * (a + c)), max_band / (a + c))  # the largest H it may solve

    lo, f_lo = 1, excess(1)
    if f_lo <= 0:
        return lo
    theta = drift_exponent(a, c, p_hat)
    slope = theta if theta is not None else 1.0 / max(a, c)  # the log rate's fall per unit of H
    guess = max(2, math.ceil(math.log(target_arl) / slope))
    bracket = _bracket(excess, slope, guess, f_lo, reach)
    if bracket is None:
        return None
    lo, f_lo, hi, f_hi = bracket
    side = 0
    while hi - lo > 1:  # regula falsi on the integers (Illinois: a stale end's value halved)
        guess = lo + (hi - lo) * f_lo / (f_lo - f_hi) if math.isfinite(f_hi) else (lo + hi) / 2
        mid = int(min(max(round(guess), lo + 1), hi - 1))
        f_mid = excess(mid)  # below ``hi``, which was solved: within reach
        if f_mid > 0:
            lo, f_lo = mid, f_mid
            f_hi, side = (f_hi / 2, 0) if side == -1 else (f_hi, -1)
        else:
            hi, f_hi = mid, f_mid
            f_lo, side = (f_lo / 2, 0) if side == 1 else (f_lo, 1)
    return hi
