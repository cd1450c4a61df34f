"""False alarms on drift-free streams stay within the budget given by alpha_per_test."""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson

from driftline.detectors import Chi2Categorical, KSWindow, alpha_per_test, parse_rate

TRIALS, LENGTH = 20, 50_000
BUDGET = "1 per 100,000 events"


def allowed(rate):
    """A generous upper bound on the count of false alarms the budget allows."""
    return poisson.ppf(1 - 1e-4, rate * TRIALS * LENGTH)


def test_ks_false_alarms_within_budget():
    rate = parse_rate(BUDGET)
    alpha = alpha_per_test(rate, tests_per_value=1 / 100, n_detectors=1)
    alarms = 0
    for seed in range(TRIALS):
        det = KSWindow(stride=100, alpha_drift=alpha, alpha_warning=None)
        x = np.random.default_rng(1_000 + seed).normal(0, 1, LENGTH)
        alarms += sum(d.severity == "drift" for d in det.update(x))
    assert alarms <= allowed(rate)


def test_chi2_false_alarms_within_budget():
    rate = parse_rate(BUDGET)
    alpha = alpha_per_test(rate, tests_per_value=1 / 100, n_detectors=1)
    levels = np.array(list("abcdefgh") + ["rare1", "rare2"], dtype=object)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.015, 0.003, 0.002])
    alarms = 0
    for seed in range(TRIALS):
        det = Chi2Categorical(stride=100, alpha_drift=alpha, alpha_warning=None)
        x = np.random.default_rng(2_000 + seed).choice(levels, LENGTH, p=p / p.sum())
        alarms += sum(d.severity == "drift" for d in det.update(x))
    assert alarms <= allowed(rate)
