"""Drift detectors: pure computation over NumPy batches (see :mod:`.base` for the contract)."""

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

__all__ = [
    "ADWIN",
    "BernoulliCUSUM",
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
