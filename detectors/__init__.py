"""Drift detectors: pure computation over NumPy batches (see :mod:`.base` for the contract)."""

from .adwin import ADWIN
from .base import Detection, Detector
from .calibration import alpha_per_test, parse_rate
from .chi2 import Chi2Categorical
from .cusum import RankCUSUM
from .cvm import CvMWindow
from .ddm import DDM
from .distance import JSWindow, PSIWindow, WassersteinWindow
from .eddm import EDDM
from .hddm import HDDM
from .ks import KSWindow
from .page_hinkley import PageHinkley
from .pca import PCAReconstruction
from .quality import QualityCategorical, QualityNumeric
from .registry import METHODS, make_detector, method_params
from .schema import SchemaErrors

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
