"""Values a hostile producer sends (found by ``tests/unit/test_fuzz.py``): huge numbers, tiny
references. A detector judges or waits; it never raises, and its state stays plain JSON."""

from __future__ import annotations

import json

import numpy as np

from driftline.detectors.methods import METHODS


def test_pca_with_a_reference_too_small_to_hold_out_waits_instead_of_raising() -> None:
    det = METHODS["pca"](reference_size=14, window=10, stride=1)
    rng = np.random.default_rng(0)
    assert det.update(rng.normal(size=(200, 2))) == []
    json.dumps(det.state_dict(), allow_nan=False)


def test_pca_with_overflowing_values_in_its_reference_takes_the_next_one() -> None:
    det = METHODS["pca"](reference_size=40, window=20, stride=5)
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(400, 2))
    rows[:40] *= 1e307  # the first reference overflows once standardised
    det.update(rows)
    assert det.state_dict()["complement"] is not None  # fitted on a later reference
    det.update(np.full((5, 2), 1e308))  # an infinite error is a value, not an exception


def test_moment_detectors_take_huge_values_and_keep_finite_state() -> None:
    for method in ("adwin", "page_hinkley"):
        det = METHODS[method]()
        det.update(np.array([1e248, -1e308, 1.0, 1e300] * 50))
        json.dumps(det.state_dict(), allow_nan=False)
