"""Probability calibration: a map from a model's score to the probability that it is right.

Two calibrators, both fitted on labelled reference events and both pure NumPy/SciPy:

* :class:`IsotonicCalibrator`: the monotone step function closest to the labels in least
  squares, by the pool-adjacent-violators algorithm (Ayer et al., 1955; Zadrozny & Elkan,
  2002), interpolated linearly between its steps' ends as scikit-learn's is;
* :class:`PlattCalibrator`: a logistic curve on the score's log-odds, ``sigmoid(a logit(s) + b)``,
  fitted by maximum likelihood (Platt, 1999), smooth and right for few labels.

:func:`fit_calibrator` picks between them by expected calibration error (Naeini, Cooper &
Hauskrecht, 2015), cross-validated on the reference: isotonic regression is nearly perfectly
calibrated on its own training data, so only held-out folds tell the two apart.

References
----------
M. Ayer, H. D. Brunk, G. M. Ewing, W. T. Reid, E. Silverman (1955). An empirical distribution
function for sampling with incomplete information. Ann. Math. Statist. 26(4), 641-647.
J. Platt (1999). Probabilistic outputs for support vector machines and comparisons to
regularized likelihood methods. Advances in Large Margin Classifiers, 61-74.
B. Zadrozny, C. Elkan (2002). Transforming classifier scores into accurate multiclass
probability estimates. KDD, 694-699.
M. P. Naeini, G. F. Cooper, M. Hauskrecht (2015). Obtaining well calibrated probabilities
using Bayesian binning. AAAI, 2901-2907.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Method = Literal["isotonic", "platt"]
#: bins of the expected calibration error (equal width on [0, 1])
ECE_BINS = 10
#: folds of the cross-validated choice between the calibrators
FOLDS = 5
#: scores are clipped this far inside (0, 1) before their log-odds are taken
_EPS = 1e-6
#: Newton steps of the Platt fit (it converges in a handful)
_NEWTON_STEPS = 50


def expected_calibration_error(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = ECE_BINS) -> float:
    """``sum_b n_b / n * |mean(outcome) - mean(probability)|`` over equal-width bins of the
    probability (Naeini et al., 2015).

    >>> round(expected_calibration_error(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0, 1, 1, 1])), 3)
    0.25
    """
    p, y = np.asarray(probabilities, float), np.asarray(outcomes, float)
    if p.shape[0] == 0:
        return 0.0
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=y, minlength=bins) - np.bincount(which, weights=p, minlength=bins))
    return float(gap.sum() / n.sum())


@dataclass
class IsotonicCalibrator:
    """A non-decreasing map fitted by pool-adjacent-violators; flat beyond the fitted range.

    >>> cal = IsotonicCalibrator().fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    >>> cal.predict(np.array([0.1, 0.25, 0.4])).round(2).tolist()
    [0.0, 0.5, 1.0]
    """

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    method: Method = "isotonic"

    def fit(self, scores: np.ndarray, outcomes: np.ndarray) -> IsotonicCalibrator:
        s, o = np.asarray(scores, float), np.asarray(outcomes, float)
        levels, inverse = np.unique(s, return_inverse=True)  # ties are one point, weighted
        weight = np.bincount(inverse).astype(float)
        mean = np.bincount(inverse, weights=o) / weight
        blocks = _pava(mean, weight)
        xs, ys = [], []
        for start, stop, value in blocks:  # each step's two ends, as scikit-learn interpolates
            xs += [levels[start], levels[stop - 1]]
            ys += [value, value]
        self.x, self.y = [float(v) for v in xs], [float(v) for v in ys]
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        if not self.x:
            return np.full(np.shape(scores), np.nan)
        return np.interp(np.asarray(scores, float), self.x, self.y)


def _pava(mean: np.ndarray, weight: np.ndarray) -> list[tuple[int, int, float]]:
    """Blocks ``(start, stop, value)`` of the weighted least-squares non-decreasing fit."""
    starts: list[int] = []
    values: list[float] = []
    weights: list[float] = []
    for i, (m, w) in enumerate(zip(mean.tolist(), weight.tolist())):
        starts.append(i)
        values.append(m)
        weights.append(w)
        while len(values) > 1 and values[-2] >= values[-1]:  # pool the violating pair
            w2, v2 = weights.pop(), values.pop()
            starts.pop()
            total = weights[-1] + w2
            values[-1] = (values[-1] * weights[-1] + v2 * w2) / total
            weights[-1] = total
    stops = starts[1:] + [mean.shape[0]]
    return list(zip(starts, stops, values))


@dataclass
class PlattCalibrator:
    """``sigmoid(a * logit(score) + b)`` by maximum likelihood (Newton's method).

    >>> rng = np.random.default_rng(3)
    >>> s = rng.uniform(0.01, 0.99, 20_000)
    >>> y = rng.uniform(size=s.shape) < s            # already calibrated: a = 1, b = 0
    >>> cal = PlattCalibrator().fit(s, y)
    >>> round(cal.a, 1), abs(round(cal.b, 1))
    (1.0, 0.0)
    """

    a: float = 1.0
    b: float = 0.0
    method: Method = "platt"

    def fit(self, scores: np.ndarray, outcomes: np.ndarray) -> PlattCalibrator:
        x, y = _logit(scores), np.asarray(outcomes, float)
        design = np.stack([x, np.ones_like(x)], axis=1)
        theta = np.array([1.0, 0.0])
        for _ in range(_NEWTON_STEPS):
            p = _sigmoid(design @ theta)
            grad = design.T @ (p - y)
            hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            theta -= step
            if np.abs(step).max() < 1e-10:
                break
        self.a, self.b = float(theta[0]), float(theta[1])
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return _sigmoid(self.a * _logit(scores) + self.b)


Calibrator = IsotonicCalibrator | PlattCalibrator
_METHODS: dict[str, type[IsotonicCalibrator | PlattCalibrator]] = {
    "isotonic": IsotonicCalibrator, "platt": PlattCalibrator}


def fit_calibrator(scores: np.ndarray, outcomes: np.ndarray, method: str = "auto") -> tuple[Calibrator, dict[str, float]]:
    """The calibrator of ``method`` fitted on all events, and each candidate's cross-validated
    expected calibration error (``auto``: the candidate of the lower one; ties go to isotonic).

    Folds interleave the events (event ``i`` is in fold ``i mod FOLDS``), so a slow change over
    the reference is in every fold alike.

    >>> rng = np.random.default_rng(5)
    >>> s = rng.uniform(size=5000)
    >>> y = rng.uniform(size=s.shape) < s ** 2         # over-confident scores: a convex map
    >>> cal, ece = fit_calibrator(s, y)
    >>> cal.method, sorted(ece)
    ('isotonic', ['isotonic', 'platt'])
    """
    s, y = np.asarray(scores, float), np.asarray(outcomes, float)
    candidates = ("isotonic", "platt") if method == "auto" else (method,)
    errors = {m: cross_validated_ece(m, s, y) for m in candidates}
    chosen = min(candidates, key=lambda m: (errors[m], candidates.index(m)))
    return _METHODS[chosen]().fit(s, y), errors


def cross_validated_ece(method: str, scores: np.ndarray, outcomes: np.ndarray, folds: int = FOLDS) -> float:
    """The expected calibration error of ``method``'s predictions on held-out folds."""
    held = np.empty(scores.shape[0])
    fold = np.arange(scores.shape[0]) % folds
    for k in range(folds):
        test = fold == k
        if not test.any() or test.all():
            continue
        held[test] = _METHODS[method]().fit(scores[~test], outcomes[~test]).predict(scores[test])
    return expected_calibration_error(held, outcomes)


def calibrator_state(cal: Calibrator) -> dict[str, Any]:
    if isinstance(cal, IsotonicCalibrator):
        return {"method": "isotonic", "x": cal.x, "y": cal.y}
    return {"method": "platt", "a": cal.a, "b": cal.b}


def calibrator_from_state(state: dict[str, Any]) -> Calibrator:
    if state["method"] == "isotonic":
        return IsotonicCalibrator(list(state["x"]), list(state["y"]))
    return PlattCalibrator(float(state["a"]), float(state["b"]))


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|
