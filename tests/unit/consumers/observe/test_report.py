"""The drift report from a backtest: series bounded, distributions at alerts, one HTML file."""

from __future__ import annotations

import math

import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.consumers.observe.report.page import from_backtest, render_html, severity_rows
from driftline.consumers.observe.stats import Series, StatsRecorder
from driftline.stream.synthetic import FEATURES, default_drifts, generate

N = 24_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    cfg = DriftlineConfig.model_validate({
        "stream": {"name": "unit", "features": FEATURES, "label": {"field": "label", "type": "binary"},
                   "prediction": {"field": "prediction", "type": "binary"}},
        "reference": {"first_n": 3000},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"]},
        "policies": [{"when": {"kind": "data_drift", "feature": "income"}, "do": ["quarantine"]}],
        "stats": {"points": 50},
    })
    path = tmp_path_factory.mktemp("report") / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(N, default_drifts(N), seed=2)))
    recorder = StatsRecorder(cfg.stats.points)
    result = backtest(cfg, path, chunk_size=500, on_chunk=recorder.backtest_chunk)
    return cfg, result, recorder


def test_series_keep_a_fixed_number_of_points_and_keep_the_peaks() -> None:
    s = Series(capacity=8)
    for i in range(100):
        s.add(float(i), i, 10.0 if i == 37 else 1.0, 5.0)
    assert 4 <= len(s) <= 8
    assert max(s.statistic) == 10.0 and s.x[0] == 0.0  # the spike survives, the span is whole
    assert s.x == sorted(s.x)


def test_recorder_samples_every_detector_with_its_threshold(run) -> None:
    cfg, result, recorder = run
    names = {name for name, _ in recorder.series}
    assert {"ks-income", "chi2-country", "bernoulli-error"} <= names
    for series in recorder.series.values():
        assert len(series) <= cfg.stats.points
        assert all(math.isnan(t) or t > 0 for t in series.threshold)
    assert len(recorder.learner) > 0 and 0 <= recorder.learner.statistic[-1] <= 1


def test_distributions_at_alerts_name_the_new_levels(run) -> None:
    _, result, recorder = run
    country = next(a for a in result.alerts if a.feature == "country" and a.severity == "drift")
    dist = recorder.distributions[country.alert_id]
    assert dist["type"] == "categorical" and "PL" in dist["new_levels"]
    assert sum(dist["current"]) == country.window.current_n
    income = next(a for a in result.alerts if a.feature == "income" and a.severity == "drift")
    hist = recorder.distributions[income.alert_id]
    assert hist["type"] == "numeric" and len(hist["edges"]) == len(hist["reference"]) + 1
    assert sum(hist["reference"]) == income.window.reference_n


def test_summary_puts_the_drifted_features_first(run) -> None:
    cfg, result, recorder = run
    rows = severity_rows(from_backtest(cfg, result, recorder, "unit"))
    drifted = [r["detector"] for r in rows if r["drifts"]]
    assert rows[: len(drifted)] == [r for r in rows if r["drifts"]]
    assert {"ks-income", "chi2-country"} <= set(drifted)


def test_html_is_self_contained_and_lists_every_plot(run) -> None:
    cfg, result, recorder = run
    data = from_backtest(cfg, result, recorder, "unit")
    page = render_html(data)
    assert "<script src=" not in page and "<link " not in page  # nothing fetched: opens offline
    assert page.count('class="plotly-graph-div"') == int(page.split('data-expected="')[1].split('"')[0])
    assert page.count('class="driftline-figure"') == int(page.split('data-expected="')[1].split('"')[0])
    for key in ("plot-timeline", "plot-stat-ks-income", "plot-dist-chi2-country", "plot-learner"):
        assert f'id="{key}"' in page
    assert data.actions[("quarantine", "would be taken")] >= 1 and data.quarantine_spans
    assert len(page) < 10_000_000


def test_the_performance_windows_go_from_the_judge_snapshot_to_the_live_report(tmp_path) -> None:
    """The judge publishes each closed window once; the live report draws them on its time axis."""
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from driftline.consumers.observe.report.live import _add_snapshot
    from driftline.consumers.observe.report.page import ReportData
    from driftline.consumers.observe.stats import snapshot_message

    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
    import performance_streams as ps

    cfg = DriftlineConfig.model_validate({
        "stream": {"name": "perf", "features": {"x1": "numeric", "x2": "numeric"},
                   "label": {"field": "label", "type": "binary"},
                   "prediction": {"field": "prediction", "type": "binary", "score": "proba"}},
        "reference": {"first_n": 3000}, "learner": {"enabled": False}})
    stream = ps.classification("covariate", n=9000, shift_at=6000, labelled=9000, seed=3)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(stream.raws) + b"\n")
    recorder = StatsRecorder(cfg.stats.points)
    result = backtest(cfg, path, chunk_size=2000, on_chunk=recorder.backtest_chunk)
    assert [w["index"] for w in recorder.performance] == list(range(9))
    role = SimpleNamespace(cfg=cfg, name="judge", stats=SimpleNamespace(
        consumed=9000, alerts=0, dead_letters=0, quarantined=0, actions=0, batches=1, rate=0.0, extra={}))
    first = snapshot_message(role, recorder, {}, now_ms=1)
    assert len(first["performance"]) == 9 and not snapshot_message(role, recorder, {}, now_ms=2)["performance"]
    data = ReportData(stream="perf", source="live", time_axis=True, alerts=list(result.alerts))
    _add_snapshot(data, cfg, orjson.loads(orjson.dumps(first)))
    page = render_html(data)
    assert 'id="plot-performance"' in page and "realised accuracy" in page and "estimated accuracy" in page
