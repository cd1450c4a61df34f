"""CvM, rank CUSUM, data quality and PCA: statistics against SciPy or a direct computation,
detection of each kind of drift, calibration of the sequential detector, setup speed."""

from __future__ import annotations


import numpy as np
import pytest
from scipy.stats import betabinom, cramervonmises_2samp, fisher_exact

from driftline.detectors import (
    CvMWindow,
    KSWindow,
    PCAReconstruction,
    QualityCategorical,
    QualityNumeric,
    RankCUSUM,
    make_detector,
)
from driftline.detectors.methods import METHODS
from driftline.detectors.numeric.cvm import cvm_limit_sf, cvm_statistic


def brute_cvm(ref, cur):
    """Anderson's T straight from its definition, over every pooled point."""
    pooled = np.concatenate([ref, cur])
    f = np.searchsorted(np.sort(ref), pooled, side="right") / len(ref)
    g = np.searchsorted(np.sort(cur), pooled, side="right") / len(cur)
    n, m = len(ref), len(cur)
    return n * m / (n + m) ** 2 * np.sum((f - g) ** 2)


def cvm_of(ref, cur):
    rs = np.sort(ref)
    f = np.searchsorted(rs, rs, side="right") / len(rs)
    return cvm_statistic(rs, np.concatenate([[0], np.cumsum(f)]), np.concatenate([[0], np.cumsum(f * f)]), cur)


@pytest.mark.parametrize("seed", range(6))
def test_cvm_statistic_and_p_value_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(20, 3_000)), int(rng.integers(20, 1_000))
    ref, cur = rng.normal(0, 1, n), rng.normal(0, rng.uniform(0.8, 1.3), m)
    res = cramervonmises_2samp(ref, cur, method="asymptotic")
    assert cvm_of(ref, cur) == pytest.approx(res.statistic, rel=1e-10)
    det = CvMWindow(reference_size=max(n, 10), window=m, stride=1)
    det.fit_reference(ref)
    assert det._p_value(det._statistic(cur)) == pytest.approx(res.pvalue, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_cvm_statistic_with_ties_equals_its_definition(seed):
    rng = np.random.default_rng(seed)
    ref, cur = rng.poisson(3, 500).astype(float), rng.poisson(3.4, 200).astype(float)
    assert cvm_of(ref, cur) == pytest.approx(brute_cvm(ref, cur), rel=1e-10)


def test_cvm_tail_is_continuous_and_critical_values_invert():
    assert cvm_limit_sf(4.999999) == pytest.approx(cvm_limit_sf(5.0), rel=1e-3)
    det = CvMWindow()
    det.fit_reference(np.random.default_rng(0).normal(size=10_000))
    for alpha in (1e-2, 1e-6, 1e-10, 1e-14):
        assert det._p_value(det._critical(alpha)) == pytest.approx(alpha, rel=1e-6)


def test_quality_p_values_are_fisher_and_beta_binomial():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=1_000)
    ref[:20] = np.nan
    cur = rng.normal(size=100) * 3
    cur[:9] = np.nan
    det = QualityNumeric(reference_size=1_000, window=100, stride=100, alpha_drift=1e-12, alpha_warning=None)
    det.fit_reference(ref)
    det.update(cur)
    stat, _ = det.last_statistic
    p_missing = fisher_exact([[9, 91], [20, 980]], alternative="greater").pvalue
    present = cur[~np.isnan(cur)]
    k_out = int(np.sum((present < np.nanmin(ref)) | (present > np.nanmax(ref))))
    p_out = betabinom.sf(k_out - 1, present.size, 2, 980 - 1)
    assert 10 ** -stat == pytest.approx(min(p_missing, p_out), rel=1e-9)


def test_every_kind_of_numeric_drift_is_caught():
    rng = np.random.default_rng(9)
    base = rng.normal(0, 1, 15_000)
    streams = {
        "mean shift": np.concatenate([base, rng.normal(0.3, 1, 5_000)]),
        "variance change": np.concatenate([base, rng.normal(0, 1.25, 5_000)]),
        "gradual drift": np.concatenate([base, rng.normal(np.linspace(0, 0.5, 5_000), 1)]),
    }
    for name, x in streams.items():
        found = [d.index for d in RankCUSUM().update(x) if d.severity == "drift"]
        assert len(found) == 1 and 15_000 <= found[0] < 17_500, (name, found)


def test_unseen_level_and_missing_rate():
    rng = np.random.default_rng(10)
    x = rng.choice(np.array(["a", "b", "c"], dtype=object), 20_000)
    x[15_000:][rng.random(5_000) < 0.01] = "new"
    det = QualityCategorical()
    [d] = [d for d in det.update(x) if d.severity == "drift"]
    assert 15_000 <= d.index < 16_500 and det.last_check == "unseen_level"


def test_pca_catches_a_correlation_flip_that_no_marginal_shows():
    rng = np.random.default_rng(11)
    a = rng.normal(size=20_000)
    b = np.where(np.arange(20_000) < 15_000, 0.7, -0.7) * a + np.sqrt(1 - 0.49) * rng.normal(size=20_000)
    rows = np.column_stack([a, b, rng.normal(size=(20_000, 5))])
    assert not [d for col in rows.T for d in KSWindow().update(col) if d.severity == "drift"]
    [d] = [d for d in PCAReconstruction().update(rows) if d.severity == "drift"]
    assert 15_000 <= d.index < 16_000


@pytest.mark.parametrize("alpha", [1e-2, 1e-3])
def test_cusum_false_alarm_rate_is_within_a_factor_3_of_its_budget(alpha):
    """Mean run length between false alarms against the promise, over many seeded streams."""
    alarms = monitored = 0
    for seed in range(4):
        x = np.random.default_rng(seed).standard_t(5, 400_000)  # heavy tails: ranks do not care
        det = RankCUSUM(reference_size=10_000, alpha_drift=alpha, alpha_warning=None)
        n = sum(d.severity == "drift" for d in det.update(x))
        alarms += n
        monitored += x.size - det.reference_size * (n + 1)
    expected = alpha / det.block * monitored
    assert expected / 3 <= alarms <= expected * 1.2


@pytest.mark.parametrize("method", sorted(m for m, cls in METHODS.items() if hasattr(cls, "fit_reference")))
def test_a_10000_event_reference_arms_the_detector_and_more_of_the_same_raises_no_drift(method):
    """(DDM, ADWIN and Page-Hinkley learn as they go: they have no reference.) How long the
    setup takes is measured by ``benchmarks/speed_benchmark.py``, not here."""
    rng = np.random.default_rng(0)
    det = make_detector(method)

    def draw(n: int) -> np.ndarray:
        if det.input_type == "categorical":
            return rng.choice(np.array(list("abcdefgh"), dtype=object), n)
        if getattr(det, "multivariate", False):
            return rng.normal(size=(n, 22))
        if det.input_type == "binary":
            return (rng.random(n) < 0.1).astype(float)
        return rng.normal(size=n)

    det.fit_reference(draw(10_000))
    assert not [d for d in det.update(draw(3_000)) if d.severity == "drift"]


def test_rebaseline_makes_the_window_the_reference():
    rng = np.random.default_rng(1)
    det = KSWindow(reference_size=1_000, window=500, stride=50, alpha_warning=None)
    det.update(rng.normal(0, 1, 1_600))
    det.rebaseline()
    assert det.update(rng.normal(0, 1, 500)) == []
    assert det.state_dict()["reference"] is not None and len(det.state_dict()["reference"]) == 500


def test_sliding_reference_is_the_values_just_before_the_window():
    from driftline.detectors.numeric.ks import ks_statistic

    x = np.random.default_rng(4).normal(size=2_000)
    det = KSWindow(reference_size=500, window=200, stride=100, alpha_warning=None, sliding=True)
    assert det.update(x) == []
    # the last test ran 1,500 values after the reference: window x[1800:], reference x[1300:1800]
    assert det.last_statistic[0] == ks_statistic(np.sort(x[1_300:1_800]), x[1_800:])
    assert det.state_dict()["history"] == x[1_300:1_800].tolist()
