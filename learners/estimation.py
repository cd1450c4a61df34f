"""Label-free performance estimation: CBPE for classifiers, DLE for regressors.

**CBPE** (confidence-based performance estimation; NannyML, 2022): calibrated on labelled
reference events, the deployed model's scores give each event's class probabilities
``P(y = c | score)``, hence its probability of being right, ``P(y = prediction | score)``.
Summed over a window they give the *expected* confusion matrix, and from it the expected
accuracy, precision, recall, F1 and ROC AUC, without a single label. Two assumptions carry it:
the calibration learnt on the reference still holds (``P(y | score)`` has not changed: no
concept drift), and the scores of the window are within the range the reference covered.

**DLE** (direct loss estimation; NannyML, 2023): an online regressor learns the deployed
model's absolute error (and, for RMSE, its squared error) from the features and the
prediction, on labelled events as they come; its predictions on unlabelled events estimate
the window's MAE and RMSE. It assumes the same: the error's dependence on the inputs stays
as it was learnt.

The same metric functions compute the realised metrics: a realised window is an expected one
whose class probabilities are the labels' one-hot rows.

References
----------
NannyML (2022). Confidence-based performance estimation.
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
T. Fawcett (2006). An introduction to ROC analysis. Pattern Recognition Letters 27, 861-874.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.learners.calibration import Calibrator, calibrator_from_state, calibrator_state, fit_calibrator

#: the metrics a classification window reports
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("mae", "rmse")


def confusion_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 from a (soft) confusion matrix.

    ``truth`` is ``(n, C)``: each event's probability of being of each class (one-hot rows for
    labels, calibrated probabilities for an estimate); ``predicted`` the predicted class index
    per event. Binary (``C == 2``): precision, recall and F1 of class 1; multiclass: their
    macro averages over the classes.

    >>> truth = np.array([[0.0, 1.0], [0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    >>> m = confusion_metrics(truth, np.array([1, 1, 0, 0]))
    >>> round(m["accuracy"], 3), round(m["precision"], 3), round(m["recall"], 3)
    (0.8, 0.9, 0.75)
    """
    n, classes = truth.shape
    if n == 0:
        return {k: float("nan") for k in ("accuracy", "precision", "recall", "f1")}
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), predicted] = 1.0
    matrix = onehot.T @ truth  # [predicted class, true class]: expected counts
    tp = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / matrix.sum(axis=1)
        recall = tp / matrix.sum(axis=0)
        f1 = 2 * precision * recall / (precision + recall)
    if classes == 2:
        p, r, f = precision[1], recall[1], f1[1]
    else:
        p, r, f = np.nanmean(precision), np.nanmean(recall), np.nanmean(f1)
    return {"accuracy": float(tp.sum() / n), "precision": float(p), "recall": float(r), "f1": float(f)}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for (soft) positives ``positive`` in [0, 1].

    With 0/1 positives it is the realised AUC; with calibrated probabilities, the expected true
    and false positives at each threshold give CBPE's expected AUC. Tied scores are one
    threshold (the trapezoid through them).

    >>> roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    """
    order = np.argsort(-scores, kind="stable")
    s, w = scores[order], positive[order]
    distinct = np.flatnonzero(np.diff(s) != 0)
    ends = np.concatenate([distinct, [s.shape[0] - 1]]) if s.shape[0] else distinct
    tp, fp = np.cumsum(w)[ends], np.cumsum(1 - w)[ends]
    if not tp.shape[0] or tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    tpr, fpr = np.concatenate([[0.0], tp / tp[-1]]), np.concatenate([[0.0], fp / fp[-1]])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """:func:`confusion_metrics` and ROC AUC (binary: of class 1's score; multiclass: the
    macro average of one-vs-rest AUCs of each class's score)."""
    out = confusion_metrics(truth, predicted)
    if truth.shape[1] == 2:
        out["roc_auc"] = roc_auc(scores[:, -1], truth[:, 1])
    else:
        out["roc_auc"] = float(np.nanmean([roc_auc(scores[:, k], truth[:, k]) for k in range(truth.shape[1])]))
    return out


@dataclass
class CBPE:
    """Calibrated class probabilities from the deployed model's scores.

    ``classes`` are the class names (binary: ``("0", "1")``, the one score being class 1's
    probability; multiclass: one score per class, in order). One calibrator per score
    (one-vs-rest), chosen together by their mean cross-validated ECE, and rows normalised
    to sum to 1 (multiclass).

    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=(4000, 1))
    >>> y = (rng.uniform(size=4000) < s[:, 0]).astype(int)  # calibrated already
    >>> cbpe = CBPE.fit(("0", "1"), s, y, method="platt")
    >>> pred = (s[:, 0] >= 0.5).astype(int)
    >>> round(float(cbpe.correct(s, pred).mean()), 2), round(float((pred == y).mean()), 2)
    (0.75, 0.75)
    """

    classes: tuple[str, ...]
    calibrators: list[Calibrator]
    ece: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, classes: tuple[str, ...], scores: np.ndarray, labels: np.ndarray, method: str = "auto") -> CBPE:
        """Fit on labelled events: ``scores`` ``(n, k)``, ``labels`` class indices."""
        columns = range(scores.shape[1])
        offset = len(classes) - scores.shape[1]  # binary: the one score is the last class's
        if method == "auto":  # one method for every class: the lower mean held-out ECE
            errors: dict[str, list[float]] = {"isotonic": [], "platt": []}
            for j in columns:
                _, ece = fit_calibrator(scores[:, j], labels == j + offset)
                for m, e in ece.items():
                    errors[m].append(e)
            method = min(errors, key=lambda m: (float(np.mean(errors[m])), m != "isotonic"))
        fitted = [fit_calibrator(scores[:, j], labels == j + offset, method) for j in columns]
        ece = {m: float(np.mean([f[1][m] for f in fitted])) for m in fitted[0][1]}
        return cls(tuple(classes), [f[0] for f in fitted], ece)

    @property
    def method(self) -> str:
        return self.calibrators[0].method

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """``(n, C)`` calibrated class probabilities (NaN rows where a score is missing)."""
        p = np.stack([c.predict(scores[:, j]) for j, c in enumerate(self.calibrators)], axis=1)
        if len(self.classes) == 2 and p.shape[1] == 1:
            return np.concatenate([1 - p, p], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = p.sum(axis=1, keepdims=True)
            return np.where(total > 0, p / total, 1.0 / p.shape[1])

    def correct(self, scores: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Each event's probability of being right, ``P(y = predicted | score)`` (NaN where the
        score or the prediction (index -1) is missing)."""
        p = self.probabilities(scores)
        ok = predicted >= 0
        out = np.full(predicted.shape[0], np.nan)
        out[ok] = p[np.flatnonzero(ok), predicted[ok]]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "calibrators": [calibrator_state(c) for c in self.calibrators],
                "ece": self.ece}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CBPE:
        return cls(tuple(state["classes"]), [calibrator_from_state(s) for s in state["calibrators"]],
                   dict(state["ece"]))


class DLE:
    """Direct loss estimation: online regressors of the absolute and the squared error.

    ``model`` is a factory of River regressors (``learn_one``/``predict_one`` on dicts); one
    learns ``|y - prediction|`` (MAE), one ``(y - prediction)^2`` (RMSE), from the event's
    features and the prediction (key ``__prediction__``).
    """

    def __init__(self, model: Any):
        self.abs_model = model()
        self.sq_model = model()
        self.learned = 0

    def predict(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Estimated absolute and squared errors (at least 0)."""
        a = np.array([self.abs_model.predict_one(r) for r in rows], dtype=float)
        q = np.array([self.sq_model.predict_one(r) for r in rows], dtype=float)
        return np.maximum(a, 0.0), np.maximum(q, 0.0)

    def learn(self, row: dict[str, Any], error: float) -> None:
        self.abs_model.learn_one(row, abs(error))
        self.sq_model.learn_one(row, error * error)
        self.learned += 1

    def state_dict(self) -> dict[str, Any]:
        """The regressors pickled (River's own persistence format), as base64 text."""
        blob = pickle.dumps((self.abs_model, self.sq_model, self.learned), protocol=pickle.HIGHEST_PROTOCOL)
        return {"models": base64.b64encode(blob).decode()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # driftline's own checkpoint (digest-checked before it is loaded), never foreign bytes
        self.abs_model, self.sq_model, self.learned = pickle.loads(base64.b64decode(state["models"]))


def regression_metrics(abs_errors: np.ndarray, sq_errors: np.ndarray) -> dict[str, float]:
    """MAE and RMSE from per-event absolute and squared errors (estimated or realised)."""
    if abs_errors.shape[0] == 0:
        return {"mae": float("nan"), "rmse": float("nan")}
    return {"mae": float(abs_errors.mean()), "rmse": float(np.sqrt(sq_errors.mean()))}
