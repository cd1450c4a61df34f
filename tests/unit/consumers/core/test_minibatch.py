"""The learner in mini-batches (``models.minibatch``): the same model, errors and concept alerts
whatever the polls and across a checkpoint; quarantined events scored, not learned; models
without mini-batches unchanged; missing values without weight."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.learners import minibatch as mb
from driftline.learners.minibatch import Columns, MiniBatchPlan
from driftline.learners.online import EstimatorSpec, build_pipeline
from driftline.stream.events import parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.messages import Alert, Position, Window
from driftline.stream.synthetic import FEATURES, Drift, generate, late_labels

CHANGE = 3000


def config(minibatch: int = 256, model: str = "river.linear_model.LogisticRegression",
           policies: list[dict[str, Any]] | None = None) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 1000},
        "learner": {"model": model, "preprocessing": ["river.preprocessing.StandardScaler"]},
        "policies": [{"when": {"kind": "concept_drift"}, "do": ["quarantine"]}] if policies is None else policies,
        "models": {"minibatch": minibatch},
    })


def drifting(seed: int = 2, n: int = 6000) -> tuple[list[dict], list[dict]]:
    """A concept change at ``CHANGE``; a third of the labels inline, the rest known 0-2 s late."""
    events = list(generate(n, [Drift("concept drift", "concept_drift", None, CHANGE, "flip")], seed=seed))
    return events, late_labels(events, 2 / 3, 2000, seed=seed)


class Run:
    """A learner core fed in polls, recording each error (by event id), each prediction and the alerts."""

    def __init__(self, cfg: DriftlineConfig, label_partitions: list[int] | None = None):
        self.cfg = cfg
        self.core = LearnerCore(cfg, learner_plan(cfg), live=False, label_partitions=label_partitions or [])
        self.alerts: list[tuple[str, str | None]] = []
        self.errors: dict[str, float] = {}
        self.predictions: dict[str, Any] = {}
        self._watch(self.core)

    def _watch(self, core: LearnerCore) -> None:
        engine = core.engine()
        judge = engine.process_errors

        def process_errors(errors: np.ndarray, partitions: Any, offsets: Any, ts: Any, ids: list[str],
                           **kw: Any) -> list[Alert]:
            self.errors.update(zip(ids, errors.tolist()))
            return judge(errors, partitions, offsets, ts, ids, **kw)

        engine.process_errors = process_errors  # type: ignore[method-assign]
        score = core.learner.score_many

        def score_many(cols: Columns, ys: Any) -> tuple[np.ndarray, np.ndarray]:
            errors, predictions = score(cols, ys)
            rows = core.minibatch.unscored
            self.predictions.update((r.event.event_id, p) for r, p in zip(rows, predictions.tolist()))
            return errors, predictions

        core.learner.score_many = score_many  # type: ignore[method-assign]

    def feed(self, events: list[dict], labels: list[dict], poll: int, start: int = 0,
             flush: bool = True) -> None:
        schema = stream_schema(self.cfg)
        for at in range(0, max(len(events), len(labels)), poll):
            chunk = events[at:at + poll]
            if chunk:
                b, rejects = parse_events(schema, 0, list(range(start + at, start + at + len(chunk))),
                                          [orjson.dumps(e) for e in chunk])
                assert not rejects and not self.core.add_events(b)
            lab = labels[at:at + poll]
            if lab:
                rows, rejects = parse_label_messages(0, list(range(at, at + len(lab))),
                                                     [orjson.dumps(x) for x in lab], "id", "label", "binary")
                assert not rejects
                self.core.add_labels(0, rows)
            self._step()
        if flush:
            self._step(flush=True)

    def all_errors(self) -> dict[str, float]:
        """The errors judged, and those of the last block, not yet judged (it is not over)."""
        return self.errors | dict(zip(self.core.errors.ids, self.core.errors.errors))

    def _step(self, flush: bool = False) -> None:
        out = self.core.step(flush=flush)
        assert not out.unusable
        self.alerts += [(a.alert_id, a.position.event_id) for a in out.alerts if a.kind == "concept_drift"]


def weights(core: LearnerCore) -> dict[str, float]:
    return dict(core.learner.pipeline.steps[list(core.learner.pipeline.steps)[-1]]._weights.to_dict())


def test_the_mini_batches_are_the_same_whatever_the_polls_and_as_in_backtest(tmp_path: Path) -> None:
    """Polls of 1, 7 and 5,000 events (and labels): the same predictions, errors, concept alerts
    (ids included, quarantines opened by them) and model; the backtest of the files too."""
    events, labels = drifting()
    runs = []
    for poll in (1, 7, 5000):
        run = Run(config(), label_partitions=[0])
        run.feed(events, labels, poll)
        runs.append(run)
    first = runs[0]
    assert first.core.learner.plan() is not None
    drifts = [eid for _, eid in first.alerts]
    assert drifts and min(int(e.split("-")[1]) for e in drifts) >= CHANGE  # found, after the change
    assert first.core.learner.trained < first.core.learner.seen == len(events)  # quarantined: not learned
    assert len(first.predictions) == len(first.all_errors()) == len(events)
    for run in runs[1:]:
        assert run.alerts == first.alerts
        assert run.predictions == first.predictions
        assert run.all_errors() == first.all_errors()
        assert weights(run.core) == weights(first.core)
        assert run.core.learner.trained == first.core.learner.trained
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in labels))
    result = backtest(config(), tmp_path / "events.jsonl", labels=tmp_path / "labels.jsonl")
    expected = [(a.alert_id, a.position.event_id) for a in result.alerts if a.kind == "concept_drift"]
    assert sorted(expected) == sorted(first.alerts)
    assert result.learner is not None and weights(result.learner) == weights(first.core)


def test_a_checkpoint_with_a_pending_mini_batch_restores_to_the_same_run() -> None:
    """Cut where rows wait in the mini-batch (scored, not learned): the restored learner gives
    the same errors, alerts and model as the run that was never cut."""
    events, labels = drifting(seed=3)
    cut_at = 1500
    whole = Run(config(), label_partitions=[0])
    whole.feed(events, labels, 50)
    first = Run(config(), label_partitions=[0])
    first.feed(events[:cut_at], labels[:cut_at], 50, flush=False)
    assert 0 < len(first.core.minibatch) < 256 and first.core.minibatch_pending  # scored, not learned
    restored = Run(config(), label_partitions=[0])
    restored.core.load_state_dict(json.loads(json.dumps(first.core.state_dict())), first.core.blob())
    restored._watch(restored.core)  # the restore builds its engines anew
    assert len(restored.core.minibatch) == len(first.core.minibatch)
    restored.feed(events[cut_at:], labels[cut_at:], 50, start=cut_at)
    assert first.alerts + restored.alerts == whole.alerts and whole.alerts
    assert first.errors | restored.all_errors() == whole.all_errors()
    assert weights(restored.core) == weights(whole.core)
    assert restored.core.learner.trained == whole.core.learner.trained


def test_a_pending_mini_batch_restored_one_by_one_is_learned_at_once() -> None:
    """A checkpoint with rows pending, restored with ``models.minibatch: 1``: they are learned
    on restore, one by one, none lost."""
    events, labels = drifting(seed=3)
    first = Run(config(), label_partitions=[0])
    first.feed(events[:1500], labels[:1500], 50, flush=False)
    waiting = first.core.minibatch_pending
    assert waiting
    restored = Run(config(minibatch=1), label_partitions=[0])
    restored.core.load_state_dict(json.loads(json.dumps(first.core.state_dict())), first.core.blob())
    assert len(restored.core.minibatch) == 0
    assert restored.core.learner.trained == first.core.learner.trained + waiting


def test_quarantined_events_are_scored_not_learned_in_mini_batches() -> None:
    """A quarantine from offset 100 of 300: all 300 scored, the first 100 learned; they count in
    the learning order, so the model is the one learned from the first 100 alone (batches of 64)."""
    cfg = config(minibatch=64, policies=[{"when": {"kind": "data_drift"}, "do": ["quarantine"]}])
    events = list(generate(300, [], seed=2))
    alert = Alert(alert_id="q", stream="t", kind="data_drift", severity="drift", feature="income",
                  detector="ks-income", statistic=1.0, p_value=0.0, threshold=1e-6,
                  position=Position(partition=0, offset=100), window=Window(reference_n=1, current_n=1),
                  detected_at=0)
    held = Run(cfg)
    held.core.observe([alert])
    held.feed(events, [], 300)
    assert held.core.learner.seen == 300 and held.core.learner.trained == 100
    alone = Run(cfg)
    alone.feed(events[:100], [], 300)
    assert alone.core.learner.trained == 100
    assert weights(held.core) == weights(alone.core) and weights(held.core)
    every = Run(config(minibatch=64))
    every.feed(events, [], 300)
    assert every.core.learner.trained == 300 and weights(every.core) != weights(held.core)


def test_a_model_without_mini_batches_learns_one_by_one_with_the_same_errors() -> None:
    """Gaussian naive Bayes has no mini-batch plan: ``minibatch: 256`` and ``1`` give the same
    errors, predictions' errors and alerts, event by event."""
    events, labels = drifting(seed=4, n=4000)
    runs = []
    for size in (256, 1):
        run = Run(config(minibatch=size, model="river.naive_bayes.GaussianNB"), label_partitions=[0])
        run.feed(events, labels, 300)
        runs.append(run)
    assert runs[0].core.learner.plan() is None
    assert runs[0].all_errors() == runs[1].all_errors() and len(runs[0].all_errors()) == len(events)
    assert runs[0].alerts == runs[1].alerts
    assert runs[0].core.learner.trained == runs[1].core.learner.trained


def test_one_by_one_and_mini_batches_agree_on_the_model_s_quality() -> None:
    """Not the same model, but as good: the error rate after the change settles within 0.02."""
    events, labels = drifting(seed=5)
    rates = []
    for size in (1, 256):
        run = Run(config(minibatch=size, policies=[]), label_partitions=[0])
        run.feed(events, labels, 500)
        errors = run.all_errors()
        late = [errors[e["id"]] for e in events[CHANGE + 1000:]]
        rates.append(sum(late) / len(late))
    assert abs(rates[0] - rates[1]) < 0.02, rates


def test_a_refused_mini_batch_is_learned_one_by_one_and_the_bad_event_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model refuses one row: the batch is learned one by one, that event is routed as
    unusable with the model's reason, the others learned."""
    events = list(generate(64, [], seed=6))
    bad = events[10]["features"]["income"]
    monkeypatch.setattr(MiniBatchPlan, "learn", lambda self, cols, y: (_ for _ in ()).throw(ValueError("refused")))
    cfg = config(minibatch=64)
    run = Run(cfg)
    learn_one = run.core.learner.pipeline.learn_one

    def picky(x: dict[str, Any], y: Any) -> None:
        if x.get("income") == bad:
            raise ValueError("this one, never")
        learn_one(x, y)

    run.core.learner.pipeline.learn_one = picky  # type: ignore[method-assign]
    run.core.add_events(parse_events(stream_schema(cfg), 0, list(range(64)), [orjson.dumps(e) for e in events])[0])
    out = run.core.step(flush=True)
    [reject] = out.unusable
    assert reject.offset == 10 and "this one, never" in reject.error
    assert run.core.learner.trained == 63 and run.core.unusable == 1


def test_a_missing_value_gets_no_weight_in_mini_batches() -> None:
    """The scaler learns only the values present; a row with a value missing is scored as
    ``predict_one`` scores it with the key absent."""
    numeric, categorical = ["a", "b"], ["c"]
    pipeline = build_pipeline(EstimatorSpec("river.linear_model.LogisticRegression"),
                              [EstimatorSpec("river.preprocessing.StandardScaler")], numeric, categorical)
    plan = MiniBatchPlan.of(pipeline, "binary")
    assert plan is not None
    rng = np.random.default_rng(1)
    n = 512
    a, b = rng.normal(size=n), rng.normal(2, 3, size=n)
    b[::3] = np.nan
    c = mb._objects([None if i % 5 == 0 else f"k{i % 3}" for i in range(n)])
    y = (a + 0.3 * np.nan_to_num(b) > 0).astype(np.int64)
    cols = Columns(n, {"a": a, "b": b}, {"c": c})
    for s in range(0, n, 128):
        part = slice(s, s + 128)
        plan.learn(Columns(128, {"a": a[part], "b": b[part]}, {"c": c[part]}), y[part])
    [num_branch] = [br for br in plan.branches if br.encoder is None]
    [cat_branch] = [br for br in plan.branches if br.encoder is not None]
    sc = num_branch.scalers[0]
    assert sc.counts["b"] == int((~np.isnan(b)).sum()) and sc.counts["a"] == n
    assert math.isclose(sc.means["b"], float(np.nanmean(b)), rel_tol=1e-9)
    assert math.isclose(sc.vars["b"], float(np.nanvar(b)), rel_tol=1e-9)
    assert cat_branch.encoder is not None and cat_branch.encoder.values["c"] == {"k0", "k1", "k2"}  # no None
    predictions = plan.predict(cols)
    one = [pipeline.predict_one(cols.row(i)) for i in range(n)]
    assert predictions.tolist() == one
    model = list(pipeline.steps.values())[-1]
    rows = [cols.row(i) for i in range(n)]
    assert any("b" not in r for r in rows) and any("c" not in r for r in rows)
    raw = np.array([pipeline.predict_proba_one(r)[True] for r in rows])
    weights = model._weights.to_dict()
    mine = 1 / (1 + np.exp(-(np.nan_to_num(np.column_stack([
        (a - sc.means["a"]) / math.sqrt(sc.vars["a"]), (b - sc.means["b"]) / math.sqrt(sc.vars["b"])]))
        @ np.array([weights["a"], weights["b"]]) + np.array([weights.get(f"c_{v}", 0.0) for v in c])
        + model.intercept)))
    assert np.allclose(raw, mine, rtol=1e-9, atol=1e-12)


def test_a_regression_learns_one_by_one_whatever_models_minibatch() -> None:
    """``LinearRegression`` has no mini-batch plan (a summed step of 256 rows diverges on the
    squared loss): ``minibatch: 256`` gives the errors of ``1``, and they fall as it learns."""
    events = list(generate(3000, [], seed=7))
    rng = np.random.default_rng(7)
    for e in events:
        e["label"] = 2.0 * e["features"]["score"] + 0.5 + float(rng.normal(0, 0.3))
    runs = []
    for size in (256, 1):
        cfg = DriftlineConfig.model_validate({
            "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "regression"}},
            "reference": {"first_n": 500},
            "learner": {"model": "river.linear_model.LinearRegression",
                        "preprocessing": ["river.preprocessing.StandardScaler"]},
            "models": {"minibatch": size},
        })
        run = Run(cfg)
        b, rejects = parse_events(stream_schema(cfg), 0, list(range(len(events))), [orjson.dumps(e) for e in events])
        assert not rejects
        run.core.add_events(b)
        run._step(flush=True)
        runs.append(run)
    assert runs[0].core.learner.plan() is None
    assert runs[0].all_errors() == runs[1].all_errors() and len(runs[0].all_errors()) == len(events)
    late = [runs[0].all_errors()[e["id"]] for e in events[2000:]]
    spread = float(np.mean(np.abs(np.array([e["label"] for e in events[2000:]]) - 0.5)))
    assert np.mean(late) < 0.5 * spread, (np.mean(late), spread)
