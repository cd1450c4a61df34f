"""DDM: agreement with River, detection power, validation."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift.binary import DDM as RiverDDM

from driftline.detectors import DDM


def river_events(x, **kwargs):
    """River's DDM flags turned into our events (a warning once on entering the zone)."""
    det, out, in_warning = RiverDDM(**kwargs), [], False
    for i, v in enumerate(x):
        det.update(bool(v))
        if det.drift_detected:
            out.append((i, "drift"))
            in_warning = False
        else:
            if det.warning_detected and not in_warning:
                out.append((i, "warning"))
            in_warning = det.warning_detected
    return out


@pytest.mark.parametrize("seed", range(8))
def test_matches_river(seed):
    rng = np.random.default_rng(seed)
    p = np.repeat(rng.uniform(0.05, 0.5, 4), 1_500)
    x = (rng.random(p.size) < p).astype(float)
    for ours_kw, river_kw in [
        ({}, {}),
        ({"min_n": 100, "warning_level": 1.5, "drift_level": 2.5, "rearm_level": 0.5},
         {"warm_start": 100, "warning_threshold": 1.5, "drift_threshold": 2.5}),
    ]:
        ours = [(d.index, d.severity) for d in DDM(**ours_kw).update(x)]
        theirs = river_events(x, **river_kw)
        # drifts are River's exactly; warnings are River's zone entries, minus the re-entries
        # that come before the statistic fell back to the re-arm level (hysteresis)
        assert [e for e in ours if e[1] == "drift"] == [e for e in theirs if e[1] == "drift"]
        assert set(ours) <= set(theirs)


def test_hovering_error_rate_gives_one_warning_not_a_storm():
    """An error rate sitting right at the warning line: River re-warns on every re-entry."""
    rng = np.random.default_rng(3)
    x = (rng.random(40_000) < np.repeat([0.10, 0.112], [2_000, 38_000])).astype(float)
    ours = [d for d in DDM().update(x) if d.severity == "warning"]
    theirs = [e for e in river_events(x) if e[1] == "warning"]
    assert len(theirs) > 5 * max(1, len(ours))
    assert len(ours) <= 3


def test_no_error_before_min_n_does_not_fire_on_its_minimum():
    x = np.zeros(200)
    assert DDM().update(x) == []
    # p_min = s_min = 0, so the first error is a drift, as in River
    assert [(d.index, d.severity) for d in DDM().update(np.append(x, 1.0))] == [(200, "drift")]


@pytest.mark.parametrize("seed", range(5))
def test_detects_error_rate_increase_once(seed):
    rng = np.random.default_rng(seed)
    x = (rng.random(6_000) < np.repeat([0.1, 0.4], [2_000, 4_000])).astype(float)
    found = DDM().update(x)
    drifts = [d.index for d in found if d.severity == "drift" and d.index >= 2_000]
    assert len(drifts) == 1 and drifts[0] < 2_400
    d = next(d for d in found if d.index == drifts[0])
    assert d.p_value is None and d.statistic > d.threshold
    assert d.reference_n <= d.current_n


@pytest.mark.parametrize(
    "kwargs, name",
    [({"min_n": 0}, "min_n"), ({"min_n": 2.5}, "min_n"), ({"warning_level": -1}, "warning_level"),
     ({"drift_level": 0}, "drift_level"), ({"warning_level": 3.0, "drift_level": 2.0}, "drift_level"),
     ({"rearm_level": 2.5}, "rearm_level")],
)
def test_validation_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DDM(**kwargs)


def test_rejects_non_binary_values():
    with pytest.raises(ValueError, match="0 .* or 1"):
        DDM().update([0.0, 0.5])
