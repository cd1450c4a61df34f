"""Drift detectors: pure computation over NumPy batches (see :mod:`.base` for the contract).

The names below are imported on first use (PEP 562), so that importing one submodule (the
configuration imports :mod:`.calibration`) does not import every detector; SciPy and pandas
are imported by the functions that compute with them, not by any module here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: each public name and the submodule that defines it
_SOURCES: dict[str, str] = {
    "Detection": ".base",
    "Detector": ".base",
    "BernoulliCUSUM": ".binary.bernoulli_cusum",
    "DDM": ".binary.ddm",
    "EDDM": ".binary.eddm",
    "HDDM": ".binary.hddm",
    "alpha_per_test": ".calibration",
    "parse_rate": ".calibration",
    "Chi2Categorical": ".categorical.chi2",
    "METHODS": ".methods",
    "make_detector": ".methods",
    "method_params": ".methods",
    "PCAReconstruction": ".multivariate.pca",
    "ADWIN": ".numeric.adwin",
    "RankCUSUM": ".numeric.cusum",
    "CvMWindow": ".numeric.cvm",
    "JSWindow": ".numeric.distance",
    "PSIWindow": ".numeric.distance",
    "WassersteinWindow": ".numeric.distance",
    "KSWindow": ".numeric.ks",
    "PageHinkley": ".numeric.page_hinkley",
    "QualityCategorical": ".quality.quality",
    "QualityNumeric": ".quality.quality",
    "SchemaErrors": ".quality.schema_errors",
}

__all__ = [
    "ADWIN",
    "DDM",
    "EDDM",
    "HDDM",
    "METHODS",
    "BernoulliCUSUM",
    "Chi2Categorical",
    "CvMWindow",
    "Detection",
    "Detector",
    "JSWindow",
    "KSWindow",
    "PCAReconstruction",
    "PSIWindow",
    "PageHinkley",
    "QualityCategorical",
    "QualityNumeric",
    "RankCUSUM",
    "SchemaErrors",
    "WassersteinWindow",
    "alpha_per_test",
    "make_detector",
    "method_params",
    "parse_rate",
]

if TYPE_CHECKING:
    from .base import Detection, Detector
    from .binary.bernoulli_cusum import BernoulliCUSUM
    from .binary.ddm import DDM
    from .binary.eddm import EDDM
    from .binary.hddm import HDDM
    from .calibration import alpha_per_test, parse_rate
    from .categorical.chi2 import Chi2Categorical
    from .methods import METHODS, make_detector, method_params
    from .multivariate.pca import PCAReconstruction
    from .numeric.adwin import ADWIN
    from .numeric.cusum import RankCUSUM
    from .numeric.cvm import CvMWindow
    from .numeric.distance import JSWindow, PSIWindow, WassersteinWindow
    from .numeric.ks import KSWindow
    from .numeric.page_hinkley import PageHinkley
    from .quality.quality import QualityCategorical, QualityNumeric
    from .quality.schema_errors import SchemaErrors


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
