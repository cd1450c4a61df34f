"""Seeded synthetic streams for label-free performance estimation (benchmark and tests).

Classification: ``x1`` is a mixture of two clusters at ``-d`` and ``+d`` (weights ``w``,
``1 - w``), ``x2`` noise; the true class is 1 with probability ``sigmoid(K x1)`` (after a
concept drift: ``sigmoid(K (x1 - CONCEPT_SHIFT))``); the deployed model scores
``sigmoid(1.6 K x1)`` (over-confident, so calibration has work to do) and predicts
``score >= 0.5``. Streams:

* ``covariate``: the clusters move toward the boundary and tighten at ``shift_at`` (accuracy
  ~0.90 -> ~0.75);
* ``covariate_neutral``: the cluster weights change and ``x2`` shifts (the inputs and the
  predictions drift, accuracy does not move);
* ``concept``: the inputs stay, the boundary moves (CBPE cannot see it);
* ``none``: no change.

Regression (``regression``): ``y = 2 x1 + x2 + e`` with ``sd(e) = 0.2 + 0.8 sigmoid(2 x1)``,
the deployed model predicts ``2 x1 + x2``; at ``shift_at`` ``x1``'s mean moves from -1 to
+0.5, into the region of larger errors (MAE up by about 90%).

Only the first ``labelled`` events carry their label (the labelled reference); ``truth``
returns every event's true label for the realised metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

K = 2.2
OVERCONFIDENCE = 1.6
#: cluster distance from the boundary and spread, before and after the covariate shift
D_BEFORE, D_AFTER = 1.35, 0.4
SD_BEFORE, SD_AFTER = 0.8, 0.65
CONCEPT_SHIFT = 1.2
START_TS = 1767225600000


@dataclass
class Stream:
    raws: list[bytes]
    truth: np.ndarray
    prediction: np.ndarray
    shift_at: int | None
    kind: str


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def classification(kind: str, n: int = 30_000, shift_at: int = 15_000, labelled: int = 10_000,
                   seed: int = 0) -> Stream:
    rng = np.random.default_rng(seed)
    after = np.arange(n) >= shift_at if kind != "none" else np.zeros(n, bool)
    d = np.where(after & (kind == "covariate"), D_AFTER, D_BEFORE)
    w = np.where(after & (kind == "covariate_neutral"), 0.8, 0.5)
    side = np.where(rng.uniform(size=n) < w, -1.0, 1.0)
    sd = np.where(after & (kind == "covariate"), SD_AFTER, SD_BEFORE)
    x1 = side * d + rng.normal(0, 1, n) * sd
    x2 = rng.normal(0, 1, n) + np.where(after & (kind == "covariate_neutral"), 1.5, 0.0)
    boundary = np.where(after & (kind == "concept"), CONCEPT_SHIFT, 0.0)
    y = (rng.uniform(size=n) < _sigmoid(K * (x1 - boundary))).astype(int)
    score = _sigmoid(OVERCONFIDENCE * K * x1)
    pred = (score >= 0.5).astype(int)
    raws = []
    for i in range(n):
        event = {"id": f"e{i}", "ts": START_TS + i * 1000, "features": {"x1": float(x1[i]), "x2": float(x2[i])},
                 "prediction": int(pred[i]), "proba": float(score[i])}
        if i < labelled:
            event["label"] = int(y[i])
        raws.append(orjson.dumps(event))
    return Stream(raws, y, pred, shift_at if kind != "none" else None, kind)


def regression(n: int = 30_000, shift_at: int | None = 15_000, labelled: int = 10_000, seed: int = 0) -> Stream:
    rng = np.random.default_rng(seed)
    after = np.arange(n) >= shift_at if shift_at is not None else np.zeros(n, bool)
    x1 = rng.normal(np.where(after, 0.5, -1.0), 1.0)
    x2 = rng.normal(0, 1, n)
    pred = 2 * x1 + x2
    y = pred + rng.normal(0, 1, n) * (0.2 + 0.8 * _sigmoid(2 * x1))
    raws = []
    for i in range(n):
        event = {"id": f"r{i}", "ts": START_TS + i * 1000, "features": {"x1": float(x1[i]), "x2": float(x2[i])},
                 "prediction": float(pred[i])}
        if i < labelled:
            event["label"] = float(y[i])
        raws.append(orjson.dumps(event))
    return Stream(raws, y, pred, shift_at, "regression")


def config_text(task: str = "binary", name: str = "perf", first_n: int = 10_000, drift: str = "1 per 1000000 events",
                extra: str = "") -> str:
    """A configuration for these streams (``task``: ``binary`` or ``regression``)."""
    score = ", score: proba" if task == "binary" else ""
    return f"""
kafka: {{bootstrap_servers: embedded}}
stream:
  name: {name}
  features: {{x1: numeric, x2: numeric}}
  label: {{field: label, type: {task}}}
  prediction: {{field: prediction, type: {task}{score}}}
reference: {{first_n: {first_n}}}
false_alarms: {{drift: {drift}, warning: null}}
learner: {{enabled: false}}
{extra}
"""
