"""EDDM and HDDM_A on 0/1 error streams: against River's, and detection of a rise."""

from __future__ import annotations

import numpy as np
import pytest
from river import drift

from driftline.detectors import EDDM, HDDM, make_detector


def river_drifts(det, x):
    out = []
    for i, v in enumerate(x.tolist()):
        det.update(v)
        if det.drift_detected:
            out.append(i)
    return out


def errors(seed, rates=(0.1, 0.4), size=3_000):
    rng = np.random.default_rng(seed)
    return (rng.random(size * len(rates)) < np.repeat(rates, size)).astype(float)


@pytest.mark.parametrize("seed", range(4))
def test_eddm_drifts_match_river(seed):
    x = errors(seed)
    ours = [d.index for d in EDDM().update(x) if d.severity == "drift"]
    assert ours and ours[0] == river_drifts(drift.binary.EDDM(), x)[0]
    assert ours == river_drifts(drift.binary.EDDM(), x)  # every drift, as both reset on a drift


@pytest.mark.parametrize("seed", range(4))
def test_hddm_drifts_match_river(seed):
    x = errors(seed)
    ours = [d.index for d in HDDM().update(x) if d.severity == "drift"]
    theirs = river_drifts(drift.binary.HDDMA(drift_confidence=0.001, warning_confidence=0.005), x)
    assert ours and ours == theirs
    ours = [d.index for d in HDDM(alpha_drift=1e-5, alpha_warning=None).update(x)]
    assert ours == river_drifts(drift.binary.HDDMA(drift_confidence=1e-5), x)


@pytest.mark.parametrize("seed", range(10))
def test_hddm_detects_a_rise_and_nothing_before(seed):
    x = errors(seed, size=2_000)
    found = [d for d in HDDM().update(x) if d.severity == "drift"]
    assert found and 2_000 <= found[0].index < 2_200
    assert found[0].statistic >= found[0].threshold


def test_hddm_ignores_a_falling_error_rate():
    x = errors(3, rates=(0.4, 0.1), size=3_000)
    assert [d for d in HDDM().update(x) if d.severity == "drift"] == []


@pytest.mark.parametrize("seed", range(10))
def test_eddm_detects_a_rise(seed):
    """EDDM detects the rise soon after it. With the paper's thresholds it also raises false
    drifts on a stationary 10% error stream (River's does the same, see the test above), so
    only the first drift after the change is checked, not silence before it."""
    x = errors(seed, size=2_000)
    after = [d.index for d in EDDM().update(x) if d.severity == "drift" and d.index >= 2_000]
    assert after and after[0] < 2_300


def test_eddm_quiet_before_the_change_on_a_seeded_stream():
    x = errors(7, size=2_000)
    found = [d for d in EDDM().update(x) if d.severity == "drift"]
    assert found and 2_000 <= found[0].index < 2_300 and found[0].statistic < found[0].threshold


def test_validation_names_the_parameter():
    for kwargs, name in [
        ({"min_errors": 0}, "min_errors"), ({"warning_level": 1.5}, "warning_level"),
        ({"drift_level": 0.96}, "drift_level"), ({"rearm_level": 0.9}, "rearm_level"),
    ]:
        with pytest.raises(ValueError, match=name):
            EDDM(**kwargs)
    for kwargs, name in [
        ({"alpha_drift": 0}, "alpha_drift"), ({"alpha_warning": 1.0}, "alpha_warning"),
        ({"alpha_drift": 0.01, "alpha_warning": 0.005}, "alpha_warning"),
    ]:
        with pytest.raises(ValueError, match=name):
            HDDM(**kwargs)
    for cls in (EDDM, HDDM):
        with pytest.raises(ValueError, match="0 \\(correct\\) or 1"):
            cls().update(np.array([0.0, 0.5]))


def test_made_by_name():
    assert isinstance(make_detector("eddm", min_errors=50), EDDM)
    assert make_detector("hddm", alpha_drift=1e-4, alpha_warning=None).alpha_warning is None
