"""The batch model: how it is trained (a configurable entry point), scored and stored.

A trainer is a Python entry point ``module:function`` called as ``function(X, y, **params)``
with ``X`` a pandas DataFrame of the stream's features (numbers as floats with NaN for missing,
categories as strings or None) and ``y`` a Series of labels; it returns a fitted model with
``predict(X)`` (and, for classifiers, optionally ``predict_proba(X)``). The built-in default,
:func:`train_river`, fits a River pipeline (standard-scaled numbers, one-hot categories,
logistic or linear regression) over a few seeded passes of the data.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd

from driftline.learners.online import EstimatorSpec, build_pipeline


class RiverBatchModel:
    """A River pipeline fitted in batch, with the scikit-learn-like ``predict`` API."""

    def __init__(self, pipeline: Any, target_type: str):
        self.pipeline = pipeline
        self.target_type = target_type

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([self.pipeline.predict_one(row) for row in rows(X)], dtype=object)

    def predict_proba(self, X: pd.DataFrame) -> list[dict[Any, float]]:
        return [self.pipeline.predict_proba_one(row) for row in rows(X)]


def rows(X: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature rows as River wants them: missing values left out."""
    out = []
    for record in X.to_dict(orient="records"):
        out.append({k: v for k, v in record.items() if v is not None and not (isinstance(v, float) and math.isnan(v))})
    return out


def train_river(X: pd.DataFrame, y: pd.Series, *, target_type: str = "binary", epochs: int = 3, seed: int = 0,
                model: str | None = None, **model_params: Any) -> RiverBatchModel:
    """The default trainer: ``epochs`` seeded shuffled passes of a River pipeline over the data."""
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    if model is None:
        model = "river.linear_model.LinearRegression" if target_type == "regression" else \
            "river.linear_model.LogisticRegression"
    if target_type == "multiclass" and model == "river.linear_model.LogisticRegression":
        model = "river.linear_model.SoftmaxRegression"
    pipeline = build_pipeline(EstimatorSpec(model, model_params or None),
                              [EstimatorSpec("river.preprocessing.StandardScaler")], numeric, categorical)
    data = list(zip(rows(X), y.tolist()))
    rng = random.Random(seed)
    for _ in range(max(1, epochs)):
        rng.shuffle(data)
        for x, label in data:
            pipeline.learn_one(x, label)
    return RiverBatchModel(pipeline, target_type)


def evaluate(model: Any, X: pd.DataFrame, y: pd.Series, target_type: str) -> dict[str, float]:
    """``accuracy`` (classification) or ``mae`` (regression), and ``score`` (higher is better)."""
    if len(X) == 0:
        return {"n": 0.0}
    predicted = np.asarray(model.predict(X))
    truth = y.to_numpy()
    if target_type == "regression":
        mae = float(np.mean(np.abs(predicted.astype(float) - truth.astype(float))))
        return {"mae": mae, "score": -mae, "n": float(len(X))}
    accuracy = float(np.mean([_same(p, t) for p, t in zip(predicted, truth)]))
    return {"accuracy": accuracy, "score": accuracy, "n": float(len(X))}


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
