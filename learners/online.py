"""Online River learners, evaluated test-then-train (prequential evaluation).

Every labelled event is first predicted, its error recorded, and only then (unless it is held
back, e.g. quarantined) learned from: the error stream is an honest estimate of the model's
performance on data it has not seen (Dawid, 1984; Gama, Sebastião & Rodrigues, 2013,
"On evaluating stream learning algorithms").
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from river import compose, preprocessing

from driftline.learners.errors import UnusableEvent
from driftline.learners.imports import import_attribute
from driftline.learners.minibatch import Columns, MiniBatchPlan

TargetType = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class EstimatorSpec:
    """A River estimator by dotted path (``river.linear_model.LogisticRegression``)."""

    path: str
    params: dict[str, Any] | None = None

    def build(self) -> Any:
        module_name, _, attr = self.path.rpartition(".")
        cls = import_attribute(module_name, attr)
        if cls is None:
            raise ValueError(f"{module_name!r} has no attribute {attr!r}")
        return cls(**(self.params or {}))


class SelectPresent(compose.Select):
    """``compose.Select`` that leaves out the selected features an event does not have.

    A missing value is an absent key (River's convention): the scaler and the one-hot encoder
    see only the features present, and a linear model gives an absent feature no weight.
    River's own ``Select`` raises ``KeyError`` on an absent key. The features come out in the
    order of their names, not in the order of ``keys`` (a set, whose order changes with the
    process's string hashing and when unpickled): the model's sums, and so what it learns, are
    the same to the last bit in any process, live and in backtest, before and after a restart.
    """

    def transform_one(self, x: dict[str, Any]) -> dict[str, Any]:
        order = self.__dict__.get("_order")  # pipelines pickled before the order was kept have none
        if order is None:
            order = self._order = tuple(sorted(self.keys))
        return {k: x[k] for k in order if k in x}


def tolerate_missing(pipeline: Any) -> Any:
    """Make every ``compose.Select`` of a pipeline a :class:`SelectPresent` (in place).

    For pipelines built before missing values were left out (checkpoints, registry artifacts).
    """
    if type(pipeline) is compose.Select:
        pipeline.__class__ = SelectPresent
    for child in (*getattr(pipeline, "steps", {}).values(), *getattr(pipeline, "transformers", {}).values()):
        tolerate_missing(child)
    return pipeline


def build_pipeline(
    model: EstimatorSpec,
    preprocessing_steps: Sequence[EstimatorSpec],
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> Any:
    """``(numeric | steps...) + (categorical | OneHotEncoder)`` then the model.

    Each branch selects only the features an event has (:class:`SelectPresent`): a missing
    value is left out, never a ``KeyError``.
    """
    branches = []
    if numeric:
        branch: Any = SelectPresent(*numeric)
        for step in preprocessing_steps:
            branch = branch | step.build()
        branches.append(branch)
    if categorical:
        branches.append(SelectPresent(*categorical) | preprocessing.OneHotEncoder())
    features = branches[0]
    for branch in branches[1:]:
        features = features + branch
    return features | model.build()


class PrequentialLearner:
    """A River model trained test-then-train, with a rolling metric over recent events.

    The error of an event is 0/1 (wrong class) for classification and the absolute error for
    regression. The rolling metric is accuracy (classification) or mean absolute error
    (regression) over the last ``metric_window`` labelled events.
    """

    def __init__(self, pipeline: Any, target_type: TargetType, metric_window: int = 1000):
        if metric_window < 1:
            raise ValueError("metric_window must be at least 1")
        self.pipeline = pipeline
        self.target_type = target_type
        self.metric_window = metric_window
        self._recent: deque[float] = deque(maxlen=metric_window)
        self.seen = 0
        self.trained = 0
        #: the prediction of the last event :meth:`step` scored
        self.last_prediction: Any = None

    def step(self, x: dict[str, Any], y: Any, train: bool = True) -> float:
        """Predict ``x``, score against ``y``, then learn from it if ``train``; the error.

        Raises :class:`~driftline.learners.errors.UnusableEvent` when the model cannot predict
        the event or learn from it; the event is then not counted (neither seen nor trained).
        """
        try:
            y_pred = self.last_prediction = self.pipeline.predict_one(x)
            if self.target_type == "regression":
                error = abs(float(y) - float(y_pred or 0.0))
                if not math.isfinite(error):
                    raise OverflowError(f"the prediction {y_pred!r:.40} gives the error {error}")
            else:
                error = float(_canonical(y_pred) != _canonical(y))
            if train:
                self._changed()
                self.pipeline.learn_one(x, y)
        except Exception as exc:  # a user's model: whatever it raises, this event is unusable
            raise UnusableEvent(f"the model cannot use this event ({type(exc).__name__}: {exc})") from exc
        self._recent.append(error)
        self.seen += 1
        if train:
            self.trained += 1
        return error

    def learn(self, x: dict[str, Any], y: Any) -> None:
        """Learn from one event without scoring it; :class:`UnusableEvent` when the model refuses it."""
        self._changed()
        try:
            self.pipeline.learn_one(x, y)
        except Exception as exc:  # a user's model: whatever it raises, this event is unusable
            raise UnusableEvent(f"the model cannot learn from this event ({type(exc).__name__}: {exc})") from exc
        self.trained += 1

    def plan(self) -> MiniBatchPlan | None:
        """How the current pipeline is scored and learned on columns; None: one event at a time."""
        cached = getattr(self, "_plan", None)
        if cached is None or cached[0] is not self.pipeline:
            cached = self._plan = (self.pipeline, MiniBatchPlan.of(self.pipeline, self.target_type))
        return cached[1]

    def _changed(self) -> None:
        """The pipeline is about to learn: a mini-batch plan reads its state again."""
        cached = getattr(self, "_plan", None)
        if cached is not None and cached[1] is not None:
            cached[1].changed()

    def score_many(self, cols: Columns, ys: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's 0/1 error and prediction by the model as it is (nothing learned), counted
        as :meth:`step` counts them. Needs :meth:`plan` (a binary target)."""
        plan = self.plan()
        assert plan is not None
        predictions = plan.predict(cols)
        if all(type(y) is int for y in ys):  # the usual binary labels: 0/1 as parsed
            errors = (predictions.astype(np.int64) != np.fromiter(ys, dtype=np.int64, count=len(ys)))
        else:
            truth = np.array([_canonical(y) for y in ys], dtype=object)
            errors = predictions.astype(np.int64).astype(object) != truth
        errors = errors.astype(np.float64)
        self._recent.extend(errors.tolist())
        self.seen += len(errors)
        return errors, predictions

    def learn_many(self, cols: Columns, ys: Sequence[Any]) -> None:
        """Learn from the rows in one mini-batch step (:meth:`MiniBatchPlan.learn`); raises
        :class:`UnusableEvent` when the model refuses the batch (the caller learns it one by one)."""
        plan = self.plan()
        assert plan is not None
        try:
            y = [_canonical(v) for v in ys]
            if not all(v in (0, 1) for v in y):
                raise ValueError("a binary target other than 0/1")
            plan.learn(cols, np.array(y, dtype=np.int64))
        except Exception as exc:  # a user's model: whatever it raises, the batch is learned one by one
            raise UnusableEvent(f"the model cannot learn from this mini-batch ({type(exc).__name__}: {exc})") from exc
        self.trained += cols.n

    def steps(self, rows: Sequence[dict[str, Any]], ys: Sequence[Any], train: Sequence[bool]) -> np.ndarray:
        return np.array([self.step(x, y, t) for x, y, t in zip(rows, ys, train)], dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        """Counters and the metric's window (the model itself is saved apart, see ``model_bytes``)."""
        return {"recent": list(self._recent), "seen": self.seen, "trained": self.trained}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._recent = deque(state["recent"], maxlen=self.metric_window)
        self.seen = state["seen"]
        self.trained = state["trained"]

    def model_bytes(self) -> bytes:
        """The fitted pipeline, pickled (River's own persistence format)."""
        return pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL)

    def load_model_bytes(self, blob: bytes) -> None:
        """Restore a pipeline written by :meth:`model_bytes`.

        Only call this on bytes from a store driftline wrote and verified (a checkpoint's
        digest, a registry artifact's hash): unpickling runs code.
        """
        self.pipeline = tolerate_missing(pickle.loads(blob))  # noqa: S301 - verified driftline-written bytes only

    @property
    def metric_name(self) -> str:
        return "mae" if self.target_type == "regression" else "accuracy"

    @property
    def metric(self) -> float | None:
        """Rolling accuracy or MAE over the last ``metric_window`` events (None before any)."""
        if not self._recent:
            return None
        mean = sum(self._recent) / len(self._recent)
        return mean if self.target_type == "regression" else 1.0 - mean


def _canonical(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
