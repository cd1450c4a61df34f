"""ADWIN and Page-Hinkley against River's, and the one-sided rank CUSUM on error streams."""

from __future__ import annotations

import numpy as np
import pytest
from river import drift

from driftline.detectors import ADWIN, PageHinkley, RankCUSUM


def river_first(det, x):
    for i, v in enumerate(x.tolist()):
        det.update(v)
        if det.drift_detected:
            return i
    return None


@pytest.mark.parametrize("seed", range(3))
def test_adwin_and_page_hinkley_first_alarm_match_river(seed):
    rng = np.random.default_rng(seed)
    errors = (rng.random(6_000) < np.repeat([0.1, 0.35], 3_000)).astype(float)
    ours = [d.index for d in ADWIN().update(errors)]
    assert ours and ours[0] == river_first(drift.ADWIN(), errors)
    x = np.concatenate([rng.normal(0, 1, 1_000), rng.normal(3, 1, 1_000)])
    ours = [d.index for d in PageHinkley().update(x)]
    assert ours and ours[0] == river_first(drift.PageHinkley(), x)


def test_one_sided_cusum_ignores_a_falling_error_rate():
    rng = np.random.default_rng(5)
    falling = (rng.random(30_000) < np.repeat([0.3, 0.05], [10_000, 20_000])).astype(float)
    assert [d for d in RankCUSUM(direction="up").update(falling) if d.severity == "drift"] == []
    assert [d for d in RankCUSUM(direction="both").update(falling) if d.severity == "drift"]
    rising = (rng.random(30_000) < np.repeat([0.1, 0.2], [15_000, 15_000])).astype(float)
    first = next(d.index for d in RankCUSUM(direction="up").update(rising) if d.severity == "drift")
    assert 15_000 <= first < 16_000
