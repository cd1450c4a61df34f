"""Label-free performance estimation through the monitor's engine, as backtest and the judge run it.

The streams are ``benchmarks/performance_streams.py``'s (the benchmark prints the same figures
over more seeds): only the first 10,000 events (the reference) carry a label, so every alert
and estimate after them uses no label at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from scipy.stats import poisson

from driftline.consumers.config.loading import ConfigError
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import parse_config
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.plan import monitor_plan
from driftline.stream.events import parse_events

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
import performance_streams as ps

REFERENCE = 10_000
WINDOW = 1000


def run(tmp_path: Path, stream: ps.Stream, text: str, chunk_size: int = 5000):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(stream.raws) + b"\n")
    engines = []
    result = backtest(parse_config(text), path, chunk_size=chunk_size,
                      on_chunk=lambda monitor, *_: engines.append(monitor))
    return result.alerts, engines[-1].performance


def performance_alerts(alerts):
    return [a for a in alerts if a.kind == "performance" and a.severity == "drift"]


def window_error(watch, stream: ps.Stream, metric: str) -> float:
    """Mean |estimated - realised| over the windows after the reference (relative for MAE)."""
    if metric == "mae":
        real = np.abs(stream.truth - stream.prediction).reshape(-1, WINDOW).mean(axis=1)
    else:
        real = (stream.truth == stream.prediction).reshape(-1, WINDOW).mean(axis=1)
    pairs = np.array([(w.estimated[metric], real[w.index]) for w in watch.history if w.index >= REFERENCE // WINDOW])
    gap = np.abs(pairs[:, 0] - pairs[:, 1])
    return float((gap / pairs[:, 1]).mean() if metric == "mae" else gap.mean())


def test_a_covariate_shift_toward_the_boundary_alerts_within_2000_events_without_labels(tmp_path: Path) -> None:
    stream = ps.classification("covariate", seed=11)
    assert not any(b"label" in raw for raw in stream.raws[REFERENCE:])  # no label after the reference
    accuracy = (stream.truth == stream.prediction).reshape(-1, WINDOW).mean(axis=1)
    assert accuracy[:15].mean() > 0.87 and accuracy[15:].mean() < 0.78  # ~0.90 -> ~0.75
    alerts, watch = run(tmp_path, stream, ps.config_text())
    fired = performance_alerts(alerts)
    assert fired, "no performance alert"
    first = fired[0]
    assert stream.shift_at <= first.position.offset < stream.shift_at + 2000
    assert first.detector == "cbpe-accuracy" and first.details["metric"] == "accuracy"
    assert first.details["reference"] == pytest.approx(accuracy[:10].mean(), abs=0.01)
    assert first.details["calibration"] in ("isotonic", "platt")
    assert window_error(watch, stream, "accuracy") < 0.03


def test_a_shift_that_leaves_accuracy_alone_is_estimated_unchanged_and_not_alarmed(tmp_path: Path) -> None:
    stream = ps.classification("covariate_neutral", seed=12)
    alerts, watch = run(tmp_path, stream, ps.config_text())
    assert {a.kind for a in alerts} >= {"data_drift", "prediction_drift"}  # the inputs did drift
    assert not performance_alerts(alerts)
    assert window_error(watch, stream, "accuracy") < 0.03


def test_a_pure_concept_drift_is_invisible_to_cbpe(tmp_path: Path) -> None:
    stream = ps.classification("concept", seed=13)
    alerts, watch = run(tmp_path, stream, ps.config_text())
    assert not performance_alerts(alerts)
    assert window_error(watch, stream, "accuracy") > 0.05  # the estimate misses the fall: its assumption broke


def test_dle_sees_a_regression_model_err_more_and_estimates_its_mae_within_15_percent(tmp_path: Path) -> None:
    stream = ps.regression(seed=14)
    alerts, watch = run(tmp_path, stream, ps.config_text("regression"))
    fired = performance_alerts(alerts)
    assert fired and stream.shift_at <= fired[0].position.offset < stream.shift_at + 2000
    assert fired[0].detector == "dle-mae" and fired[0].details["metric"] == "mae"
    assert fired[0].details["estimated"] > fired[0].details["reference"]
    assert window_error(watch, stream, "mae") < 0.15
    last = watch.history[-1]
    assert last.realised is None and set(last.estimated) == {"mae", "rmse"}


def test_realised_windows_and_the_estimation_error_where_labels_come(tmp_path: Path) -> None:
    stream = ps.classification("covariate", n=20_000, shift_at=12_000, labelled=20_000, seed=15)
    _, watch = run(tmp_path, stream, ps.config_text(first_n=5000))
    for w in watch.history:
        window = slice(w.index * WINDOW, (w.index + 1) * WINDOW)
        assert w.labelled == WINDOW
        assert w.realised["accuracy"] == pytest.approx((stream.truth == stream.prediction)[window].mean())
        assert w.error["accuracy"] == pytest.approx(abs(w.estimated["accuracy"] - w.realised["accuracy"]))
        assert set(w.estimated) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    summary = watch.summary()
    assert summary["realised_accuracy"] == watch.history[-1].realised["accuracy"]


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_same_alerts_and_windows_for_any_chunking_and_across_a_checkpoint(tmp_path: Path, task: str) -> None:
    stream = ps.regression(n=16_000, shift_at=12_000, seed=16) if task == "regression" else \
        ps.classification("covariate", n=16_000, shift_at=12_000, seed=16)
    text = ps.config_text(task)
    whole, watch = run(tmp_path, stream, text, chunk_size=16_000)
    pieces, watch2 = run(tmp_path, stream, text, chunk_size=997)
    assert [a.alert_id for a in whole] == [a.alert_id for a in pieces]
    assert [w.to_dict() for w in watch.history] == [w.to_dict() for w in watch2.history]
    # a judge restarted from its checkpoint (state as JSON) goes on as if never stopped
    cfg = parse_config(text)
    schema_batches = [parse_events(_schema(cfg), 0, list(range(i, i + 4000)), stream.raws[i:i + 4000])[0]
                      for i in range(0, 16_000, 4000)]
    engine = DriftEngine(monitor_plan(cfg))
    before = [a for b in schema_batches[:2] for a in engine.process(b, live=False)]
    state = orjson.loads(orjson.dumps(engine.state_dict()))
    restarted = DriftEngine(monitor_plan(cfg))
    restarted.load_state_dict(state)
    after = [a for b in schema_batches[2:] for a in restarted.process(b, live=False)]
    perf_ids = [a.alert_id for a in whole if a.kind == "performance"]
    assert perf_ids and [a.alert_id for a in before + after if a.kind == "performance"] == perf_ids


def _schema(cfg):
    from driftline.consumers.config.model import stream_schema

    return stream_schema(cfg)


def test_no_estimate_without_a_labelled_reference(tmp_path: Path) -> None:
    stream = ps.classification("covariate", n=14_000, labelled=50, seed=17)
    alerts, watch = run(tmp_path, stream, ps.config_text())
    assert not performance_alerts(alerts) and not watch.history
    assert "50 labelled reference events" in watch.off


@pytest.mark.parametrize(("prediction", "expect"), [
    ("{field: prediction, type: binary, score: {a: pa, b: pb}}", "one field, the probability of class 1"),
    ("{field: prediction, type: multiclass, score: pa}", "maps each class"),
    ("{field: prediction, type: regression, score: pa}", "has no score"),
    ("{field: prediction, type: binary, score: label}", "already another field"),
])
def test_score_mistakes_name_the_key_line_and_why(prediction: str, expect: str) -> None:
    text = ps.config_text().replace("{field: prediction, type: binary, score: proba}", prediction)
    if "regression" in prediction:
        text = text.replace("{field: label, type: binary}", "{field: label, type: regression}")
    with pytest.raises(ConfigError) as info:
        parse_config(text, filename="c.yaml")
    message = str(info.value)
    assert "stream.prediction.score" in message and expect in message and "line" in message, message


def test_a_score_outside_zero_one_is_rejected_with_its_field() -> None:
    cfg = parse_config(ps.config_text())
    raws = [b'{"id": "a", "ts": 1, "features": {"x1": 1, "x2": 2}, "prediction": 1, "proba": 1.5}',
            b'{"id": "b", "ts": 2, "features": {"x1": 1, "x2": 2}, "prediction": 1, "proba": 0.7}']
    batch, rejects = parse_events(_schema(cfg), 0, [0, 1], raws)
    assert [r.offset for r in rejects] == [0] and "score 'proba'" in rejects[0].error
    assert batch.scores.tolist() == [[0.7]] and batch.undeclared == 0


def kind_performance_list(extra: str = "") -> str:
    return ps.config_text(drift="1 per 10000 events", extra=f"""detectors:
  - {{name: cbpe-accuracy, method: cusum, kind: performance, options: {{direction: down}}}}
{extra}""")


def test_a_listed_performance_detector_needs_an_estimate() -> None:
    text = kind_performance_list().replace(", score: proba", "")
    with pytest.raises(ConfigError, match="kind performance watches the estimated performance"):
        parse_config(text)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["none", "covariate_neutral"])
def test_performance_false_alarms_stay_within_the_budget(tmp_path: Path, kind: str) -> None:
    """Fixed seeds, many trials: the performance detector alone holds the whole budget of
    1 per 10,000 events, so its false alarms are countable; with ``auto`` at the default budget
    it holds a share of 1 per 1,000,000 and never fires."""
    trials, n = 20, 20_000
    fired = fired_auto = 0
    for seed in range(trials):
        stream = ps.classification(kind, n=n, shift_at=12_000, seed=1000 + seed)
        fired += len(performance_alerts(run(tmp_path, stream, kind_performance_list())[0]))
        fired_auto += len(performance_alerts(run(tmp_path, stream, ps.config_text())[0]))
    budget = trials * (n - REFERENCE) * 1e-4  # the events judged against the reference
    assert fired <= poisson.ppf(1 - 1e-3, budget), (fired, budget)
    assert fired_auto <= poisson.ppf(1 - 1e-3, trials * (n - REFERENCE) * 1e-6)


def multiclass_events(n: int, seed: int) -> list[bytes]:
    """Three classes, softmax scores of a fixed model; labels drawn from tempered scores."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.exp(logits * 0.7) / np.exp(logits * 0.7).sum(axis=1, keepdims=True)  # less sure than the model
    y = (rng.uniform(size=(n, 1)) > np.cumsum(truth, axis=1)).sum(axis=1)
    names = np.array(["a", "b", "c"])
    return [orjson.dumps({"id": f"m{i}", "ts": i, "features": {"x1": float(logits[i, 0]), "x2": 0.0},
                          "prediction": str(names[p[i].argmax()]), "label": str(names[y[i]]),
                          "pa": float(p[i, 0]), "pb": float(p[i, 1]), "pc": float(p[i, 2])}) for i in range(n)]


def test_multiclass_scores_cross_the_codes_and_estimate_accuracy(tmp_path: Path) -> None:
    from driftline.stream.codes import PartitionCodes, decode, encode

    text = ps.config_text().replace("type: binary, score: proba", "type: multiclass, score: {a: pa, b: pb, c: pc}")
    text = text.replace("{field: label, type: binary}", "{field: label, type: multiclass}")
    cfg = parse_config(text)
    raws = multiclass_events(16_000, seed=18)
    batch = parse_events(_schema(cfg), 0, list(range(len(raws))), raws)[0]
    assert batch.scores.shape == (16_000, 3)
    back = decode(encode(PartitionCodes(0, batch))).batch
    assert np.array_equal(back.scores, batch.scores) and back.ids == batch.ids
    engine = DriftEngine(monitor_plan(cfg))
    engine.process(back, live=False)
    watch = engine.performance
    assert watch.cbpe is not None and watch.classes == ("a", "b", "c")
    real = [w.realised["accuracy"] for w in watch.history if w.index >= REFERENCE // WINDOW]
    est = [w.estimated["accuracy"] for w in watch.history if w.index >= REFERENCE // WINDOW]
    raw_confidence = float(batch.scores.max(axis=1).mean())  # what uncalibrated scores would claim
    assert np.mean(real) < raw_confidence - 0.05  # calibration had work to do
    assert np.abs(np.array(est) - np.array(real)).mean() < 0.03


def test_policies_act_on_performance_alerts(tmp_path: Path) -> None:
    from driftline.consumers.core.policies import actions_for

    text = ps.config_text(extra="policies:\n  - when: {kind: performance}\n    do: [retrain]")
    alerts, _ = run(tmp_path, ps.classification("covariate", n=17_000, seed=19), text)
    cfg = parse_config(text)
    fired = performance_alerts(alerts)
    assert fired and actions_for(cfg.policies, fired[0]) == [("retrain", 0)]


def test_a_reference_file_fits_the_calibration_before_the_first_event(tmp_path: Path) -> None:
    stream = ps.classification("covariate", n=22_000, shift_at=15_000, seed=20)
    reference = tmp_path / "reference.jsonl"
    reference.write_bytes(b"\n".join(stream.raws[:REFERENCE]) + b"\n")
    live = ps.Stream(stream.raws[REFERENCE:], stream.truth[REFERENCE:], stream.prediction[REFERENCE:], 0, "covariate")
    text = ps.config_text().replace("reference: {first_n: 10000}", f"reference: {{file: {reference}}}")
    alerts, watch = run(tmp_path, live, text)
    assert watch.cbpe is not None and watch.history[0].index == 0  # windows from the first live event
    fired = performance_alerts(alerts)
    assert fired and 15_000 <= int(fired[0].position.event_id[1:]) < 17_000


def test_status_and_prometheus_read_the_judges_counters() -> None:
    """The judge's counters (``PerformanceWatch.summary``) as ``status`` prints them and as
    Prometheus gauges, and the reason when there is no estimate."""
    from prometheus_client.core import GaugeMetricFamily

    from driftline.consumers.observe.status import _performance, _performance_lines
    from driftline.consumers.observe.telemetry import _performance as gauges

    extra = {"performance_metric": "accuracy", "estimated_window": 7, "estimated_accuracy": 0.81,
             "estimated_f1": 0.8, "realised_window": 6, "realised_accuracy": 0.79, "estimation_error_accuracy": 0.02,
             "judged": 8000}
    lines = _performance_lines(_performance(extra))
    assert lines == ["deployed model, estimated without labels (window 7): accuracy 0.810  f1 0.800",
                     "deployed model, realised (window 6): accuracy 0.790",
                     "deployed model, estimation error (window 6): accuracy 0.020"]
    off = _performance_lines(_performance({"performance_metric": "mae", "performance_off": "3 labelled"}))
    assert off == ["deployed model's performance: not estimated (3 labelled)"]
    families: list[GaugeMetricFamily] = list(gauges(["stream", "role"], ["s", "judge"], extra))
    found = {(f.name, s.labels["metric"]): s.value for f in families for s in f.samples}
    assert found == {("driftline_estimated_metric", "accuracy"): 0.81, ("driftline_estimated_metric", "f1"): 0.8,
                     ("driftline_realised_metric", "accuracy"): 0.79,
                     ("driftline_estimation_error", "accuracy"): 0.02}
