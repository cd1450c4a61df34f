"""``segments:`` and ``fairness:``: the slices of the traffic the learner's errors are judged in,
and the group gap it watches (:mod:`driftline.consumers.core.segments`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from driftline.consumers.config.base import Model

Problems = list[tuple[tuple[str | int, ...], str]]


class SegmentFilter(Model):
    """A named slice: the events whose features match every condition of ``where``.

    A condition is a value (``country: DE``), a list of values (``country: [DE, AT]``) or, for
    a numeric feature, a range ``{min: 18, max: 30}`` (min included, max excluded).
    """

    name: str = Field(min_length=1)
    where: dict[str, Any] = Field(min_length=1)


class SegmentsConfig(Model):
    """Per segment: the learner's error rate and its detector, its metric over time; at a
    stream-level concept alert, the segments and features ranked (``details``)."""

    #: categorical features to slice by: each one's levels are the segments of one slicing
    by: list[str] = Field(default_factory=list)
    #: named slices, each a segment of its own
    filters: list[SegmentFilter] = Field(default_factory=list)
    #: a segment's errors before it is judged: its detector's reference (the thresholds that keep
    #: the budget grow fast on shorter ones: the reference's rate is less certain)
    min_events: int = Field(default=2000, ge=500)
    #: the largest levels of a slicing (by events in the stream's reference) tracked; the rest
    #: pooled as the segment ``(other)``
    max_segments: int = Field(default=20, ge=1)
    #: recent learned events kept for the rankings at an alert
    window: int = Field(default=2000, ge=50)
    #: quantile bins of a numeric feature in the feature ranking
    bins: int = Field(default=10, ge=2, le=100)
    #: a segment's metric is recorded every so many of its events (the report's series)
    every: int = Field(default=500, ge=10)
    #: features whose drift detectors (those ``detectors`` plans for them) also run per segment
    #: of ``by``, on the judge
    features: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``segments: [country, device]`` is ``segments: {by: [country, device]}``."""
        if isinstance(value, list):
            return {"by": value}
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.by or self.filters)


class FairnessConfig(Model):
    """The gap of ``metric`` between the groups of ``attribute`` (a categorical feature), per
    window of ``window`` learned events, against the gap of the stream's reference."""

    attribute: str
    metric: Literal["positive_rate", "accuracy", "tpr"] = "accuracy"
    window: int = Field(default=2000, ge=50)
    #: a group's events in a window (tpr: its positives) before it is compared
    min_group: int = Field(default=50, ge=5)


def segment_problems(cfg: Any) -> Problems:
    """Segments and fairness name declared features of the right type (``cfg``: a
    :class:`~driftline.consumers.config.model.DriftlineConfig`)."""
    types = cfg.stream.feature_types()
    problems: Problems = []
    seg: SegmentsConfig = cfg.segments
    for i, name in enumerate(seg.by):
        if name not in types:
            problems.append((("segments", "by", i), f"{name!r} is not a declared feature"))
        elif types[name] != "categorical":
            problems.append((("segments", "by", i), (f"{name!r} is {types[name]}: slice by a categorical "
                                                    "feature, or name a range in segments.filters")))
    for i, name in enumerate(seg.features):
        if name not in types:
            problems.append((("segments", "features", i), f"{name!r} is not a declared feature"))
    if seg.features and not seg.by:
        problems.append((("segments", "features"), ("per-segment drift detectors run on the segments of by: "
                                                   "name a feature to slice by")))
    names: set[str] = set()
    for i, flt in enumerate(seg.filters):
        if flt.name in names:
            problems.append((("segments", "filters", i, "name"), f"filter name {flt.name!r} is used twice"))
        names.add(flt.name)
        for feature, cond in flt.where.items():
            where = ("segments", "filters", i, "where", feature)
            if feature not in types:
                problems.append((where, f"{feature!r} is not a declared feature"))
            elif isinstance(cond, dict) and (types[feature] != "numeric" or not set(cond) <= {"min", "max"}
                                             or not cond):
                problems.append((where, "a range is {min: a, max: b} on a numeric feature"))
    if seg.enabled and (cfg.stream.label is None or not cfg.learner.enabled):
        problems.append((("segments",), ("segments judge the learner's errors: declare stream.label "
                                        "and keep learner.enabled")))
    fair: FairnessConfig | None = cfg.fairness
    if fair is not None:
        where = ("fairness", "attribute")
        if fair.attribute not in types:
            problems.append((where, f"{fair.attribute!r} is not a declared feature"))
        elif types[fair.attribute] != "categorical":
            problems.append((where, (f"{fair.attribute!r} is {types[fair.attribute]}: groups are the levels "
                                    "of a categorical feature")))
        label = cfg.stream.label
        if label is None or not cfg.learner.enabled:
            problems.append((("fairness",), ("fairness judges the learner: declare stream.label and keep "
                                            "learner.enabled")))
        elif fair.metric != "accuracy" and label.type != "binary":
            problems.append((("fairness", "metric"), (f"{fair.metric} needs a binary label "
                                                     f"(this one is {label.type}); use accuracy")))
        elif label.type == "regression":
            problems.append((("fairness", "metric"), "accuracy needs a class label, not regression"))
    return problems
