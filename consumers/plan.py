"""From configuration to detector instances: which detector watches which column.

``detectors: auto`` gives, per declared stream: a windowed KS test per numeric feature, a
chi-square test per categorical feature, a test on the label and on the predictions (chi-square
for classes, KS for regression targets), and DDM on the learner's 0/1 errors (KS on absolute
errors for regression). The false-alarm budget is split over all of them
(:func:`driftline.detectors.calibration.alpha_per_test`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from driftline.consumers.config import DriftlineConfig
from driftline.detectors import Detector, alpha_per_test, make_detector
from driftline.detectors.registry import METHODS, method_params

Target = Literal["feature", "label", "prediction", "error"]

_TARGET_OF_KIND: dict[str, Target] = {
    "data_drift": "feature",
    "data_quality": "feature",
    "label_drift": "label",
    "prediction_drift": "prediction",
    "concept_drift": "error",
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


def plan(cfg: DriftlineConfig) -> list[PlannedDetector]:
    return _auto(cfg) if cfg.detectors == "auto" else _explicit(cfg)


def _auto(cfg: DriftlineConfig) -> list[PlannedDetector]:
    out = []
    for name, ftype in cfg.stream.features.items():
        method = "ks" if ftype == "numeric" else "chi2"
        out.append(PlannedDetector(f"{method}-{name}", "data_drift", "feature", name, method))
    for target, spec in (("label", cfg.stream.label), ("prediction", cfg.stream.prediction)):
        if spec is not None:
            method = "ks" if spec.type == "regression" else "chi2"
            out.append(PlannedDetector(f"{method}-{target}", f"{target}_drift", target, None, method))
    if cfg.stream.label is not None and cfg.learner.enabled:
        if cfg.stream.label.type == "regression":
            out.append(PlannedDetector("ks-abs-error", "concept_drift", "error", None, "ks"))
        else:
            out.append(PlannedDetector("ddm-error", "concept_drift", "error", None, cfg.learner.concept_detector))
    return out


def _explicit(cfg: DriftlineConfig) -> list[PlannedDetector]:
    out = []
    assert isinstance(cfg.detectors, list)
    for det in cfg.detectors:
        target = _TARGET_OF_KIND[det.kind]
        if target == "feature":
            for feature in det.features:
                name = det.name if len(det.features) == 1 else f"{det.name}-{feature}"
                out.append(PlannedDetector(name, det.kind, target, feature, det.method, dict(det.options)))
        else:
            out.append(PlannedDetector(det.name, det.kind, target, None, det.method, dict(det.options)))
    return out


def build(cfg: DriftlineConfig, planned: list[PlannedDetector]) -> list[Detector]:
    """Instances for ``planned``, with thresholds calibrated to the false-alarm budget.

    Options the user set explicitly win over the calibrated and reference defaults.
    """
    calibrated = [p for p in planned if "alpha_drift" in method_params(p.method)]
    n = max(1, len(calibrated))
    out = []
    for p in planned:
        params = method_params(p.method)
        options: dict[str, Any] = {}
        if "reference_size" in params and cfg.reference.first_n is not None:
            options["reference_size"] = cfg.reference.first_n
        options.update(p.options)
        if "alpha_drift" in params:
            probe = METHODS[p.method](**options)
            tests = probe.tests_per_value
            options.setdefault("alpha_drift", alpha_per_test(cfg.false_alarms.drift, tests, n))
            if "alpha_warning" in params:
                warn = cfg.false_alarms.warning
                alpha_w = None if warn is None else alpha_per_test(warn, tests, n)
                if alpha_w is not None and alpha_w <= options["alpha_drift"]:
                    alpha_w = None
                options.setdefault("alpha_warning", alpha_w)
        out.append(make_detector(p.method, **options))
    return out
