"""Calibration (PAVA, Platt, ECE) and the CBPE / DLE metrics, against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from driftline.learners.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_state,
    calibrator_state,
    expected_calibration_error,
    fit_calibrator,
)
from driftline.learners.estimation import CBPE, DLE, classification_metrics, confusion_metrics, roc_auc


def brute_isotonic(y: np.ndarray) -> np.ndarray:
    """The least-squares non-decreasing fit by the min-max formula (Barlow et al., 1972)."""
    n = y.shape[0]
    c = np.concatenate([[0.0], np.cumsum(y)])
    return np.array([max(min((c[j + 1] - c[i]) / (j + 1 - i) for j in range(k, n)) for i in range(k + 1))
                     for k in range(n)])


@pytest.mark.parametrize("seed", range(5))
def test_isotonic_fit_is_the_least_squares_monotone_fit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(size=40))
    y = (rng.uniform(size=40) < x).astype(float)
    fitted = IsotonicCalibrator().fit(x, y).predict(x)
    assert np.allclose(fitted, brute_isotonic(y))
    assert np.all(np.diff(fitted) >= -1e-12)


def test_isotonic_pools_tied_scores_and_stays_flat_outside() -> None:
    cal = IsotonicCalibrator().fit(np.array([0.3, 0.3, 0.3, 0.7]), np.array([0, 1, 1, 0]))
    assert cal.predict(np.array([0.0, 0.3, 1.0])).tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_platt_recovers_a_logistic_distortion() -> None:
    rng = np.random.default_rng(1)
    s = rng.uniform(0.02, 0.98, 50_000)
    z = np.log(s / (1 - s))
    y = rng.uniform(size=s.shape) < 1 / (1 + np.exp(-(0.5 * z - 0.3)))
    cal = PlattCalibrator().fit(s, y)
    assert cal.a == pytest.approx(0.5, abs=0.03) and cal.b == pytest.approx(-0.3, abs=0.03)


def test_ece_is_zero_for_calibrated_bins_and_the_gap_otherwise() -> None:
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert expected_calibration_error(p, np.array([1, 0, 0, 0, 1, 1, 1, 0])) == 0.0
    assert expected_calibration_error(p, np.ones(8)) == pytest.approx(0.5)


def test_the_choice_goes_to_the_lower_held_out_ece() -> None:
    rng = np.random.default_rng(2)
    s = rng.uniform(size=20_000)
    step = rng.uniform(size=s.shape) < np.where(s < 0.5, 0.1, 0.9)  # a step: no logistic curve fits it
    cal, ece = fit_calibrator(s, step)
    assert cal.method == "isotonic" and ece["isotonic"] < ece["platt"]
    z = np.log(s / (1 - s))
    smooth = rng.uniform(size=s.shape) < 1 / (1 + np.exp(-2 * z))
    few = slice(0, 150)  # few labels, a smooth curve: Platt's two parameters beat isotonic's steps
    cal, ece = fit_calibrator(s[few], smooth[few])
    assert ece[cal.method] == min(ece.values())
    for c in (cal, IsotonicCalibrator().fit(s, step)):
        assert np.array_equal(calibrator_from_state(calibrator_state(c)).predict(s), c.predict(s))


def test_realised_metrics_are_the_confusion_matrix_counts() -> None:
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    m = confusion_metrics(np.eye(2)[y], pred)
    tp, fp, fn = ((pred == 1) & (y == 1)).sum(), ((pred == 1) & (y == 0)).sum(), ((pred == 0) & (y == 1)).sum()
    assert m["accuracy"] == pytest.approx((pred == y).mean())
    assert m["precision"] == pytest.approx(tp / (tp + fp)) and m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_roc_auc_is_the_mann_whitney_statistic() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 0.8, 1.0), 1)  # with ties
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert roc_auc(s, y.astype(float)) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))


def test_cbpe_expected_metrics_match_the_realised_on_calibrated_scores() -> None:
    rng = np.random.default_rng(5)
    s = rng.uniform(size=(40_000, 1))
    y = (rng.uniform(size=40_000) < s[:, 0] ** 2).astype(int)  # calibration has work to do
    pred = (s[:, 0] >= 0.6).astype(int)
    cbpe = CBPE.fit(("0", "1"), s[:20_000], y[:20_000])
    probs = cbpe.probabilities(s[20_000:])
    expected = classification_metrics(probs, pred[20_000:], s[20_000:])
    realised = classification_metrics(np.eye(2)[y[20_000:]], pred[20_000:], s[20_000:])
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert expected[name] == pytest.approx(realised[name], abs=0.015), name
    assert CBPE.from_state(cbpe.state_dict()).correct(s, pred).tolist() == cbpe.correct(s, pred).tolist()


def test_cbpe_multiclass_probabilities_sum_to_one_and_estimate_accuracy() -> None:
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 1.5, (30_000, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(30_000, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    pred = p.argmax(axis=1)
    cbpe = CBPE.fit(("a", "b", "c"), p[:15_000], y[:15_000])
    probs = cbpe.probabilities(p[15_000:])
    assert np.allclose(probs.sum(axis=1), 1.0)
    estimated = cbpe.correct(p[15_000:], pred[15_000:]).mean()
    assert estimated == pytest.approx((pred[15_000:] == y[15_000:]).mean(), abs=0.015)


def test_dle_learns_where_the_errors_are_large_and_round_trips() -> None:
    from river.tree import HoeffdingTreeRegressor

    rng = np.random.default_rng(7)
    dle = DLE(HoeffdingTreeRegressor)
    for _ in range(6000):
        x = float(rng.uniform(-2, 2))
        dle.learn({"x": x, "__prediction__": 0.0}, float(rng.normal(0, 0.2 if x < 0 else 1.0)))
    low, _ = dle.predict([{"x": -1.0, "__prediction__": 0.0}])
    high, _ = dle.predict([{"x": 1.0, "__prediction__": 0.0}])
    assert low[0] == pytest.approx(0.2 * 0.798, abs=0.08) and high[0] == pytest.approx(0.798, abs=0.15)
    again = DLE(HoeffdingTreeRegressor)
    again.load_state_dict(dle.state_dict())
    assert again.predict([{"x": 1.0, "__prediction__": 0.0}])[0].tolist() == high.tolist()
