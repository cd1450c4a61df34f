"""KSWindow: exact statistic, p-value, detection power, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import kolmogorov
from scipy.stats import ks_2samp

from driftline.detectors import KSWindow
from driftline.detectors.numeric.ks import ks_statistic

CHANGE = 20_000


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", ["continuous", "integer ties"])
def test_statistic_equals_scipy(seed, kind):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(10, 3_000), rng.integers(10, 1_000)
    if kind == "continuous":
        ref, cur = rng.normal(0, 1, n), rng.normal(rng.normal(0, 0.3), 1, m)
    else:
        ref, cur = rng.poisson(3, n).astype(float), rng.poisson(3.3, m).astype(float)
    assert ks_statistic(np.sort(ref), cur) == pytest.approx(ks_2samp(ref, cur).statistic, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    ref=st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    cur=st.lists(st.integers(-5, 5), min_size=1, max_size=60),
)
def test_statistic_equals_scipy_on_heavy_ties(ref, cur):
    ref, cur = np.array(ref, float), np.array(cur, float)
    assert abs(ks_statistic(np.sort(ref), cur) - ks_2samp(ref, cur).statistic) <= 1e-12


def test_detection_reports_exact_statistic_and_pvalue():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.integers(0, 10, CHANGE), rng.integers(1, 11, 3_000)]).astype(float)
    det = KSWindow()
    d = det.update(x)[0]
    ref, cur = x[:10_000], x[d.index - 999 : d.index + 1]
    assert d.statistic == pytest.approx(ks_2samp(ref, cur).statistic, abs=1e-12)
    en = 10_000 * 1_000 / 11_000
    assert d.p_value == pytest.approx(kolmogorov(np.sqrt(en) * d.statistic))
    assert d.threshold == (det.alpha_drift if d.severity == "drift" else det.alpha_warning)
    assert d.p_value < d.threshold
    assert (d.reference_n, d.current_n) == (10_000, 1_000)


def drifts_after(detections, start, stop):
    return [d.index for d in detections if d.severity == "drift" and start <= d.index < stop]


@pytest.mark.parametrize("seed", range(3))
def test_detects_mean_shift_once(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, CHANGE), rng.normal(0.5, 1, 8_000)])
    found = KSWindow().update(x)
    assert drifts_after(found, 0, CHANGE) == []
    hits = drifts_after(found, CHANGE, len(x))
    assert len(hits) == 1 and hits[0] < CHANGE + 1_000


@pytest.mark.parametrize("seed", range(3))
def test_detects_variance_doubling_once(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, CHANGE), rng.normal(0, np.sqrt(2), 8_000)])
    found = KSWindow(window=2_000).update(x)
    assert drifts_after(found, 0, CHANGE) == []
    hits = drifts_after(found, CHANGE, len(x))
    assert len(hits) == 1 and hits[0] < CHANGE + 2_500


def test_renews_reference_after_drift_and_detects_again():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, 15_000), rng.normal(1, 1, 15_000), rng.normal(0, 1, 5_000)])
    found = KSWindow().update(x)
    drifts = [d.index for d in found if d.severity == "drift"]
    assert len(drifts) == 2 and 15_000 <= drifts[0] < 16_000 and 30_000 <= drifts[1] < 31_000


def test_test_schedule_counts_values_after_the_reference():
    det = KSWindow(reference_size=10, window=10, stride=5, alpha_drift=0.5, alpha_warning=None)
    # constant reference, window entirely elsewhere: every test fires, then renews
    x = np.concatenate([np.zeros(10), np.ones(12), np.zeros(10), np.full(15, 2.0)])
    idx = [d.index for d in det.update(x)]
    # counts since the reference: tests at c = 10 (index 19); renewal uses indices 20..29,
    # then tests at c = 10 from index 30 -> index 39
    assert idx == [19, 39]


def test_fit_reference_starts_monitoring_now():
    rng = np.random.default_rng(9)
    det = KSWindow()
    det.fit_reference(rng.normal(0, 1, 50_000))  # thinned to reference_size
    assert len(det.state_dict()["reference"]) == 10_000
    found = det.update(rng.normal(1, 1, 1_000))
    assert [d.severity for d in found] == ["drift"] and found[0].index == 999
    with pytest.raises(ValueError, match="fit_reference"):
        det.fit_reference([1.0, np.nan])


def test_warning_fires_once_per_excursion():
    det = KSWindow(reference_size=1_000, window=100, stride=10, alpha_drift=1e-12, alpha_warning=0.5)
    rng = np.random.default_rng(0)
    det.update(rng.normal(0, 1, 1_000))
    found = det.update(rng.normal(0.6, 1, 300))
    assert [d.severity for d in found] == ["warning"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"reference_size": 9}, "reference_size"),
        ({"reference_size": 100.0}, "reference_size"),
        ({"window": 5}, "window"),
        ({"stride": 0}, "stride"),
        ({"window": 100, "stride": 101}, "stride"),
        ({"alpha_drift": 0.0}, "alpha_drift"),
        ({"alpha_drift": 1.0}, "alpha_drift"),
        ({"alpha_warning": 1.5}, "alpha_warning"),
        ({"alpha_drift": 1e-3, "alpha_warning": 1e-4}, "alpha_warning"),
    ],
)
def test_validation_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        KSWindow(**kwargs)


def test_warnings_can_be_disabled():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, CHANGE), rng.normal(0.5, 1, 3_000)])
    assert {d.severity for d in KSWindow(alpha_warning=None).update(x)} == {"drift"}
    assert KSWindow(stride=50).tests_per_value == 1 / 50
