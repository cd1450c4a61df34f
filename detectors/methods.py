"""Detector classes by the method name used in configuration files."""

from __future__ import annotations

import inspect
from typing import Any

from .base import Detector
from .binary.bernoulli_cusum import BernoulliCUSUM
from .binary.ddm import DDM
from .binary.eddm import EDDM
from .binary.hddm import HDDM
from .categorical.chi2 import Chi2Categorical
from .multivariate.pca import PCAReconstruction
from .numeric.adwin import ADWIN
from .numeric.cusum import RankCUSUM
from .numeric.cvm import CvMWindow
from .numeric.distance import JSWindow, PSIWindow, WassersteinWindow
from .numeric.ks import KSWindow
from .numeric.page_hinkley import PageHinkley
from .quality.quality import QualityCategorical, QualityNumeric
from .quality.schema_errors import SchemaErrors

METHODS: dict[str, type[Detector]] = {
    cls.method: cls
    for cls in (
        KSWindow, CvMWindow, RankCUSUM, Chi2Categorical, DDM, QualityNumeric, QualityCategorical,
        PCAReconstruction, ADWIN, PageHinkley, PSIWindow, JSWindow, WassersteinWindow, EDDM, HDDM,
        SchemaErrors, BernoulliCUSUM,
    )
}


def _detector_class(method: str) -> type[Detector]:
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown detector method {method!r}; known methods: {', '.join(sorted(METHODS))}"
        ) from None


def method_params(method: str) -> set[str]:
    """The option names ``make_detector(method, ...)`` accepts.

    >>> sorted(method_params("ddm"))
    ['drift_level', 'min_n', 'rearm_level', 'warning_level']
    """
    params = inspect.signature(_detector_class(method).__init__).parameters
    return {
        name
        for name, p in params.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def make_detector(method: str, **options: Any) -> Detector:
    """Build the detector of ``method`` with its options (ValueError on unknown ones).

    >>> make_detector("ks", window=500, stride=50).tests_per_value
    0.02
    """
    cls = _detector_class(method)
    unknown = set(options) - method_params(method)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} for method {method!r}; "
            f"accepted: {', '.join(sorted(method_params(method)))}"
        )
    return cls(**options)
