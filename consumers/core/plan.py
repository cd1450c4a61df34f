"""From configuration to detector instances: which detector watches which column.

``detectors: auto`` gives, per declared stream:

* per numeric feature: a windowed KS test (``ks-<f>``, shape), a rank CUSUM (``cusum-<f>``,
  location and scale, fast on small and gradual shifts) and a second one on short blocks
  (``cusum-fast-<f>``, location only, tuned to shifts of about one standard deviation: caught
  within a few tens of events), all ``data_drift``, and a
  ``quality-<f>`` detector (``data_quality``: missing values rising, values out of the
  reference's range);
* per categorical feature: a chi-square test (``chi2-<f>``, rare levels pooled) and a
  ``quality-<f>`` detector (missing values rising, levels never seen in the reference);
* with two numeric features or more: ``pca-features``, the PCA reconstruction error over all
  numeric features (a change of their joint distribution that no marginal shows);
* per stream: ``schema-errors`` (``data_quality``), the share of messages rejected as
  unreadable or for a value of the wrong type rising;
* on the label and on the predictions: chi-square for multiclass, the Bernoulli CUSUM (both
  directions) on a binary target's 0/1 values, KS and rank CUSUM for a regression target;
* with label-free performance estimation (``stream.prediction.score`` for a classifier, a
  regression prediction and label): ``cbpe-accuracy`` (the rank CUSUM watching CBPE's
  per-event probability of a right prediction fall) or ``dle-mae`` (watching DLE's estimated
  absolute error rise), kind ``performance`` (:mod:`.performance`);
* on the learner's errors, one detector (``learner.concept_detector``): by default the
  Bernoulli CUSUM watching the 0/1 error rate rise (``bernoulli-error``) or, for regression, a
  rank CUSUM watching the absolute errors rise (``cusum-abs-error``), both calibrated to the
  budget; ``cusum``, ``ddm``, ``eddm``, ``hddm``, ``adwin`` (its ``delta`` calibrated to the
  budget) and ``page_hinkley`` can be chosen instead.

The false-alarm budget is split over all calibrated detectors and their tests
(:func:`driftline.detectors.calibration.alpha_per_test`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from driftline.consumers.config.model import DetectorConfig, DriftlineConfig
from driftline.consumers.core.columns import column
from driftline.consumers.core.performance import PerformanceWatch
from driftline.consumers.core.reference import load_reference
from driftline.consumers.core.segments.monitor import SlicingPlan
from driftline.detectors.base import Detector
from driftline.detectors.calibration import alpha_per_test
from driftline.detectors.methods import METHODS, make_detector, method_params

#: test stride of the per-feature KS tests in auto plans (window 1000)
AUTO_KS_STRIDE = 250
#: auto's detectors on a label or prediction, by its type: the classes' proportions (chi2), for a
#: binary target the Bernoulli CUSUM's two charts on its 0/1 values (its rate is all there is to
#: its distribution: one detector, its share of the budget undivided), KS and rank CUSUM for a
#: regression target
_TARGET_METHODS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "regression": [("ks", {}), ("cusum", {})],
    "binary": [("bernoulli", {})],
    "multiclass": [("chi2", {})],
}
#: the second rank CUSUM auto runs on a numeric feature: location charts on blocks of 5 with
#: allowance 1, tuned to shifts of about one standard deviation (caught within a few tens of
#: events), beside the default one on blocks of 10, tuned to small shifts (None: not run). A
#: larger allowance (1.5) was faster still but is out of reach of the threshold's approximation:
#: it realised twice its budget on drift-free streams
AUTO_FAST_CUSUM: dict[str, Any] | None = {"block": 5, "allowance": 1.0, "direction": "location"}
#: auto's detector on a classifier's 0/1 errors
AUTO_CONCEPT = "bernoulli"
#: the name of the multivariate detector's "feature" set in auto plans
MULTIVARIATE_NAME = "features"

#: what a detector watches: a feature column, the label, the predictions, the learner's
#: errors, the stream's messages themselves (read or rejected: schema errors), or the
#: estimated performance (CBPE's expected correctness, DLE's estimated loss)
Target = Literal["feature", "label", "prediction", "error", "messages", "performance"]

#: what the monitor judges, and the learner
MONITOR_TARGETS: tuple[Target, ...] = ("feature", "label", "prediction", "messages", "performance")
LEARNER_TARGETS: tuple[Target, ...] = ("error",)

_TARGET_OF_KIND: dict[str, Target] = {
    "data_drift": "feature",
    "data_quality": "feature",
    "label_drift": "label",
    "prediction_drift": "prediction",
    "concept_drift": "error",
    "performance": "performance",
}
#: auto's detector on the estimated performance: the rank CUSUM's one location chart, watching
#: the expected correctness fall (classification) or the estimated loss rise (regression)
AUTO_PERFORMANCE: dict[str, tuple[str, dict[str, Any]]] = {
    "classification": ("cbpe-accuracy", {"direction": "down"}),
    "regression": ("dle-mae", {"direction": "up"}),
}


@dataclass(frozen=True)
class PlannedDetector:
    """One detector on one column: ``name`` is what alerts carry as ``detector``."""

    name: str
    kind: str
    target: Target
    feature: str | None
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    #: for a multivariate method: the features it watches together (``feature`` is None)
    features: tuple[str, ...] = ()

    @property
    def input_type(self) -> str:
        """What the method takes: ``numeric``, ``categorical``, ``binary`` or ``messages``."""
        return str(METHODS[self.method].input_type)


@dataclass(frozen=True)
class FairnessPlan:
    """What ``fairness`` alerts as, and its levels per window (one share of the budget)."""

    planned: PlannedDetector
    alpha_drift: float
    alpha_warning: float | None


@dataclass
class StreamPlan:
    """The detectors one role runs on one stream, planned, built and fitted once.

    Every partition's engine gets its own copies (:meth:`detectors`): the plan, the budget's
    thresholds and the reference file are worked out once per role, not per partition or
    rebalance.
    """

    stream: str
    planned: list[PlannedDetector]
    prototypes: list[Detector]
    #: the performance estimate the ``performance`` detectors watch (None: no such detector)
    watch: PerformanceWatch | None = None
    #: the learner's: the error detectors each segment runs (None: no ``segments``)
    segment: StreamPlan | None = None
    #: the learner's: the fairness gap's alert and levels (None: no ``fairness``)
    fairness: FairnessPlan | None = None
    #: the monitor's: the segments of ``segments.by`` and their detectors (None: no ``segments.by``)
    slicing: SlicingPlan | None = None

    def detectors(self) -> list[Detector]:
        """Fresh detectors of the plan (fitted on the reference file, when there is one)."""
        return copy.deepcopy(self.prototypes)

    def performance_watch(self) -> PerformanceWatch | None:
        """A fresh performance estimate (fitted on the reference file, when there is one)."""
        return copy.deepcopy(self.watch)


def monitor_plan(cfg: DriftlineConfig) -> StreamPlan:
    """The monitor's plan: the features, the label, the predictions and the messages (and per
    segment of ``segments.by``, the drift detectors of ``segments.features``)."""
    out = stream_plan(cfg, MONITOR_TARGETS)
    if cfg.segments.by:
        planned = [replace(p, options={**_segment_options(p, cfg.segments.min_events), **p.options})
                   for p in _segment_copies(cfg, out.planned)]
        segment = StreamPlan(cfg.stream.name, planned, build(cfg, planned, among=plan(cfg)))
        out.slicing = SlicingPlan(tuple(cfg.segments.by), cfg.segments.max_segments,
                                  cfg.reference.first_n or cfg.reference.sliding or 10_000, segment,
                                  dict(cfg.stream.feature_types()), cfg.segments.window, cfg.segments.bins,
                                  cfg.stream.prediction is not None and cfg.stream.prediction.type == "regression")
    return out


def _segment_copies(cfg: DriftlineConfig, planned: Sequence[PlannedDetector]) -> list[PlannedDetector]:
    """The calibrated data-drift detectors of ``segments.features``: each segment runs a copy."""
    return [p for p in planned if p.kind == "data_drift" and p.feature in cfg.segments.features
            and "alpha_drift" in method_params(p.method)]


#: the change of odds a segment's Bernoulli CUSUM is tuned to (the stream's: 2). A segment sees a
#: share of the traffic, so the changes it can show sooner than the stream are the larger ones:
#: on a 0/1 error rate of 0.09 the chart tuned to 3 halves the delay to 0.2 and to 0.38 (in 20
#: seeded runs at the level 3e-7 per value, reference 2,000) against the one tuned to 2
SEGMENT_ODDS_RATIO = 3.0


def _segment_options(p: PlannedDetector, reference: int) -> dict[str, Any]:
    params = method_params(p.method)
    out: dict[str, Any] = {"reference_size": reference} if "reference_size" in params else {}
    if "odds_ratio" in params:
        out["odds_ratio"] = SEGMENT_ODDS_RATIO
    return out


def learner_plan(cfg: DriftlineConfig) -> StreamPlan:
    """The learner's plan: the detectors on its errors (and those of its segments, and fairness)."""
    out = stream_plan(cfg, LEARNER_TARGETS)
    everything = plan(cfg)
    if cfg.segments.enabled:
        # a segment's error detectors: referenced on its first segments.min_events errors, each
        # slicing one more share of the budget (budget_shares)
        planned = [replace(p, options={**_segment_options(p, cfg.segments.min_events), **p.options})
                   for p in out.planned if p.target == "error"]
        out.segment = StreamPlan(cfg.stream.name, planned, build(cfg, planned, among=everything))
    fair = cfg.fairness
    if fair is not None:  # one test per window of fair.window learned events
        shares = budget_shares(cfg, [p for p in everything if "alpha_drift" in method_params(p.method)])
        warn = cfg.false_alarms.warning
        out.fairness = FairnessPlan(
            PlannedDetector(f"fairness-{fair.metric}-{fair.attribute}", "performance", "performance", fair.attribute,
                            "fairness"),
            alpha_per_test(cfg.false_alarms.drift, 1.0 / fair.window, shares),
            None if warn is None else alpha_per_test(warn, 1.0 / fair.window, shares))
    return out


def stream_plan(cfg: DriftlineConfig, targets: Sequence[Target]) -> StreamPlan:
    """The plan of the detectors on ``targets``, built and fitted on ``reference.file``."""
    everything = plan(cfg)
    planned = [p for p in everything if p.target in targets]
    detectors = build(cfg, planned, among=everything)  # one budget for the stream, over every role
    reference = load_reference(cfg)
    watch = None
    if any(p.target == "performance" for p in planned):
        size = cfg.reference.first_n or cfg.reference.sliding or (len(reference) if reference is not None else 0)
        watch = PerformanceWatch(cfg, size)
    if reference is not None:
        estimated = watch.fit_reference(reference) if watch is not None else None
        for p, detector in zip(planned, detectors):
            if p.target == "performance":
                detector.fit_reference(estimated)  # type: ignore[attr-defined]
            elif p.target not in ("error", "messages"):  # the schema's reference: the first messages
                detector.fit_reference(column(reference, p))  # type: ignore[attr-defined]
    return StreamPlan(cfg.stream.name, planned, detectors, watch)


def plan(cfg: DriftlineConfig) -> list[PlannedDetector]:
    return _auto(cfg) if cfg.detectors == "auto" else _explicit(cfg)


def _auto(cfg: DriftlineConfig) -> list[PlannedDetector]:
    out = []
    numeric = [name for name, ftype in cfg.stream.feature_types().items() if ftype == "numeric"]
    for name, ftype in cfg.stream.feature_types().items():
        if ftype == "numeric":
            # the CUSUM reacts within a few blocks; the KS test, for changes of shape, can
            # test less often (cheaper, and a larger share of the budget per test)
            out.append(PlannedDetector(f"ks-{name}", "data_drift", "feature", name, "ks", {"stride": AUTO_KS_STRIDE}))
            out.append(PlannedDetector(f"cusum-{name}", "data_drift", "feature", name, "cusum"))
            if AUTO_FAST_CUSUM is not None:
                out.append(PlannedDetector(f"cusum-fast-{name}", "data_drift", "feature", name, "cusum",
                                           dict(AUTO_FAST_CUSUM)))
            out.append(PlannedDetector(f"quality-{name}", "data_quality", "feature", name, "quality"))
        else:
            out.append(PlannedDetector(f"chi2-{name}", "data_drift", "feature", name, "chi2"))
            out.append(PlannedDetector(f"quality-{name}", "data_quality", "feature", name, "quality_cat"))
    if len(numeric) >= 2:
        out.append(
            PlannedDetector(f"pca-{MULTIVARIATE_NAME}", "data_drift", "feature", None, "pca", features=tuple(numeric))
        )
    out.append(PlannedDetector("schema-errors", "data_quality", "messages", None, "schema"))
    for target, spec in (("label", cfg.stream.label), ("prediction", cfg.stream.prediction)):
        if spec is None:
            continue
        for method, options in _TARGET_METHODS[spec.type]:
            out.append(PlannedDetector(f"{method}-{target}", f"{target}_drift", target, None, method, dict(options)))
    if PerformanceWatch.wanted(cfg):
        assert cfg.stream.prediction is not None
        task = "regression" if cfg.stream.prediction.type == "regression" else "classification"
        name, options = AUTO_PERFORMANCE[task]
        out.append(PlannedDetector(name, "performance", "performance", None, "cusum", dict(options)))
    if cfg.stream.label is not None and cfg.learner.enabled:
        out.append(_concept_detector(cfg))
    return out


def _concept_detector(cfg: DriftlineConfig) -> PlannedDetector:
    """The one detector on the learner's errors (one concept drift, one alert).

    ``learner.concept_detector`` names it. ``auto`` is, on 0/1 errors, the Bernoulli CUSUM's
    upward chart (Reynolds & Stoumbos, 1999: the likelihood ratio of a raised error rate
    against the reference's, one error at a time) or, for regression, the rank CUSUM's upward
    location chart on absolute errors (Page, 1954); both compare the errors with those of the
    reference (the first ``reference.first_n`` labelled events) and are calibrated to the
    budget on the reference's own error distribution. A learner improving as it learns makes
    no alarm: only a rise is watched. The detectors of 0/1 errors only (Bernoulli CUSUM, DDM,
    EDDM, HDDM) are replaced by the rank CUSUM for regression.
    """
    method = cfg.learner.concept_detector
    assert cfg.stream.label is not None
    regression = cfg.stream.label.type == "regression"
    if method == "auto":
        method = "cusum" if regression else AUTO_CONCEPT
    elif regression and method in ("ddm", "eddm", "hddm", "bernoulli"):  # 0/1 error detectors
        method = "cusum"
    options: dict[str, Any] = {}
    if method in ("cusum", "adwin", "bernoulli"):
        options["direction"] = "up"
    elif method == "page_hinkley":
        options["mode"] = "up"
    name = f"{method}-abs-error" if regression else f"{method}-error"
    return PlannedDetector(name, "concept_drift", "error", None, method, options)


def _explicit(cfg: DriftlineConfig) -> list[PlannedDetector]:
    assert isinstance(cfg.detectors, list)
    return explicit_detectors(cfg, cfg.detectors)


def explicit_detectors(cfg: DriftlineConfig, detectors: Sequence[DetectorConfig]) -> list[PlannedDetector]:
    """The planned detectors of a listed ``detectors`` configuration (one per feature)."""
    out = []
    for det in detectors:
        target = _TARGET_OF_KIND[det.kind]
        if det.method == "schema":
            out.append(PlannedDetector(det.name, det.kind, "messages", None, det.method, dict(det.options)))
        elif target == "feature" and getattr(METHODS[det.method], "multivariate", False):
            out.append(
                PlannedDetector(det.name, det.kind, target, None, det.method, dict(det.options), tuple(det.features))
            )
        elif target == "feature":
            for feature in det.features:
                name = det.name if len(det.features) == 1 else f"{det.name}-{feature}"
                out.append(PlannedDetector(name, det.kind, target, feature, det.method, dict(det.options)))
        else:
            out.append(PlannedDetector(det.name, det.kind, target, None, det.method, dict(det.options)))
    return out


def budget_shares(cfg: DriftlineConfig, calibrated: Sequence[PlannedDetector]) -> int:
    """How many equal shares the drift budget is split into: one per calibrated detector, one
    more per slicing of ``segments`` for each calibrated error detector it copies, one for
    ``fairness``.

    A slicing (the levels of one feature, the rest pooled) puts every event in exactly one
    segment, so its segments' detectors, each at the share's level per value it sees, make
    the share's false alarms per event together, however many segments there are; a filter's
    one segment sees a part of the events, so at most that. Adding segments does not add false
    alarms: it splits the budget once more.
    """
    copied = sum(1 for p in calibrated if p.target == "error")
    slicings = len(cfg.segments.by) + len(cfg.segments.filters)
    judged = len(_segment_copies(cfg, calibrated)) * len(cfg.segments.by)  # the judge's, per segment
    return max(1, len(calibrated) + slicings * copied + judged + (cfg.fairness is not None))


def build(cfg: DriftlineConfig, planned: list[PlannedDetector],
          among: Sequence[PlannedDetector] | None = None, *, calibrate: bool = True) -> list[Detector]:
    """Instances for ``planned``, with thresholds calibrated to the false-alarm budget.

    The budget is split equally over the calibrated detectors of ``among`` (all of the
    stream's, by default those planned: the monitor's and the learner's share one budget).
    Options the user set explicitly win over the calibrated and reference defaults.

    ``calibrate=False`` is for checking options only: the levels the user did not set are the
    budget's Bonferroni shares, without the overlap correction of windowed tests (which needs
    SciPy); every other option is the same as the roles'.
    """
    calibrated = [p for p in (planned if among is None else among) if "alpha_drift" in method_params(p.method)]
    n = budget_shares(cfg, calibrated)
    out = []
    for p in planned:
        params = method_params(p.method)
        options: dict[str, Any] = {}
        if "reference_size" in params and cfg.reference.first_n is not None:
            options["reference_size"] = cfg.reference.first_n
        elif "reference_size" in params and cfg.reference.sliding is not None:
            options["reference_size"] = cfg.reference.sliding
            if "sliding" in params:
                options["sliding"] = True
        options.update(p.options)
        if "alpha_drift" in params:
            probe = METHODS[p.method](**options)
            tests = probe.tests_per_value if calibrate else float(probe.tests_per_value)
            options.setdefault("alpha_drift", alpha_per_test(cfg.false_alarms.drift, tests, n))
            if "alpha_warning" in params:
                warn = cfg.false_alarms.warning
                alpha_w = None if warn is None else alpha_per_test(warn, tests, n)
                if alpha_w is not None and alpha_w <= options["alpha_drift"]:
                    alpha_w = None
                options.setdefault("alpha_warning", alpha_w)
        out.append(make_detector(p.method, **options))
    return out
