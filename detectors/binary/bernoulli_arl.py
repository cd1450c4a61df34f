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
references rather than for the one estimate.

>>> A, C = 64, 10
>>> arl(40 * 64, A, C, 0.1) > arl(20 * 64, A, C, 0.1) > arl(20 * 64, A, C, 0.15)
True
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg import solve_banded

#: Gauss-Hermite nodes of the reference estimate's uncertainty
_NODES = 5
#: the largest step and the work of one solve (``H * min step * (A + C)``) allowed when the
#: steps' resolution is chosen: a finer resolution rounds the likelihood ratio less
_MAX_STEP, _MAX_WORK = 1024, 1e7


def integer_steps(up: float, down: float, alpha: float) -> tuple[int, int, float]:
    """``(A, C, unit)``: the steps ``up`` and ``down`` (in nats, both > 0) as integers of ``unit``
    nats, as finely as the ARL solve's work allows for a chart at false-alarm rate ``alpha``.

    >>> integer_steps(0.598, 0.0955, 1e-6)[:2]
    (64, 10)
    """
    big, small = max(up, down), min(up, down)
    h_nats = math.log(2.0 / alpha) + 5.0  # above any threshold the calibration will pick
    scale = _MAX_STEP
    while scale > 8:
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


def _nodes(p_hat: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hit probabilities and weights: ``p_hat``'s normal uncertainty from ``n`` values, on logits."""
    x, w = np.polynomial.hermite.hermgauss(_NODES)
    logit = math.log(p_hat / (1.0 - p_hat))
    se = math.sqrt(1.0 / (n * p_hat * (1.0 - p_hat)))
    ps = 1.0 / (1.0 + np.exp(-(logit + math.sqrt(2.0) * se * x)))
    return ps, w / w.sum()


@functools.lru_cache(maxsize=256)
def calibrated_threshold(target_arl: float, a: int, c: int, p_hat: float, n: int) -> int:
    """The smallest integer ``H`` whose alarm rate, averaged over the uncertainty of ``p_hat``
    (estimated from ``n`` values), is at most ``1 / target_arl``."""
    ps, ws = _nodes(p_hat, n)

    def excess(h: int) -> float:  # log(rate) - log(1 / target): <= 0 keeps the budget
        rate = sum(w / arl(h, a, c, float(p)) for p, w in zip(ps, ws))
        return math.log(rate) + math.log(target_arl)

    lo = 1
    if excess(lo) <= 0:
        return lo
    hi = max(2, a)
    f_hi = excess(hi)
    while f_hi > 0:  # the log rate falls about linearly in H: grow to a bracket
        lo, hi = hi, hi * 2
        f_hi = excess(hi)
    f_lo, side = excess(lo), 0
    while hi - lo > 1:  # regula falsi on the integers (Illinois: a stale end's value halved)
        guess = lo + (hi - lo) * f_lo / (f_lo - f_hi)
        mid = int(min(max(round(guess), lo + 1), hi - 1))
        f_mid = excess(mid)
        if f_mid > 0:
            lo, f_lo = mid, f_mid
            f_hi, side = (f_hi / 2, 0) if side == -1 else (f_hi, -1)
        else:
            hi, f_hi = mid, f_mid
            f_lo, side = (f_lo / 2, 0) if side == 1 else (f_lo, 1)
    return hi
