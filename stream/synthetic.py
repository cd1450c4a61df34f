"""A seeded synthetic event stream with drifts injected at known points (demo and tests).

Features: ``income`` (log-normal), ``age``, ``score`` (numbers), ``country`` and ``device``
(categories). The label follows a logistic rule of income and score; ``prediction`` is a fixed
model's output for the rule as it was at the start. Drifts are applied from their event index
on; each is described by a :class:`Drift` so that a report can say whether it was caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES = {"income": "numeric", "age": "numeric", "score": "numeric", "country": "categorical", "device": "categorical"}
COUNTRIES = ["DE", "FR", "ES", "IT"]
DEVICES = ["ios", "android", "web"]


@dataclass(frozen=True)
class Drift:
    name: str
    kind: str
    feature: str | None
    at: int
    what: str


def default_drifts(n: int) -> list[Drift]:
    return [
        Drift("income mean shift", "data_drift", "income", n // 4, "income scaled by 1.5"),
        Drift("country mix shift", "data_drift", "country", n // 2, "DE 40%->10%, new level PL 25%"),
        Drift("concept drift", "concept_drift", None, 3 * n // 4, "score's effect on the label reversed"),
    ]


def generate(n: int, drifts: list[Drift], seed: int = 7, start_ts: int = 1767225600000) -> Iterator[dict[str, Any]]:
    """``n`` events as dicts in the contract's format (id, ts, features, prediction, label)."""
    rng = np.random.default_rng(seed)
    at = {d.name: d.at for d in drifts}
    income = rng.lognormal(8.5, 0.4, n)
    age = np.clip(rng.normal(40, 12, n), 18, 90).round()
    score = rng.normal(0, 1, n)
    idx = np.arange(n)
    if "income mean shift" in at:
        income = np.where(idx >= at["income mean shift"], income * 1.5, income)
    p_before = np.array([0.4, 0.3, 0.2, 0.1])
    p_after = np.array([0.1, 0.3, 0.2, 0.15, 0.25])
    levels_after = [*COUNTRIES, "PL"]
    country_before = rng.choice(len(COUNTRIES), n, p=p_before)
    country_after = rng.choice(len(levels_after), n, p=p_after)
    shift_at = at.get("country mix shift", n)
    device = rng.choice(len(DEVICES), n, p=[0.45, 0.35, 0.2])
    z_income = (np.log(income) - 8.5) / 0.4
    sign = np.where(idx >= at.get("concept drift", n), -1.0, 1.0)
    logit = 0.8 * z_income + 2.5 * sign * score
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    prediction = ((0.8 * z_income + 2.5 * score) > 0).astype(int)
    for i in range(n):
        country = levels_after[country_after[i]] if i >= shift_at else COUNTRIES[country_before[i]]
        yield {
            "id": f"evt-{i}",
            "ts": start_ts + i * 10,
            "features": {
                "income": round(float(income[i]), 2),
                "age": float(age[i]),
                "score": round(float(score[i]), 4),
                "country": country,
                "device": DEVICES[device[i]],
            },
            "prediction": int(prediction[i]),
            "label": int(label[i]),
        }


def late_labels(events: list[dict[str, Any]], fraction: float, max_delay_ms: int, seed: int = 7) -> list[dict[str, Any]]:
    """Take the label off ``fraction`` of ``events`` (in place) and return them as label
    messages ``{"id", "label", "ts"}``, each known 0 to ``max_delay_ms`` after its event, in
    the order they became known (out of the events' order): a ``labels`` topic."""
    rng = np.random.default_rng(seed)
    labels = []
    for e in events:
        if rng.random() < fraction:
            labels.append({"id": e["id"], "label": e.pop("label"), "ts": e["ts"] + int(rng.integers(0, max_delay_ms))})
    labels.sort(key=lambda lab: lab["ts"])
    return labels
