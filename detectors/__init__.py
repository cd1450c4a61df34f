"""Drift detectors: pure computation over NumPy batches (see :mod:`.base` for the contract)."""

from .numeric.adwin import ADWIN
from .base import Detection, Detector
from .calibration import alpha_per_test, parse_rate
from .categorical.chi2 import Chi2Categorical
from .numeric.cusum import RankCUSUM
from .numeric.cvm import CvMWindow
from .binary.ddm import DDM
from .numeric.distance import JSWindow, PSIWindow, WassersteinWindow
from .binary.eddm import EDDM
from .binary.hddm import HDDM
from .numeric.ks import KSWindow
from .numeric.page_hinkley import PageHinkley
from .multivariate.pca import PCAReconstruction
from .quality.quality import QualityCategorical, QualityNumeric
from .registry import METHODS, make_detector, method_params
from .quality.schema import SchemaErrors

__all__ = [
    "ADWIN",
    "DDM",
    "EDDM",
    "HDDM",
    "METHODS",
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
