"""Contract checks run on every detector: batch invariance, state round trip, bounded state,
timestamps, and purity of the detectors package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.detectors import (
    ADWIN,
    DDM,
    EDDM,
    HDDM,
    BernoulliCUSUM,
    Chi2Categorical,
    CvMWindow,
    JSWindow,
    KSWindow,
    PageHinkley,
    PCAReconstruction,
    PSIWindow,
    QualityCategorical,
    QualityNumeric,
    RankCUSUM,
    SchemaErrors,
    WassersteinWindow,
)

N = 6_000


def ks_case():
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 1, 2_000), rng.normal(1, 1, 2_000), rng.normal(0, 2, 2_000)])
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: KSWindow(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def chi2_case():
    rng = np.random.default_rng(12)
    levels = np.array(["a", "b", "c", "d", "e"], dtype=object)
    x = np.concatenate([
        rng.choice(levels, 2_000, p=[0.5, 0.3, 0.15, 0.04, 0.01]),
        rng.choice(levels, 2_000, p=[0.3, 0.3, 0.3, 0.05, 0.05]),
        rng.choice(np.array(["a", "b", "new1", "new2"], dtype=object), 2_000, p=[0.5, 0.3, 0.1, 0.1]),
    ]).astype(object)
    x[rng.random(N) < 0.05] = None
    make = lambda: Chi2Categorical(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def ddm_case():
    rng = np.random.default_rng(13)
    p = np.repeat([0.1, 0.4, 0.1], 2_000)
    x = (rng.random(N) < p).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    return DDM, x


def cvm_case():
    rng = np.random.default_rng(14)
    x = np.concatenate([rng.normal(0, 1, 2_000), rng.normal(0, 1.6, 2_000), rng.normal(0, 3, 2_000)])
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: CvMWindow(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def cusum_case():
    rng = np.random.default_rng(15)
    x = np.concatenate([rng.normal(0, 1, 2_000), rng.normal(0.4, 1, 2_000), rng.normal(0, 2, 2_000)])
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: RankCUSUM(reference_size=300, block=5, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def quality_case():
    rng = np.random.default_rng(16)
    x = rng.normal(0, 1, N)
    x[rng.random(N) < np.repeat([0.02, 0.10, 0.02], 2_000)] = np.nan
    x[4_000:] *= 1.5  # values out of the reference's range
    make = lambda: QualityNumeric(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def quality_cat_case():
    rng = np.random.default_rng(17)
    x = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), N).astype(object)
    x[2_000:4_000][rng.random(2_000) < 0.06] = "new"
    x[rng.random(N) < np.repeat([0.02, 0.02, 0.12], 2_000)] = None
    make = lambda: QualityCategorical(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def pca_case():
    rng = np.random.default_rng(18)
    cov = lambda r: [[1, r], [r, 1]]
    x = np.vstack([rng.multivariate_normal([0, 0], cov(r), 2_000) for r in (0.8, -0.3, 0.8)])
    x[rng.random(N) < 0.03, rng.integers(0, 2)] = np.nan
    make = lambda: PCAReconstruction(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def ks_sliding_case():
    _, x = ks_case()
    make = lambda: KSWindow(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2,
                            sliding=True)
    return make, x


def cusum_up_case():
    rng = np.random.default_rng(19)
    x = (rng.random(N) < np.repeat([0.1, 0.3, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: RankCUSUM(reference_size=300, block=5, alpha_drift=1e-4, alpha_warning=1e-2, direction="up")
    return make, x


def adwin_case():
    rng = np.random.default_rng(20)
    x = (rng.random(N) < np.repeat([0.1, 0.4, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    return ADWIN, x


def page_hinkley_case():
    rng = np.random.default_rng(21)
    x = (rng.random(N) < np.repeat([0.1, 0.4, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    return PageHinkley, x


def eddm_case():
    rng = np.random.default_rng(25)
    x = (rng.random(N) < np.repeat([0.1, 0.4, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    return EDDM, x


def hddm_case():
    rng = np.random.default_rng(26)
    x = (rng.random(N) < np.repeat([0.1, 0.4, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    return HDDM, x


def schema_case():
    rng = np.random.default_rng(27)
    x = (rng.random(N) < np.repeat([0.01, 0.08, 0.01], 2_000)).astype(float)  # rejected messages
    make = lambda: SchemaErrors(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def bernoulli_case():
    rng = np.random.default_rng(28)
    x = (rng.random(N) < np.repeat([0.3, 0.45, 0.15], 2_000)).astype(float)  # rising, then falling
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: BernoulliCUSUM(reference_size=300, alpha_drift=1e-4, alpha_warning=1e-2)
    return make, x


def bernoulli_up_case():
    rng = np.random.default_rng(29)
    x = (rng.random(N) < np.repeat([0.1, 0.3, 0.1], 2_000)).astype(float)
    x[rng.random(N) < 0.05] = np.nan
    make = lambda: BernoulliCUSUM(reference_size=300, alpha_drift=1e-4, alpha_warning=1e-2, direction="up")
    return make, x


def distance_case(cls, seed):
    def case():
        rng = np.random.default_rng(seed)
        x = np.concatenate([rng.normal(0, 1, 2_000), rng.normal(0.8, 1, 2_000), rng.normal(0, 2, 2_000)])
        x[rng.random(N) < 0.05] = np.nan
        make = lambda: cls(reference_size=300, window=100, stride=10, alpha_drift=1e-4, alpha_warning=1e-2,
                           simulations=200)
        return make, x
    return case


CASES = {
    "ks": ks_case, "chi2": chi2_case, "ddm": ddm_case, "cvm": cvm_case, "cusum": cusum_case,
    "quality": quality_case, "quality_cat": quality_cat_case, "pca": pca_case, "cusum_up": cusum_up_case,
    "adwin": adwin_case, "page_hinkley": page_hinkley_case, "ks_sliding": ks_sliding_case, "psi": distance_case(PSIWindow, 22),
    "js": distance_case(JSWindow, 23), "wasserstein": distance_case(WassersteinWindow, 24),
    "eddm": eddm_case, "hddm": hddm_case, "schema": schema_case,
    "bernoulli": bernoulli_case, "bernoulli_up": bernoulli_up_case,
}
#: detectors without a warning level: their cases need only drifts
NO_WARNINGS = {"adwin", "page_hinkley"}
TS = 1_700_000_000_000 + 10 * np.arange(N, dtype=np.int64)


def feed(det, x, sizes, ts=TS, start=0):
    """Feed x[start:] in chunks of the given sizes (cycled); detections with global indices."""
    out, pos, i = [], start, 0
    while pos < len(x):
        k = sizes[i % len(sizes)]
        for d in det.update(x[pos : pos + k], None if ts is None else ts[pos : pos + k]):
            out.append((d.index + pos, d))
        pos, i = pos + k, i + 1
    return [(g, d.severity, d.statistic, d.p_value, d.threshold, d.reference_n, d.current_n,
             d.start_ts, d.end_ts) for g, d in out]


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]()


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_has_drifts_and_warnings(name):
    make, x = CASES[name]()
    sev = [d[1] for d in feed(make(), x, [N])]
    assert "drift" in sev and ("warning" in sev or name in NO_WARNINGS)


def test_one_batch_equals_one_by_one_and_random_chunks(case):
    make, x = case
    whole_det = make()
    whole = feed(whole_det, x, [N])
    single_det = make()
    assert feed(single_det, x, [1]) == whole
    assert json.dumps(single_det.state_dict()) == json.dumps(whole_det.state_dict())
    for seed in range(3):
        sizes = list(np.random.default_rng(seed).integers(1, 700, size=50))
        assert feed(make(), x, sizes) == whole


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 1_500), min_size=1, max_size=20))
def test_batch_invariance_hypothesis(case, sizes):
    make, x = case
    assert feed(make(), x, sizes) == feed(make(), x, [N])


@pytest.mark.parametrize("split", [150, 310, 2_500, 4_321])
def test_state_round_trip(case, split):
    make, x = case
    whole = feed(make(), x, [N])
    det = make()
    first = feed(det, x[:split], [97], ts=TS[:split])
    state = json.loads(json.dumps(det.state_dict(), allow_nan=False))
    fresh = make()
    fresh.load_state_dict(state)
    assert first + feed(fresh, x, [N], start=split) == whole


def test_state_is_bounded(case):
    make, x = case
    det = make()
    det.update(np.concatenate([x, x, x]))
    state = det.state_dict()
    sizes = [getattr(det, "reference_size", 0), getattr(det, "window", 0)]
    dims = x.shape[1] if x.ndim == 2 else 1
    assert len(json.dumps(state)) <= 30 * dims * (sizes[0] + 2 * sizes[1]) + 2_000
    assert state["version"] == 1
    if state.get("history"):
        assert len(state["history"]) <= det.reference_size and state["reference"] is None
    for key in ("window", "window_ts"):
        if key in state:
            assert len(state[key]) <= det.window
    if "reference" in state and state["reference"] is not None:
        assert len(state["reference"]) <= det.reference_size
    if "unseen" in state:
        assert len(state["unseen"]) <= 20


def test_last_statistic(case):
    make, x = case
    det = make()
    assert det.last_statistic is None
    found = det.update(x)
    stat, threshold = det.last_statistic
    assert np.isfinite(stat) and np.isfinite(threshold)
    det.reset()
    assert det.last_statistic is None and found


def test_reset_forgets(case):
    make, x = case
    det = make()
    first = feed(det, x, [N])
    det.reset()
    assert feed(det, x, [N]) == first


def test_timestamps(case):
    make, x = case
    for g, *_rest, start_ts, end_ts in feed(make(), x, [N]):
        assert end_ts == TS[g]
        assert start_ts is not None and start_ts <= end_ts
    assert all(d[-2] is None and d[-1] is None for d in feed(make(), x, [N], ts=None))


def test_window_timestamps_span_the_window():
    make, x = ks_case()
    det = make()
    for d in det.update(x, TS):
        present = np.flatnonzero(~np.isnan(x[: d.index + 1]))
        assert d.start_ts == TS[present[-det.window]]


def test_all_missing_batch_does_nothing(case):
    make, x = case
    det = make()
    before = json.dumps(det.state_dict())
    missing = np.full(50, None, dtype=object) if det.input_type == "categorical" else np.full(50, np.nan)
    if x.ndim == 2:
        missing = np.full((50, x.shape[1]), np.nan)
    if isinstance(det, (QualityNumeric, QualityCategorical)):
        assert det.update(missing[:0]) == []  # missing values are what these detectors count
        return
    assert det.update(missing) == [] and det.update(missing[:0]) == []
    assert json.dumps(det.state_dict()) == before


def test_detectors_package_is_pure():
    forbidden = {"kafka", "driftline.stream", "driftline.consumers", "driftline.learners"}
    pkg = Path(__file__).resolve().parents[3] / "detectors"
    for path in pkg.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (path, name)
                assert not name.startswith(("..stream", "..consumers", "..learners")), (path, name)
