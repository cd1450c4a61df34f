"""Calibration helpers and the method registry."""

from __future__ import annotations

import pytest

from driftline.detectors import (
    DDM,
    METHODS,
    Chi2Categorical,
    KSWindow,
    alpha_per_test,
    make_detector,
    method_params,
    parse_rate,
)


@pytest.mark.parametrize(
    "text, rate",
    [("1 per 1000000 events", 1e-6), ("1 per 1,000,000 events", 1e-6), ("1 per 1e6 events", 1e-6),
     ("1e-6", 1e-6), (1e-6, 1e-6), ("5 per 1000 values", 5e-3), (" 2 / 1e4 ", 2e-4), ("1 per 10 event", 0.1)],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == pytest.approx(rate, rel=1e-15)


@pytest.mark.parametrize("text", ["", "often", "1 per", "per 1000", "1 per 0 events", "-1e-6", "0", "2", True, None])
def test_parse_rate_rejects(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_alpha_per_test():
    assert alpha_per_test(1e-6, 1 / 100, 4) == pytest.approx(2.5e-5)
    assert alpha_per_test(1e-6, 1.0, 1) == 1e-6
    assert alpha_per_test(1e-2, 1 / 100, 1) == 0.5
    for args, name in [((0, 1, 1), "rate_per_event"), ((1e-6, 0, 1), "tests_per_value"), ((1e-6, 1, 0), "n_detectors")]:
        with pytest.raises(ValueError, match=name):
            alpha_per_test(*args)


def test_registry():
    assert {"ks": KSWindow, "chi2": Chi2Categorical, "ddm": DDM}.items() <= METHODS.items()
    assert set(METHODS) == {
        "ks", "cvm", "cusum", "chi2", "ddm", "quality", "quality_cat", "pca", "adwin", "page_hinkley",
        "psi", "js", "wasserstein", "eddm", "hddm", "schema", "bernoulli",
    }
    for method, cls in METHODS.items():
        assert cls.method == method
        assert type(make_detector(method)) is cls
    assert method_params("ks") == {"reference_size", "window", "stride", "alpha_drift", "alpha_warning", "sliding"}
    assert method_params("chi2") == method_params("ks") - {"sliding"} | {"min_expected"}
    assert make_detector("ks", window=500, stride=50).window == 500
    known = "known methods: adwin, bernoulli, chi2, cusum, cvm, ddm, eddm, hddm, js, ks, page_hinkley, pca, psi"
    with pytest.raises(ValueError, match=known):
        make_detector("kswin")
    with pytest.raises(ValueError, match="windw"):
        make_detector("ks", windw=10)
    with pytest.raises(ValueError, match="stride"):
        make_detector("ks", stride=0)
