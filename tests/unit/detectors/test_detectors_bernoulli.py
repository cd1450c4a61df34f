"""Bernoulli CUSUM: the exact run lengths of its integer chart, the chart itself, detection of a
rate's change, validation, and the reference a rollback gives back (also the rank CUSUM's)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from driftline.detectors import BernoulliCUSUM, RankCUSUM
from driftline.detectors.binary.bernoulli_arl import arl, budget_excess, calibrated_threshold, integer_steps


def dense_arl(h: int, a: int, c: int, p: float) -> float:
    m = np.eye(h)
    for s in range(h):
        if s + a < h:
            m[s, s + a] -= p
        m[s, max(s - c, 0)] -= 1 - p
    return float(np.linalg.solve(m, np.ones(h))[0])


@pytest.mark.parametrize("h, a, c, p", [(50, 7, 1, 0.1), (40, 3, 5, 0.5), (90, 11, 13, 0.3), (8, 9, 2, 0.2),
                                        (200, 64, 10, 0.12), (120, 45, 64, 0.45)])
def test_exact_arl_equals_the_dense_markov_chain(h, a, c, p):
    assert arl(h, a, c, p) == pytest.approx(dense_arl(h, a, c, p), rel=1e-9)


def test_exact_arl_equals_simulated_run_lengths():
    rng = np.random.default_rng(0)
    h, a, c, p = 30, 4, 3, 0.35
    runs = []
    for _ in range(4_000):
        s = t = 0
        while s < h:
            t += 1
            s = s + a if rng.random() < p else max(0, s - c)
        runs.append(t)
    se = np.std(runs) / math.sqrt(len(runs))
    assert abs(np.mean(runs) - arl(h, a, c, p)) < 4 * se


def test_threshold_keeps_the_averaged_rate_and_is_the_smallest():
    from driftline.detectors.binary.bernoulli_arl import _nodes

    p0, p1 = 0.1, 0.2 / 1.2  # odds doubled
    a, c, _ = integer_steps(math.log(p1 / p0), math.log((1 - p0) / (1 - p1)), 1e-5)
    h = calibrated_threshold(1e5, a, c, p0, 10_000)
    ps, ws = _nodes(p0, 10_000)
    rate = lambda h: sum(w / arl(h, a, c, float(p)) for p, w in zip(ps, ws))
    assert rate(h) <= 1e-5 < rate(h - 1)
    assert arl(h, a, c, p0) > 1e5  # averaged over the rate's uncertainty: above the plug-in ARL
    assert calibrated_threshold(1e5, a, c, p0, 1_000) > h  # a less certain rate: a higher threshold


@pytest.mark.parametrize("p0", [0.03, 0.2, 0.5, 0.85])
@pytest.mark.parametrize("up", [True, False])
@pytest.mark.parametrize(("alpha", "n"), [(1e-4, 10_000), (1e-6, 10_000), (1e-4, 500)])
def test_the_threshold_search_finds_the_smallest_threshold_in_the_budget(p0, up, alpha, n):
    """Whatever the search's first guess, the threshold is the one the definition gives: the
    budget kept at ``H`` and not at ``H - 1`` (the rate falls with ``H``), for the charts a
    BernoulliCUSUM builds (both directions, drift and warning levels, two reference sizes)."""
    odds = p0 / (1 - p0)
    q0 = p0 if up else 1 - p0
    o1 = odds * 2 if up else 2 / odds
    q1 = o1 / (1 + o1)
    a, c, _ = integer_steps(math.log(q1 / q0), math.log((1 - q0) / (1 - q1)), alpha)
    target = 2 / alpha
    h = calibrated_threshold(target, a, c, q0, n)
    assert budget_excess(h, target, a, c, q0, n) <= 0 < budget_excess(h - 1, target, a, c, q0, n)


def test_the_chart_is_the_log_likelihood_ratio_cusum():
    rng = np.random.default_rng(4)
    x = (rng.random(3_000) < np.repeat([0.2, 0.3], [2_000, 1_000])).astype(float)
    det = BernoulliCUSUM(reference_size=1_000, alpha_drift=1e-12, alpha_warning=None, direction="up")
    det.update(x)
    p0 = (x[:1_000].sum() + 0.5) / 1_001
    o1 = p0 / (1 - p0) * 2.0
    p1 = o1 / (1 + o1)
    up, down = math.log(p1 / p0), math.log((1 - p0) / (1 - p1))
    s = 0.0
    for v in x[1_000:]:
        s = max(0.0, s + (up if v else -down))
    stat, threshold = det.last_statistic
    assert stat == pytest.approx(s, rel=0.05, abs=0.2)  # integer steps: the ratio rounded
    assert threshold > stat  # alpha 1e-12: no alarm


@pytest.mark.parametrize("direction, after, fires", [("both", 0.4, True), ("both", 0.05, True),
                                                     ("up", 0.05, False), ("down", 0.4, False)])
def test_detects_a_change_of_rate_in_the_watched_direction(direction, after, fires):
    rng = np.random.default_rng(8)
    x = (rng.random(20_000) < np.repeat([0.15, after], [12_000, 8_000])).astype(float)
    det = BernoulliCUSUM(alpha_drift=1e-7, alpha_warning=None, direction=direction)
    drifts = [d.index for d in det.update(x) if d.severity == "drift"]
    if fires:
        assert drifts and 12_000 <= drifts[0] < 12_400
    else:
        assert drifts == []


def test_a_reference_at_the_edge_runs_only_the_chart_that_can_move():
    """A reference of 500 values with three 1s (an almost perfect model's errors): the falling
    chart cannot tell a fall (its calibration had crashed on a NaN) and is left out; the rising
    one runs and sees the rate rise; with no 1s at all and ``direction='down'`` nothing runs,
    nothing fires, and the values are still counted."""
    rng = np.random.default_rng(2)
    x = np.zeros(3_000)
    x[[30, 150, 420]] = 1.0
    x[1_000:] = rng.random(2_000) < 0.05
    both = BernoulliCUSUM(reference_size=500, alpha_drift=1e-4, alpha_warning=None, direction="both")
    assert both.update(x[:1_000]) == [] and len(both.state_dict()["charts"]) == 1  # the rising chart only
    drifts = [d.index for d in both.update(x[1_000:]) if d.severity == "drift"]
    assert drifts and drifts[0] < 500
    down = BernoulliCUSUM(reference_size=500, alpha_drift=1e-4, alpha_warning=None, direction="down")
    assert down.update(np.zeros(3_000)) == [] and down.state_dict()["charts"] == []
    assert down.state_dict()["count"] == 2_500


@pytest.mark.parametrize("kwargs, name", [
    ({"reference_size": 5}, "reference_size"), ({"odds_ratio": 1.0}, "odds_ratio"), ({"alpha_drift": 0.0}, "alpha_drift"),
    ({"direction": "sideways"}, "direction"), ({"alpha_drift": 1e-3, "alpha_warning": 1e-4}, "alpha_warning"),
])
def test_hyperparameters_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BernoulliCUSUM(**kwargs)


def test_values_other_than_0_and_1_are_refused():
    with pytest.raises(ValueError, match="BernoulliCUSUM"):
        BernoulliCUSUM().update(np.array([0.0, 0.5]))


def _drifted(det, x) -> int:
    drifts = [d.index for d in det.update(x) if d.severity == "drift"]
    assert drifts
    return drifts[0]


def test_a_restored_bernoulli_reference_is_the_one_before_the_drift_and_watches_at_once():
    rng = np.random.default_rng(9)
    x = (rng.random(4_000) < np.repeat([0.1, 0.5], [3_000, 1_000])).astype(float)
    det = BernoulliCUSUM(reference_size=2_000, alpha_warning=None, direction="up")
    det.update(x[:2_500])
    before = det.state_dict()["reference"]
    at = _drifted(det, x[2_500:]) + 2_500
    state = json.loads(json.dumps(det.state_dict()))
    assert state["reference"] is None and state["previous"] == before
    fresh = BernoulliCUSUM(reference_size=2_000, alpha_warning=None, direction="up")
    fresh.load_state_dict(state)
    for d in (det, fresh):
        d.restore_reference()
        assert d.state_dict()["reference"] == before and d.state_dict()["charts"] == [0]
        # the rate is still high: alerted again, on the old reference, without waiting for a new one
        again = [e.index for e in d.update(x[at + 1 :]) if e.severity == "drift"]
        assert again and again[0] < 100
    det.reset()
    det.restore_reference()  # nothing to restore: still collecting its first reference
    assert det.state_dict()["reference"] is None


def test_a_restored_rank_cusum_reference_is_the_one_before_the_drift():
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.normal(0, 1, 3_000), rng.normal(1, 1, 1_000)])
    det = RankCUSUM(reference_size=2_000, alpha_warning=None)
    det.update(x[:2_500])
    before = det.state_dict()["reference"]
    _drifted(det, x[2_500:])
    assert det.state_dict()["reference"] is None
    det.restore_reference()
    state = det.state_dict()
    assert state["reference"] == before and state["charts"] == [0, 0, 0, 0] and state["previous"] is None
    det.restore_reference()  # a complete reference: kept, the charts restarted
    assert det.state_dict()["reference"] == before


def test_a_chart_on_a_small_reference_for_a_rare_rate_is_calibrated_coarser_and_keeps_the_budget():
    """One 1 in 23 reference values: the rate averaged over its uncertainty needs a threshold far
    above the drift-free one, past the work a search may reach at the finest resolution; the chart
    is calibrated at a coarser one, and that threshold is exact for its steps."""
    from driftline.detectors.binary.bernoulli_arl import chart_calibration

    n, ones, alpha = 23, 1, 1e-5
    q0 = (ones + 0.5) / (n + 1.0)
    o1 = q0 / (1 - q0) * 2
    q1 = o1 / (1 + o1)
    up, down = math.log(q1 / q0), math.log((1 - q0) / (1 - q1))
    finest = integer_steps(up, down, alpha)
    a, c, _, (h,) = chart_calibration(up, down, q0, n, (2 / alpha,), alpha)
    assert max(a, c) < max(finest[:2])  # a coarser resolution than the first one
    assert calibrated_threshold(2 / alpha, *finest[:2], q0, n, 3e7, 8e6) is None  # the finest was given up
    assert budget_excess(h, 2 / alpha, a, c, q0, n) <= 0 < budget_excess(h - 1, 2 / alpha, a, c, q0, n)


@pytest.mark.parametrize("p0", [0.03, 0.5])
def test_the_usual_chart_is_calibrated_at_the_finest_resolution(p0):
    from driftline.detectors.binary.bernoulli_arl import chart_calibration

    o1 = p0 / (1 - p0) * 2
    q1 = o1 / (1 + o1)
    up, down, alpha = math.log(q1 / p0), math.log((1 - p0) / (1 - q1)), 1e-5
    a, c, unit = integer_steps(up, down, alpha)
    assert chart_calibration(up, down, p0, 10_000, (2 / alpha, 0.2 / alpha), alpha) == \
        (a, c, unit, [calibrated_threshold(t, a, c, p0, 10_000) for t in (2 / alpha, 0.2 / alpha)])
