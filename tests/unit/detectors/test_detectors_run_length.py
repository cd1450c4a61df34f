"""Run length between false alarms of the calibrated windowed detectors on drift-free streams.

A budget of ``rate`` false alarms per value promises a mean run length of ``1 / rate``
monitored values between false alarms. Each detector gets its level as ``plan.build`` gives
it, ``alpha_per_test(rate, detector.tests_per_value, 1)``, which counts one alarm per cluster
of exceedances of the overlapping windows. On fixed-seed drift-free streams the realised
number of false alarms must not exceed the promise beyond Poisson noise, and the mean run
length must be within a factor of 3 of the promise. Monitored values are those tested
against a complete reference: the ``reference_size`` values collected at the start and after
each drift alarm are not.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.special import ndtri
from scipy.stats import poisson

from driftline.detectors import (
    Chi2Categorical,
    CvMWindow,
    JSWindow,
    KSWindow,
    alpha_per_test,
)
from driftline.detectors.calibration import MAX_ALPHA, WindowedTests, window_extremal_index

#: false alarms per value: loose enough to see about 80 of them per case in a few seconds
RATE = 1 / 50_000
#: values per case, in streams of STREAM values
VALUES, STREAM = 5_000_000, 1_000_000
LEVELS = np.array(list("abcdefgh") + ["rare1", "rare2"], dtype=object)
P_LEVELS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.015, 0.003, 0.002])

CASES = [
    (KSWindow, {}),
    (KSWindow, {"window": 500, "stride": 50}),
    (CvMWindow, {}),
    (CvMWindow, {"stride": 250}),
    (Chi2Categorical, {}),
    (Chi2Categorical, {"window": 500, "stride": 50}),
]


def monitored_values(length: int, drift_indices: list[int], reference_size: int) -> int:
    """Values seen with a complete reference, in a stream renewing its reference after each drift."""
    total, start = 0, 0  # start: where the reference being collected began
    for index in drift_indices:
        total += index + 1 - (start + reference_size)
        start = index + 1
    return total + max(0, length - (start + reference_size))


def test_monitored_values_skip_every_reference():
    assert monitored_values(100, [], 10) == 90
    assert monitored_values(100, [29, 49], 10) == 20 + 10 + 40
    assert monitored_values(100, [94], 10) == 85  # the last reference is never complete


def stream(cls, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if cls is Chi2Categorical:
        return LEVELS[rng.choice(LEVELS.size, STREAM, p=P_LEVELS)]
    return rng.random(STREAM)  # the tests are distribution-free on continuous data


@pytest.mark.parametrize("cls, options", CASES, ids=lambda v: getattr(v, "method", None) or str(v))
def test_run_length_between_false_alarms_keeps_the_promise(cls, options):
    probe = cls(**options)
    alpha = alpha_per_test(RATE, probe.tests_per_value, n_detectors=1)
    assert alpha > RATE * probe.stride  # the clusters are budgeted, not every exceedance
    alarms = monitored = 0
    for seed in range(VALUES // STREAM):
        det = cls(**options, alpha_drift=alpha, alpha_warning=None)
        drifts = [d.index for d in det.update(stream(cls, 7_000 + seed)) if d.severity == "drift"]
        alarms += len(drifts)
        monitored += monitored_values(STREAM, drifts, det.reference_size)
    promised = RATE * monitored
    assert alarms <= poisson.ppf(1 - 1e-3, promised), (alarms, promised)
    assert monitored / max(alarms, 1) <= 3 / RATE, (alarms, promised)  # mean run length


def test_windowed_detectors_report_their_windows():
    for det in (KSWindow(window=500, stride=50), CvMWindow(), Chi2Categorical(stride=250)):
        tests = det.tests_per_value
        assert isinstance(tests, WindowedTests) and tests == 1 / det.stride
        assert (tests.window, tests.stride) == (det.window, det.stride)
    # a test whose clusters were not measured against the model keeps the Bonferroni level
    assert not isinstance(JSWindow().tests_per_value, WindowedTests)


def test_extremal_index_model():
    alphas = [1e-2, 1e-4, 1e-7, 1e-10]
    thetas = [window_extremal_index(a, 1_000, 100) for a in alphas]
    assert 0.3 < thetas[0] < thetas[1] < thetas[2] < thetas[3] < 1  # shorter clusters when rarer
    assert window_extremal_index(1e-3, 1_000, 1_000) == 1.0  # disjoint windows do not cluster
    assert window_extremal_index(1e-3, 1_000, 250) > window_extremal_index(1e-3, 1_000, 100)
    # the model depends on window / stride only, and is deterministic
    assert window_extremal_index(1e-4, 500, 50) == window_extremal_index(1e-4, 1_000, 100)


def test_extremal_index_matches_the_simulated_gaussian_process():
    """The share of exceedances with no exceeding overlapping predecessor, on a long moving sum."""
    alpha, per_window = 1e-2, 10
    u = -ndtri(alpha / 2)
    blocks = np.random.default_rng(5).standard_normal(2_000_000)
    cum = np.concatenate([[0.0], np.cumsum(blocks)])
    x = np.abs(cum[per_window:] - cum[:-per_window]) / np.sqrt(per_window) > u
    exceed = np.flatnonzero(x[per_window:]) + per_window
    earlier = np.zeros(exceed.size, dtype=bool)
    for lag in range(1, per_window):
        earlier |= x[exceed - lag]
    first = np.mean(~earlier)  # about 0.40, standard error 0.0035
    assert first - 0.015 < window_extremal_index(alpha, 1_000, 100) < first + 0.03


def test_alpha_per_test_budgets_clusters():
    tests = WindowedTests(1_000, 100)
    alpha = alpha_per_test(1e-6, tests, n_detectors=2)
    # alpha * theta(alpha) tests per value give the budget
    assert alpha * tests.extremal_index(alpha) * tests == pytest.approx(1e-6 / 2, rel=1e-6)
    assert alpha_per_test(1e-6, 1 / 100, n_detectors=2) == pytest.approx(5e-5)  # plain floats: Bonferroni
    assert 1.2 < alpha / 5e-5 < 1.6
    assert alpha_per_test(0.1, tests, n_detectors=1) == MAX_ALPHA
    assert alpha_per_test(1e-6, WindowedTests(100, 100), 1) == pytest.approx(1e-4)  # no overlap
    assert pickle.loads(pickle.dumps(tests)).extremal_index(1e-3) == tests.extremal_index(1e-3)
    with pytest.raises(ValueError, match="window"):
        WindowedTests(10, 20)


# ------------------------------------------------------------ the other calibrated detectors
def _uniform(rng, n):
    return rng.random(n)


def _errors(rng, n):  # a steady 0/1 error stream with rare errors: skewed block sums
    return (rng.random(n) < 0.05).astype(float)


def _binary(rng, n):  # a binary label or prediction: 30% of 1s
    return (rng.random(n) < 0.3).astype(float)


def _rows(rng, n):
    return rng.normal(size=(n, 5))


def _with_missing(rng, n):
    x = rng.normal(size=n)
    x[rng.random(n) < 0.02] = np.nan
    return x


def _levels_with_missing(rng, n):
    return rng.choice(np.array(list("abcd") + [None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.08, 0.02])


#: (method, options, stream, values): within a factor of 3 of the promise, and within budget
SEQUENTIAL_CASES = [
    ("cusum", {}, _uniform, 2_000_000),
    ("cusum", {"direction": "up"}, _errors, 2_000_000),
    ("cusum", {"block": 5, "allowance": 1.0, "direction": "location"}, _uniform, 2_000_000),  # auto's fast one
    ("bernoulli", {"direction": "up"}, _errors, 2_000_000),
    ("bernoulli", {}, _binary, 2_000_000),
    ("pca", {}, _rows, 2_000_000),
    ("psi", {}, _uniform, 2_000_000),
    ("js", {}, _uniform, 2_000_000),
    ("wasserstein", {}, _uniform, 1_000_000),
]
#: discrete tests of rare counts (missing values, out-of-range values, unseen levels, rejected
#: messages) cannot reach their level exactly: they keep the budget with a run length longer
#: than promised (measured about 8 to 14 times), which only the budget bound checks
CONSERVATIVE_CASES = [
    ("quality", {}, _with_missing, 2_000_000),
    ("quality_cat", {}, _levels_with_missing, 2_000_000),
    ("schema", {}, _errors, 2_000_000),
]
SEQUENTIAL_RATE = 1 / 20_000


def _alarms_and_promise(method, options, make_stream, values):
    from driftline.detectors import make_detector

    probe = make_detector(method, **options)
    alpha = alpha_per_test(SEQUENTIAL_RATE, probe.tests_per_value, n_detectors=1)
    alarms = monitored = 0
    for seed in range(2):
        det = make_detector(method, **options, alpha_drift=alpha, alpha_warning=None)
        x = make_stream(np.random.default_rng(9_000 + seed), values // 2)
        drifts = [d.index for d in det.update(x) if d.severity == "drift"]
        alarms += len(drifts)
        monitored += monitored_values(x.shape[0], drifts, det.reference_size)
    return alarms, SEQUENTIAL_RATE * monitored


@pytest.mark.parametrize("method, options, make_stream, values", SEQUENTIAL_CASES,
                         ids=[f"{m}-{'-'.join(map(str, o.values())) or 'default'}" for m, o, _, _ in SEQUENTIAL_CASES])
def test_other_calibrated_detectors_keep_the_promise(method, options, make_stream, values):
    alarms, promised = _alarms_and_promise(method, options, make_stream, values)
    assert alarms <= poisson.ppf(1 - 1e-3, promised), (alarms, promised)
    assert alarms >= promised / 3, (alarms, promised)  # mean run length within 3x of 1 / rate


@pytest.mark.parametrize("method, options, make_stream, values", CONSERVATIVE_CASES,
                         ids=[m for m, _, _, _ in CONSERVATIVE_CASES])
def test_discrete_data_quality_tests_stay_within_budget(method, options, make_stream, values):
    alarms, promised = _alarms_and_promise(method, options, make_stream, values)
    assert 0 < alarms <= poisson.ppf(1 - 1e-3, promised), (alarms, promised)
