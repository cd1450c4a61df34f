"""False alarms on drift-free streams stay within the budget given by alpha_per_test.

The levels come from each detector's own ``tests_per_value``, as ``plan.build`` computes them
(for the windowed tests: one alarm per cluster of exceedances, see
``test_detectors_run_length.py`` for the run length between alarms).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from driftline.detectors import (
    Chi2Categorical,
    JSWindow,
    KSWindow,
    PSIWindow,
    WassersteinWindow,
    alpha_per_test,
    parse_rate,
)

TRIALS, LENGTH = 20, 50_000
BUDGET = "1 per 100,000 events"


def allowed(rate):
    """A generous upper bound on the count of false alarms the budget allows."""
    return poisson.ppf(1 - 1e-4, rate * TRIALS * LENGTH)


def test_ks_false_alarms_within_budget():
    rate = parse_rate(BUDGET)
    alpha = alpha_per_test(rate, KSWindow(stride=100).tests_per_value, n_detectors=1)
    alarms = 0
    for seed in range(TRIALS):
        det = KSWindow(stride=100, alpha_drift=alpha, alpha_warning=None)
        x = np.random.default_rng(1_000 + seed).normal(0, 1, LENGTH)
        alarms += sum(d.severity == "drift" for d in det.update(x))
    assert alarms <= allowed(rate)


def test_chi2_false_alarms_within_budget():
    rate = parse_rate(BUDGET)
    alpha = alpha_per_test(rate, Chi2Categorical(stride=100).tests_per_value, n_detectors=1)
    levels = np.array(list("abcdefgh") + ["rare1", "rare2"], dtype=object)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.015, 0.003, 0.002])
    alarms = 0
    for seed in range(TRIALS):
        det = Chi2Categorical(stride=100, alpha_drift=alpha, alpha_warning=None)
        x = np.random.default_rng(2_000 + seed).choice(levels, LENGTH, p=p / p.sum())
        alarms += sum(d.severity == "drift" for d in det.update(x))
    assert alarms <= allowed(rate)


@pytest.mark.parametrize("cls", [PSIWindow, JSWindow, WassersteinWindow])
def test_simulated_distance_thresholds_give_the_level(cls):
    """The fitted null's level is the drift-free alarm rate within a factor of 2 (mean run
    length within 3x of the budget): 1,800 tests per detector at 1 in 500."""
    alpha, alarms, tests = 2e-3, 0, 0
    for seed in range(2):
        det = cls(reference_size=2_000, window=200, stride=50, alpha_drift=alpha, alpha_warning=None)
        x = np.random.default_rng(3_000 + seed).lognormal(0, 0.5, 92_000)
        n = sum(d.severity == "drift" for d in det.update(x))
        alarms += n
        tests += (x.size - det.reference_size * (n + 1)) // det.stride
    assert alpha * tests / 2 <= alarms <= alpha * tests * 2
