"""The checks of ``stream.prediction.score``: the deployed model's score fields, for performance
estimation (:mod:`driftline.consumers.core.performance`)."""

from __future__ import annotations

from typing import Any


def score_problems(stream: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """A score matches its prediction's type, needs a label to be calibrated on, and names fields
    of its own (``stream``: a :class:`~driftline.consumers.config.model.StreamConfig`)."""
    pred = stream.prediction
    if pred is None or pred.score is None:
        return []
    where = ("stream", "prediction", "score")
    if pred.type == "regression":
        return [(where, ("a regression model has no score: its loss is estimated from the features and the "
                         "prediction (DLE); remove score"))]
    if pred.type == "binary" and not isinstance(pred.score, str):
        return [(where, "a binary prediction's score is one field, the probability of class 1 (score: proba)")]
    if pred.type == "multiclass" and not isinstance(pred.score, dict):
        return [(where, ("a multiclass prediction's score maps each class to its probability's field "
                         "(score: {A: p_a, B: p_b})"))]
    if pred.type == "multiclass" and len(pred.score) < 2:
        return [(where, "name the probability fields of at least two classes")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if stream.label is None:
        problems.append((where, "a score is calibrated on labelled reference events: declare stream.label too"))
    taken = {stream.id_field, stream.timestamp_field, "features", pred.field}
    if stream.label is not None:
        taken.add(stream.label.field)
    seen: set[str] = set()
    for name in pred.score_fields:
        if name in taken or name in seen:
            problems.append((where, f"score field {name!r} is already another field of the event"))
        seen.add(name)
    return problems
