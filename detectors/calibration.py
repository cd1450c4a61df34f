"""Turning a false-alarm budget into per-test significance levels.

An operator states a budget such as ``"1 per 1,000,000 events"``: the number of false drift
alarms per event they accept over all detectors of a stream. :func:`parse_rate` reads it and
:func:`alpha_per_test` splits it (Bonferroni) between detectors and between the tests each
detector runs per value.

A windowed test (KS, Cramér-von Mises, chi-square: the last ``window`` values against a
reference, every ``stride`` values) reports its ``tests_per_value`` as a
:class:`WindowedTests`. Its consecutive tests share most of their values, so their
exceedances come in clusters, and a drift alarm is raised once per cluster (the detector then
renews its reference). :func:`alpha_per_test` then budgets clusters rather than single
exceedances: the level ``alpha`` solves ``alpha * theta(alpha) / stride = budget``, with
``theta`` the extremal index of :func:`window_extremal_index`.

>>> rate = parse_rate("1 per 1,000,000 events")
>>> rate
1e-06
>>> print(f"{alpha_per_test(rate, tests_per_value=1 / 100, n_detectors=4):.3g}")
2.5e-05
>>> print(f"{alpha_per_test(rate, tests_per_value=WindowedTests(1_000, 100), n_detectors=4):.3g}")
3.8e-05
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

#: the largest significance level a test is ever given (a budget this loose is meaningless)
MAX_ALPHA = 0.5
#: draws of the conditional simulation behind :func:`window_extremal_index`, at most (fewer
#: for windows overlapping many tests), and its fixed seed: the same levels on every machine
EXTREMAL_INDEX_DRAWS = 8_192
_EXTREMAL_INDEX_SEED = 1983
#: tests per window (``window / stride``) beyond which no clustering is counted (Bonferroni)
MAX_TESTS_PER_WINDOW = 256
#: blocks per window and per stride in the Gaussian model at most (coarser blocks lengthen the
#: model's window by less than one block: more overlap, so ``theta`` errs low: conservative)
_MAX_BLOCKS, _MAX_STEP = 512, 16

_NUMBER = r"[0-9][0-9,_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
_PER_RE = re.compile(
    rf"^\s*(?P<num>{_NUMBER})\s*(?:per|/)\s*(?P<den>{_NUMBER})\s*(?:events?|values?)?\s*$",
    re.IGNORECASE,
)


def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("_", ""))


def parse_rate(text: str | float) -> float:
    """Parse a false-alarm budget into false alarms per event.

    Accepts a number (``1e-6``, ``"1e-6"``) or ``"<k> per <n> [events]"`` with ``n`` written
    plainly, with thousands separators or in scientific notation.

    >>> parse_rate("1 per 1e6 events"), parse_rate("2 per 1000"), parse_rate(0.001)
    (1e-06, 0.002, 0.001)
    >>> parse_rate("often")
    Traceback (most recent call last):
    ...
    ValueError: false-alarm rate 'often' is not understood: write e.g. '1 per 1000000 events', '1 per 1e6 events' or '1e-6'
    """
    if isinstance(text, bool):
        raise ValueError(f"false-alarm rate must be a number or a string, not {text!r}")
    if isinstance(text, (int, float)):
        rate = float(text)
    elif isinstance(text, str):
        match = _PER_RE.match(text)
        try:
            if match:
                den = _to_float(match["den"])
                if den == 0:
                    raise ValueError(f"false-alarm rate {text!r} divides by zero events")
                rate = _to_float(match["num"]) / den
            else:
                rate = float(text.strip())
        except ValueError as exc:
            if "divides by zero" in str(exc):
                raise
            raise ValueError(
                f"false-alarm rate {text!r} is not understood: write e.g. "
                "'1 per 1000000 events', '1 per 1e6 events' or '1e-6'"
            ) from None
    else:
        raise ValueError(f"false-alarm rate must be a number or a string, not {text!r}")
    if not math.isfinite(rate) or not 0.0 < rate <= 1.0:
        raise ValueError(
            f"false-alarm rate {text!r} gives {rate!r} false alarms per event; "
            "it must be in (0, 1]"
        )
    return rate


@functools.lru_cache(maxsize=1024)
def window_extremal_index(alpha: float, window: int, stride: int) -> float:
    """Extremal index ``theta`` of the exceedances of a windowed test at level ``alpha``.

    Deterministic, so it is computed once per ``(alpha, window, stride)``: a stream's windowed
    tests of one shape (a KS test per feature) share their calibration.

    A windowed test compares the last ``window`` values with a reference every ``stride``
    values. Under no drift its statistic is, for large samples, a fixed function of a moving
    sum of independent increments: for each cut point of the KS and Cramér-von Mises
    statistics and each cell of the chi-square, the window's count is a sum over the last
    ``window`` values, so tests ``j`` strides apart have correlation ``1 - j * stride / window``
    (none past ``window``). The model is that process: ``X_k``, the sum of the last
    ``window / stride`` of a sequence of independent standard normal blocks (one per stride)
    divided by its standard deviation, exceeding ``u`` with ``P(|X_k| > u) = alpha``.

    ``theta`` is the probability that an exceedance is the first of its cluster: that none of
    the earlier tests whose windows overlap its window exceeded,
    ``theta = P(|X_{k-j}| <= u for 0 < j < window / stride | |X_k| > u)``. Tests whose
    windows share no values are independent, so this is the runs form of the extremal index
    with run length ``window / stride`` (Leadbetter, 1983; Smith and Weissman, 1994): the
    expected number of clusters among ``N`` tests is ``theta * alpha * N``. ``theta = 1``
    when windows do not overlap; it falls as the overlap grows, and it rises towards 1 as
    ``alpha`` falls, because an excursion to a more extreme level is shorter (a Gaussian
    sequence whose correlations vanish has extremal index 1 in the limit; Berman, 1964). It
    is computed by conditional simulation (``X_k`` drawn above ``u``, its overlapping
    predecessors given it) with a fixed seed, so it is deterministic, and returned two
    standard errors above the simulated share (0.011 with :data:`EXTREMAL_INDEX_DRAWS` draws
    at ``theta = 0.4``): simulation noise can only lower the levels. Past
    :data:`MAX_TESTS_PER_WINDOW` tests per window it is taken as 1 (no correction).

    Measured on drift-free streams (window 1000, stride 100 and 250, reference 10,000 and
    100,000; levels 1e-2 to 1e-5), the share of the exceedances of the KS, Cramér-von Mises
    and chi-square tests that follow a test below the level is within about 0.03 of the same
    share in the model. What the model
    leaves out lengthens clusters or runs: the reference shared by all tests adds a common
    component (more overlap), and after an alarm the reference is renewed, and a reference
    that happens to lie close to the stream's distribution gives a long run, so the long-run
    alarm rate is lower than ``theta * alpha`` per test, the more so at strict levels.

    >>> [round(window_extremal_index(a, 1_000, 100), 2) for a in (1e-2, 1e-4, 1e-7)]
    [0.42, 0.63, 0.79]
    >>> window_extremal_index(1e-3, 1_000, 1_000)
    1.0
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    window, stride = int(window), int(stride)
    if stride >= window or window > MAX_TESTS_PER_WINDOW * stride:
        return 1.0
    blocks, step = _model_blocks(window, stride)
    level_free, uniform = _extremal_index_draws(blocks, step)
    from scipy.special import ndtr, ndtri

    u = -float(ndtri(alpha / 2.0))
    lags = np.arange(1, level_free.shape[1] + 1)
    overlap = 1.0 - lags * step / blocks  # the share of X_k's blocks in X_{k-j}
    current = -ndtri(ndtr(-u) * uniform)  # X_k, given X_k > u (and by symmetry |X_k| > u)
    first = np.mean(np.all(np.abs(level_free + overlap * current[:, None]) <= u, axis=1))
    # two standard errors up: a simulation that happens to see long clusters must not
    # raise the levels
    return float(min(1.0, first + 2.0 * math.sqrt(first * (1.0 - first) / uniform.shape[0])))


def _model_blocks(window: int, stride: int) -> tuple[int, int]:
    """(blocks per window, blocks per stride) of the Gaussian model."""
    g = math.gcd(window, stride)
    blocks, step = window // g, stride // g
    if blocks > _MAX_BLOCKS or step > _MAX_STEP:
        step = max(1, min(_MAX_STEP, _MAX_BLOCKS * stride // window))
        blocks = -(-step * window // stride)
    return blocks, step


@functools.lru_cache(maxsize=16)
def _extremal_index_draws(blocks: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The level-free part of the simulation: ``X_{k-j} = A_j + (1 - j step / blocks) X_k``.

    Given their sum, ``X_k``'s blocks are ``X_k / sqrt(blocks)`` plus centred noise; ``A_j``
    is that noise over the blocks ``X_{k-j}`` shares with ``X_k`` plus the earlier,
    independent blocks of ``X_{k-j}``, over ``sqrt(blocks)``. Returns ``A`` (draws x lags)
    and the uniforms that place ``X_k`` above the level.
    """
    lags = -(-blocks // step) - 1  # windows overlapping the current one
    draws = min(EXTREMAL_INDEX_DRAWS, max(1_024, (1 << 20) // lags))
    rng = np.random.default_rng(_EXTREMAL_INDEX_SEED)
    noise = rng.standard_normal((draws, blocks))
    noise -= noise.mean(axis=1, keepdims=True)
    before = rng.standard_normal((draws, lags * step))
    cum = np.cumsum(np.concatenate([np.zeros((draws, 1)), before, noise], axis=1), axis=1)
    starts = lags * step - step * np.arange(1, lags + 1)
    level_free = (cum[:, starts + blocks] - cum[:, starts]) / math.sqrt(blocks)
    level_free.flags.writeable = False
    uniform = rng.random(draws)
    uniform.flags.writeable = False
    return level_free, uniform


class WindowedTests(float):
    """``1 / stride`` tests per value (the float itself) of windows of ``window`` values.

    What a windowed detector reports as ``tests_per_value``: it reads as the plain number of
    tests, and tells :func:`alpha_per_test` that the tests overlap, so that it can budget
    clusters of exceedances (see :func:`window_extremal_index`).

    >>> t = WindowedTests(1_000, 250)
    >>> t, t.window, t.stride
    (0.004, 1000, 250)
    """

    window: int
    stride: int

    def __new__(cls, window: int, stride: int) -> WindowedTests:
        if not (int(stride) >= 1 and int(window) >= int(stride)):
            raise ValueError(f"need window >= stride >= 1, got window={window!r}, stride={stride!r}")
        self = super().__new__(cls, 1.0 / int(stride))
        self.window, self.stride = int(window), int(stride)
        return self

    def __reduce__(self) -> tuple[type, tuple[int, int]]:
        return WindowedTests, (self.window, self.stride)

    def extremal_index(self, alpha: float) -> float:
        """:func:`window_extremal_index` of these tests at level ``alpha``."""
        return window_extremal_index(alpha, self.window, self.stride)


def alpha_per_test(rate_per_event: float, tests_per_value: float, n_detectors: int) -> float:
    """Significance level of one test so that all detectors together keep the budget.

    Each of the ``n_detectors`` detectors gets ``rate_per_event / n_detectors`` false alarms per
    event; a detector that runs ``tests_per_value`` tests per value gets
    ``alpha = rate_per_event / n_detectors / tests_per_value`` per test, capped at
    :data:`MAX_ALPHA`. This is a Bonferroni (union) bound on the *expected number* of false
    alarms: it holds whatever the dependence between tests.

    When ``tests_per_value`` is a :class:`WindowedTests` (KS, Cramér-von Mises and chi-square
    windows), consecutive tests overlap, exceedances come in clusters and the detector raises
    one alarm per cluster: ``alpha`` then solves ``alpha * theta(alpha) * tests_per_value =
    rate_per_event / n_detectors``, with ``theta`` the extremal index of
    :func:`window_extremal_index`, the expected number of clusters per test over ``alpha``
    (at levels 1e-7 to 1e-2, ``alpha`` is 1.04 to 1.4 times the Bonferroni level for
    window/stride 4, 1.3 to 2.4 times for 10, 1.7 to 3.9 times for 20). ``theta`` rises as
    ``alpha`` falls, so the level is solved for, not scaled by a constant: a factor measured
    at a loose level would overstate the gain at a strict one.

    What this guarantees: the expected number of false alarms per monitored value is the
    budget share or less, over any horizon, as far as the test's p-value is exact (for
    chi-square columns expected only a few times per window it is optimistic: see
    :class:`~driftline.detectors.categorical.chi2.Chi2Categorical`). Over horizons short against the run
    length, which is a detector's usual lot on its share of a stream's budget, the rate is
    close to the budget. Over many alarms it is lower, since a renewed reference that happens
    to lie close to the stream's distribution gives a long run: on drift-free streams with a
    10,000-value reference and window 1000, KS and Cramér-von Mises realise 0.7 to 0.97 of
    the budget at levels 8e-5 to 4e-2 per test (Bonferroni alone: 0.33 to 0.67), and a
    Gaussian model of the reference's effect, which matches those measurements, puts it at
    about 0.45 at 1e-7 (``tests/unit/detectors/test_detectors_run_length.py`` checks the
    run length between alarms against the promise).

    >>> alpha_per_test(1e-6, tests_per_value=1.0, n_detectors=1)
    1e-06
    >>> alpha_per_test(0.1, tests_per_value=0.01, n_detectors=1)
    0.5
    >>> print(f"{alpha_per_test(1e-5, WindowedTests(1_000, 100), n_detectors=1):.3g}")
    0.00195
    """
    if not (math.isfinite(rate_per_event) and rate_per_event > 0):
        raise ValueError(f"rate_per_event must be a positive number, got {rate_per_event!r}")
    if not (math.isfinite(tests_per_value) and tests_per_value > 0):
        raise ValueError(f"tests_per_value must be a positive number, got {tests_per_value!r}")
    if isinstance(n_detectors, bool) or int(n_detectors) != n_detectors or n_detectors < 1:
        raise ValueError(f"n_detectors must be an integer >= 1, got {n_detectors!r}")
    bonferroni = min(rate_per_event / n_detectors / tests_per_value, MAX_ALPHA)
    if not isinstance(tests_per_value, WindowedTests) or bonferroni >= MAX_ALPHA:
        return bonferroni
    # alpha * theta(alpha) grows with alpha: the iteration from the Bonferroni level rises
    # monotonically to the solution (theta changes slowly, so it takes a few steps)
    target, alpha = bonferroni, bonferroni
    for _ in range(60):
        nxt = min(target / tests_per_value.extremal_index(alpha), MAX_ALPHA)
        if abs(nxt - alpha) <= 1e-12 * alpha:
            break
        alpha = nxt
    return alpha
