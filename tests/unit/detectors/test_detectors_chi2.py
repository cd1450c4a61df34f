"""Chi2Categorical: statistic against SciPy, pooling, unseen levels, detection power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from driftline.detectors import Chi2Categorical
from driftline.detectors.categorical.chi2 import chi2_statistic

CHANGE = 20_000


@pytest.mark.parametrize("seed", range(10))
def test_statistic_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 12)
    table = np.vstack([rng.multinomial(10_000, rng.dirichlet(np.ones(k))),
                       rng.multinomial(1_000, rng.dirichlet(np.ones(k)))])
    table[:, rng.integers(0, k)] = 0  # a column with zero total is dropped
    stat, dof = chi2_statistic(table)
    kept = table[:, table.sum(axis=0) > 0]
    ref = chi2_contingency(kept, correction=False)
    assert stat == pytest.approx(ref.statistic, rel=1e-10) and dof == ref.dof


def pooled_table(ref_values, window_values, window, min_expected=5.0):
    levels, counts = np.unique(ref_values, return_counts=True)
    common = [lv for lv, c in zip(levels, counts) if c / len(ref_values) * window >= min_expected]
    rare_expected = sum(c for lv, c in zip(levels, counts) if lv not in common) / len(ref_values) * window
    # a pool of rare levels expected fewer than min_expected times joins the least frequent level
    pool = min(common, key=lambda lv: counts[list(levels).index(lv)]) if 0 < rare_expected < min_expected else "(rare)"
    cols = common + ["(rare)", "(unseen)"]
    def column(v):
        return v if v in common else (pool if v in set(levels) else "(unseen)")
    table = np.zeros((2, len(cols)), dtype=int)
    for row, vals in enumerate([ref_values, window_values]):
        for v in vals:
            table[row, cols.index(column(v))] += 1
    return table[:, table.sum(axis=0) > 0]


def test_detection_matches_chi2_contingency_on_pooled_table():
    rng = np.random.default_rng(4)
    levels = np.array(["a", "b", "c", "r1", "r2"], dtype=object)
    before = rng.choice(levels, CHANGE, p=[0.5, 0.3, 0.197, 0.002, 0.001])
    after = rng.choice(np.append(levels, "zz"), 3_000, p=[0.4, 0.3, 0.2, 0.02, 0.01, 0.07])
    x = np.concatenate([before, after])
    d = Chi2Categorical().update(x)[0]
    table = pooled_table(x[:10_000], x[d.index - 999 : d.index + 1], 1_000)
    ref = chi2_contingency(table, correction=False)
    assert d.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert d.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert (d.reference_n, d.current_n) == (10_000, 1_000)


@pytest.mark.parametrize("seed", range(3))
def test_detects_frequency_shift_once(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.choice(list("abcd"), CHANGE, p=[0.4, 0.3, 0.2, 0.1]),
                        rng.choice(list("abcd"), 8_000, p=[0.3, 0.3, 0.3, 0.1])]).astype(object)
    drifts = [d.index for d in Chi2Categorical().update(x) if d.severity == "drift"]
    assert len(drifts) == 1 and CHANGE <= drifts[0] < CHANGE + 1_500


@pytest.mark.parametrize("seed", range(3))
def test_detects_new_level_once_and_names_it(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.choice(list("abcd"), CHANGE, p=[0.4, 0.3, 0.2, 0.1]),
                        rng.choice(list("abcdz"), 12_000, p=[0.35, 0.3, 0.2, 0.1, 0.05])]).astype(object)
    det = Chi2Categorical()
    drifts = []
    for start in range(0, len(x), 4_000):
        drifts += [d.index + start for d in det.update(x[start : start + 4_000]) if d.severity == "drift"]
        if drifts and len(drifts) == 1 and start < CHANGE + 4_000:
            assert det.unseen_levels == ["z"]
    assert len(drifts) == 1 and CHANGE <= drifts[0] < CHANGE + 500
    assert det.unseen_levels == []  # the new reference (complete by 31_000) contains "z"


def test_unseen_levels_are_bounded_and_most_recent():
    det = Chi2Categorical(reference_size=100, window=100, stride=100, alpha_drift=1e-300, alpha_warning=None)
    det.fit_reference(["a"] * 1_000)
    det.update(np.array([f"u{i:02d}" for i in range(30)] + ["u00"], dtype=object))
    assert det.unseen_levels == sorted(["u00"] + [f"u{i:02d}" for i in range(11, 30)])


def test_missing_values_and_mixed_objects():
    det = Chi2Categorical(reference_size=10, window=10, stride=10)
    det.update(np.array(["a", None, float("nan"), 1, "b"] * 4, dtype=object))
    assert det.state_dict()["reference_counts"] == {"1": 3, "a": 4, "b": 3}


@pytest.mark.parametrize(
    "kwargs, name",
    [({"reference_size": 3}, "reference_size"), ({"window": 2}, "window"), ({"stride": 0}, "stride"),
     ({"alpha_drift": 2.0}, "alpha_drift"), ({"alpha_warning": 1e-7}, "alpha_warning"),
     ({"min_expected": 0}, "min_expected")],
)
def test_validation_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Chi2Categorical(**kwargs)
