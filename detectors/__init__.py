"""Drift detectors: pure computation over NumPy batches (see :mod:`.base` for the contract)."""

from .adwin import ADWIN
from .base import Detection, Detector
from .calibration import alpha_per_test, parse_rate
from .chi2 import Chi2Categorical
from .cusum import RankCUSUM
from .cvm import CvMWindow
from .ddm import DDM
from .ks import KSWindow
from .page_hinkley import PageHinkley
from .pca import PCAReconstruction
from .quality import QualityCategorical, QualityNumeric
from .registry import METHODS, make_detector, method_params

__all__ = [
    "ADWIN",
    "DDM",
    "METHODS",
    "Chi2Categorical",
    "CvMWindow",
    "Detection",
    "Detector",
    "KSWindow",
    "PCAReconstruction",
    "PageHinkley",
    "QualityCategorical",
    "QualityNumeric",
    "RankCUSUM",
    "alpha_per_test",
    "make_detector",
    "method_params",
    "parse_rate",
]
