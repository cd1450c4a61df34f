"""Seeded synthetic streams for segments, attribution and fairness (benchmark and tests).

Every event has a ``country`` (``c00`` .. ``c<k-1>``, with ``DE`` holding ``share`` of the
traffic), a ``gender`` (F or M, half each), and four numeric features ``x0`` .. ``x3``,
standard normal. The label is ``1[x0 + 0.5 x1 + e > 0]`` (``e`` normal, sd 0.3), then flipped
with a probability that depends on the stream (the learner's errors rise with it):

* ``confined``: after ``shift_at``, the labels of ``DE`` flip with probability ``FLIP_CONFINED``
  (a change of concept in 10% of the traffic; the rest unchanged);
* ``covariate``: the labels flip with probability ``0.05 + 0.45 sigmoid(3 (x2 - 1.5))`` all
  along (the concept never changes); after ``shift_at``, ``x2``'s mean moves to ``+1.5`` (into
  the noisy region: accuracy falls) and ``x3``'s to ``+1.5`` (a decoy: its shift costs nothing);
* ``fairness``: after ``shift_at``, the labels of ``gender: F`` flip with probability
  ``FLIP_FAIRNESS`` (accuracy falls for one group);
* ``segment_shift``: after ``shift_at``, ``x0``'s mean moves by 1 in ``DE`` alone;
* ``boundary``: after ``shift_at``, ``x0`` shrinks to a fifth in ``DE`` alone (toward the
  decision boundary: the deployed model's accuracy falls there, its expected accuracy too);
* ``none``: no change.

With ``scored``, a deployed model's score of class 1 (``proba``, ``sigmoid(3 (x0 + 0.5 x1))``)
and its prediction come with every event.

Labels are inline; events are a second apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

START_TS = 1767225600000
FLIP_CONFINED = 0.25
FLIP_FAIRNESS = 0.25
#: the feature whose shift causes the accuracy drop in ``covariate``, and the decoy
CAUSE, DECOY = "x2", "x3"


@dataclass
class Stream:
    raws: list[bytes]
    shift_at: int | None
    kind: str


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def make(kind: str, n: int = 40_000, shift_at: int = 25_000, countries: int = 10, share: float = 0.1,
         seed: int = 0, scored: bool = False) -> Stream:
    rng = np.random.default_rng(seed)
    after = (np.arange(n) >= shift_at) if kind != "none" else np.zeros(n, bool)
    others = [f"c{i:02d}" for i in range(countries - 1)]
    country = np.where(rng.uniform(size=n) < share, "DE", rng.choice(others, size=n))
    gender = np.where(rng.uniform(size=n) < 0.5, "F", "M")
    x = rng.normal(size=(4, n))
    if kind == "covariate":
        x[2] += np.where(after, 1.5, 0.0)
        x[3] += np.where(after, 1.5, 0.0)
    elif kind == "segment_shift":  # x0 moves in DE alone (the label follows it: no concept change)
        x[0] += np.where(after & (country == "DE"), 1.0, 0.0)
    elif kind == "boundary":  # x0 gathers near the boundary in DE alone: accuracy falls there
        x[0] = np.where(after & (country == "DE"), 0.2 * x[0], x[0])
    y = (x[0] + 0.5 * x[1] + rng.normal(0, 0.3, n) > 0).astype(int)
    flip = np.zeros(n)
    if kind == "covariate":
        flip = 0.05 + 0.45 * _sigmoid(3 * (x[2] - 1.5))
    elif kind == "confined":
        flip = np.where(after & (country == "DE"), FLIP_CONFINED, 0.0)
    elif kind == "fairness":
        flip = np.where(after & (gender == "F"), FLIP_FAIRNESS, 0.0)
    y = np.where(rng.uniform(size=n) < flip, 1 - y, y)
    raws = []
    for i in range(n):
        event = {"id": f"s{seed}-{i}", "ts": START_TS + i * 1000, "label": int(y[i]),
                 "features": {"country": str(country[i]), "gender": str(gender[i]),
                              **{f"x{k}": float(x[k, i]) for k in range(4)}}}
        if scored:  # a deployed model's score of class 1, and its prediction
            proba = float(_sigmoid(np.array(3.0 * (x[0, i] + 0.5 * x[1, i]))))
            event["proba"], event["prediction"] = proba, int(proba >= 0.5)
        raws.append(orjson.dumps(event))
    return Stream(raws, shift_at if kind != "none" else None, kind)


def config_text(name: str = "seg", first_n: int = 10_000, drift: str = "1 per 1000000 events",
                segments: str = "{by: [country]}", fairness: str = "", detectors: str = "auto",
                warning: str = "null", scored: bool = False, learner: str = "") -> str:
    """A configuration for these streams: the online learner on, segments by country."""
    fair = f"fairness: {fairness}" if fairness else ""
    prediction = "  prediction: {field: prediction, type: binary, score: proba}" if scored else ""
    learner = f", {learner.strip('{}')}" if learner else ""
    return f"""
kafka: {{bootstrap_servers: embedded}}
stream:
  name: {name}
  features: {{country: categorical, gender: categorical, x0: numeric, x1: numeric, x2: numeric, x3: numeric}}
  label: {{field: label, type: binary}}
{prediction}
reference: {{first_n: {first_n}}}
detectors: {detectors}
false_alarms: {{drift: {drift}, warning: {warning}}}
learner: {{model: river.linear_model.LogisticRegression, preprocessing: [river.preprocessing.StandardScaler]{learner}}}
segments: {segments}
{fair}
"""
