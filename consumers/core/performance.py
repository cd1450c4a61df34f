"""Label-free performance estimation over the judged stream, for the ``performance`` detectors.

A :class:`PerformanceWatch` turns each judged event into one value the stream's calibrated
detectors watch like any column: for a classifier with a score, CBPE's probability that the
prediction is right (a fall is a drop of expected accuracy); for a regressor, DLE's estimated
absolute error (a rise is a rise of expected MAE). Its reference is the stream's reference:
the first ``reference.first_n`` events in stream order (or ``reference.file``), whose labelled
events fit the calibration (or train the loss model) before any value is given out; then the
reference's own values are given first, and form the detector's reference.

Per window of ``performance.window`` events it keeps the estimated metrics and, over the
window's labelled events, the realised ones and the estimate's error on those same events.
Pure computation: the same events give the same values, windows and alerts live and in backtest.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from driftline.consumers.config.model import ComponentSpec, DriftlineConfig, resolve_class
from driftline.learners.estimation import (
    CBPE,
    DLE,
    classification_metrics,
    regression_metrics,
)
from driftline.stream.codes import PartitionCodes, decode, encode
from driftline.stream.events import EventBatch, concat_batches

#: labelled reference events needed to calibrate (or train the loss model); fewer: no estimate
MIN_LABELLED = 100
#: closed windows kept in memory and in the checkpoint (for telemetry and the report)
HISTORY = 200
PREDICTION_KEY = "__prediction__"


@dataclass(frozen=True)
class Segment:
    """Values for the detectors, with where each came from (a batch's, or the reference's)."""

    values: np.ndarray
    partitions: np.ndarray
    offsets: np.ndarray
    ts: np.ndarray
    ids: list[str]
    #: the last ``window`` values before the segment (for the estimate at an alert)
    before: np.ndarray


@dataclass
class WindowResult:
    """One window's estimate, and what its labelled events realised."""

    index: int
    start_ts: int
    end_ts: int
    events: int
    estimated: dict[str, float]
    #: the offset of the window's last event (a backtest's line number)
    end_offset: int = 0
    labelled: int = 0
    realised: dict[str, float] | None = None
    #: |estimate on the labelled events - realised|, per metric
    error: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Open:
    """The open window's per-event columns."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    ts: list[np.ndarray] = field(default_factory=list)
    n: int = 0

    def add(self, cols: dict[str, np.ndarray], ts: np.ndarray) -> None:
        for k, v in cols.items():
            self.columns.setdefault(k, []).append(v)
        self.ts.append(ts)
        self.n += ts.shape[0]

    def take(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        cols = {k: np.concatenate(v) for k, v in self.columns.items()}
        ts = np.concatenate(self.ts) if self.ts else np.empty(0, np.int64)
        self.columns, self.ts, self.n = {}, [], 0
        return cols, ts


class PerformanceWatch:
    """CBPE (classification with ``stream.prediction.score``) or DLE (regression) on the stream."""

    def __init__(self, cfg: DriftlineConfig, reference_size: int):
        pred = cfg.stream.prediction
        assert pred is not None
        self.task = "regression" if pred.type == "regression" else "classification"
        self.metric = "mae" if self.task == "regression" else "accuracy"
        self.window = cfg.performance.window
        self.reference_size = reference_size
        self.calibration = cfg.performance.calibration
        self.classes: tuple[str, ...] = ("0", "1") if pred.type == "binary" else pred.score_classes
        self._loss_model = cfg.performance.loss_model
        self.cbpe: CBPE | None = None
        self.dle: DLE | None = DLE(self._model_factory()) if self.task == "regression" else None
        #: why there is no estimate (too few labelled reference events), or ""
        self.off = ""
        self.reference_value = float("nan")
        self._ref: list[EventBatch] = []
        self._ref_n = 0
        self._recent: deque[float] = deque(maxlen=self.window)
        self._open = _Open()
        self.closed = 0
        self.history: deque[WindowResult] = deque(maxlen=HISTORY)

    @classmethod
    def wanted(cls, cfg: DriftlineConfig) -> bool:
        """Whether the configuration asks for an estimate: a classifier's score, or a regressor
        with its label (``performance.estimate: off`` turns both off)."""
        pred, label = cfg.stream.prediction, cfg.stream.label
        if cfg.performance.estimate == "off" or pred is None or label is None:
            return False
        return pred.score is not None if pred.type != "regression" else label.type == "regression"

    def _model_factory(self) -> Any:
        spec = self._loss_model
        cls = resolve_class(spec.cls if isinstance(spec, ComponentSpec) else spec)
        params = spec.params if isinstance(spec, ComponentSpec) else {}
        return lambda: cls(**params)

    # ------------------------------------------------------------------ judging
    def fit_reference(self, reference: EventBatch) -> np.ndarray:
        """Fit on a whole reference (``reference.file``); its values (the detector's reference)."""
        self._ref, self._ref_n = [reference], len(reference)
        segment = self._fit()
        return np.empty(0) if segment is None else segment.values

    def update(self, batch: EventBatch) -> list[Segment]:
        """The detectors' values for ``batch`` (after the reference's, when it completes here)."""
        if self.off or not len(batch):
            return []
        out = []
        if not self._done_reference():
            room = self.reference_size - self._ref_n
            head = batch if room >= len(batch) else batch.take(np.arange(room))
            self._ref.append(head)
            self._ref_n += len(head)
            if self._ref_n < self.reference_size:
                return []
            segment = self._fit()
            if segment is None:
                return []
            out.append(segment)
            if room >= len(batch):
                return out
            batch = batch.take(np.arange(room, len(batch)))
        out.append(self._judge(batch))
        return out

    @property
    def referencing(self) -> bool:
        """Whether the reference is still being collected (its values come out when it completes)."""
        return not self.off and not self._done_reference()

    def _done_reference(self) -> bool:
        return self._ref_n >= self.reference_size and not self._ref

    def _fit(self) -> Segment | None:
        reference = concat_batches(self._ref)
        self._ref, self._ref_n = [], self.reference_size
        if self.task == "classification":
            scores, _, label = self._columns(reference)
            ok = np.isfinite(scores).all(axis=1) & (label >= 0)
            if ok.sum() < MIN_LABELLED or np.unique(label[ok]).shape[0] < 2:
                self.off = (f"{int(ok.sum())} labelled reference events with a score and both classes: "
                            f"at least {MIN_LABELLED} are needed to calibrate")
                return None
            self.cbpe = CBPE.fit(self.classes, scores[ok], label[ok], self.calibration)
        else:
            assert self.dle is not None
            rows, pred_v, label_v = self._rows(reference)
            for row, p, y in zip(rows, pred_v, label_v):
                if np.isfinite(p) and np.isfinite(y):
                    self.dle.learn(row, y - p)
            if self.dle.learned < MIN_LABELLED:
                self.off = f"{self.dle.learned} labelled reference events: at least {MIN_LABELLED} are needed"
                return None
        segment = self._judge(reference, learn=False)
        finite = segment.values[np.isfinite(segment.values)]
        self.reference_value = float(finite.mean()) if finite.shape[0] else float("nan")
        return segment

    def _judge(self, batch: EventBatch, learn: bool = True) -> Segment:
        if self.task == "classification":
            assert self.cbpe is not None
            scores, pred, label = self._columns(batch)
            probs = self.cbpe.probabilities(scores)
            values = self.cbpe.correct(scores, pred)
            cols = {"scores": scores, "probs": probs, "pred": pred, "label": label}
        else:
            values, cols = self._estimate_losses(batch, learn)
        before = np.array(self._recent)
        self._recent.extend(values[np.isfinite(values)].tolist())
        cols["offset"] = batch.offsets
        self._windows(cols, batch.ts)
        return Segment(values, batch.partition_array(), batch.offsets, batch.ts, batch.ids, before)

    def _estimate_losses(self, batch: EventBatch, learn: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Test-then-train: each event's estimate comes from the labelled events before it."""
        assert self.dle is not None
        rows, pred, label = self._rows(batch)
        err = label - pred
        est_abs, est_sq = np.full(len(batch), np.nan), np.full(len(batch), np.nan)
        has_pred = np.isfinite(pred)
        learnable = has_pred & np.isfinite(label) if learn else np.zeros(len(batch), bool)
        start = 0
        for stop in [*np.flatnonzero(learnable).tolist(), len(batch)]:  # predict in runs, learn between
            run = np.arange(start, min(stop + 1, len(batch)))
            run = run[has_pred[run]]
            if run.shape[0]:
                est_abs[run], est_sq[run] = self.dle.predict([rows[i] for i in run])
            if stop < len(batch):
                self.dle.learn(rows[stop], float(err[stop]))
            start = stop + 1
        return est_abs, {"est_abs": est_abs, "est_sq": est_sq, "err": err}

    def _columns(self, batch: EventBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = len(self.classes) if len(self.classes) > 2 else 1
        scores = batch.scores if batch.scores is not None else np.full((len(batch), k), np.nan)
        index = {c: i for i, c in enumerate(self.classes)}
        return scores, _class_index(batch.prediction, index), _class_index(batch.label, index)

    @staticmethod
    def _rows(batch: EventBatch) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
        pred = np.array([np.nan if v is None else v for v in batch.prediction], dtype=float)
        label = np.array([np.nan if v is None else v for v in batch.label], dtype=float)
        rows = [{**_numeric_row(batch.feature_rows(i)), PREDICTION_KEY: float(p)} for i, p in enumerate(pred)]
        return rows, pred, label

    # ------------------------------------------------------------------ windows
    def _windows(self, cols: dict[str, np.ndarray], ts: np.ndarray) -> None:
        start = 0
        while start < ts.shape[0]:
            stop = min(ts.shape[0], start + self.window - self._open.n)
            self._open.add({k: v[start:stop] for k, v in cols.items()}, ts[start:stop])
            start = stop
            if self._open.n >= self.window:
                self.history.append(self._close(*self._open.take()))
                self.closed += 1

    def _close(self, cols: dict[str, np.ndarray], ts: np.ndarray) -> WindowResult:
        if self.task == "classification":
            ok = np.isfinite(cols["probs"]).all(axis=1) & (cols["pred"] >= 0)
            lab = ok & (cols["label"] >= 0)
            est = _classification(cols["probs"], cols["pred"], cols["scores"], ok)
            onehot = np.eye(len(self.classes))[np.maximum(cols["label"], 0)]
            real = _classification(onehot, cols["pred"], cols["scores"], lab)
            est_lab = _classification(cols["probs"], cols["pred"], cols["scores"], lab)
        else:
            ok = np.isfinite(cols["est_abs"])
            lab = ok & np.isfinite(cols["err"])
            est = regression_metrics(cols["est_abs"][ok], cols["est_sq"][ok])
            real = regression_metrics(np.abs(cols["err"][lab]), cols["err"][lab] ** 2)
            est_lab = regression_metrics(cols["est_abs"][lab], cols["est_sq"][lab])
        n_lab = int(lab.sum())
        result = WindowResult(self.closed, int(ts.min()), int(ts.max()), int(ts.shape[0]), _finite(est),
                              int(cols["offset"][-1]), n_lab)
        if n_lab:
            result.realised = _finite(real)
            result.error = _finite({k: abs(est_lab[k] - real[k]) for k in real})
        return result

    def summary(self) -> dict[str, float | int | str]:
        """The latest window's estimate and the latest realised one, as flat numbers (a role's
        counters: ``estimated_<metric>``, ``realised_<metric>``, ``estimation_error_<metric>``)."""
        out: dict[str, float | int | str] = {"performance_metric": self.metric}
        if self.off:
            out["performance_off"] = self.off
        if self.history:
            last = self.history[-1]
            out["estimated_window"] = last.index
            out.update({f"estimated_{k}": v for k, v in last.estimated.items()})
        labelled = next((w for w in reversed(self.history) if w.realised is not None), None)
        if labelled is not None:
            assert labelled.realised is not None and labelled.error is not None
            out["realised_window"] = labelled.index
            out.update({f"realised_{k}": v for k, v in labelled.realised.items()})
            out.update({f"estimation_error_{k}": v for k, v in labelled.error.items()})
        return out

    def details(self, segment: Segment, index: int) -> dict[str, Any]:
        """An alert's ``details``: the metric, its estimate over the last ``window`` events up to
        the firing one, and the reference's."""
        upto = segment.values[:index + 1]
        recent = np.concatenate([segment.before, upto[np.isfinite(upto)]])[-self.window:]
        estimated = float(recent.mean()) if recent.shape[0] else float("nan")
        return {"metric": self.metric, "estimated": _round(estimated), "reference": _round(self.reference_value),
                "estimate_events": int(recent.shape[0]),
                "method": "cbpe" if self.task == "classification" else "dle",
                **({"calibration": self.cbpe.method} if self.cbpe is not None else {})}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        cols, ts = self._open.take()
        self._open.add(cols, ts)
        ref = concat_batches(self._ref) if self._ref else None
        return {
            "off": self.off, "reference_value": _finite({"v": self.reference_value}).get("v"), "ref_n": self._ref_n,
            "ref": None if ref is None else base64.b64encode(encode(PartitionCodes(-1, ref))).decode(),
            "cbpe": None if self.cbpe is None else self.cbpe.state_dict(),
            "dle": None if self.dle is None else self.dle.state_dict(),
            "recent": list(self._recent), "closed": self.closed,
            "open": {"ts": ts.tolist(), **{k: v.tolist() for k, v in cols.items()}},
            "history": [asdict(w) for w in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state["reference_value"]
        self.off, self.reference_value = state["off"], float("nan") if value is None else float(value)
        self._ref_n = int(state["ref_n"])
        self._ref = [] if state["ref"] is None else [decode(base64.b64decode(state["ref"])).batch]
        self.cbpe = None if state["cbpe"] is None else CBPE.from_state(state["cbpe"])
        if state["dle"] is not None and self.dle is not None:
            self.dle.load_state_dict(state["dle"])
        self._recent = deque(state["recent"], maxlen=self.window)
        self.closed = int(state["closed"])
        opened = dict(state["open"])
        ts = np.array(opened.pop("ts"), dtype=np.int64)
        self._open = _Open()
        if ts.shape[0]:
            self._open.add({k: np.array(v, dtype=np.int64 if k in ("pred", "label", "offset") else float)
                            for k, v in opened.items()}, ts)
        self.history = deque((WindowResult(**w) for w in state["history"]), maxlen=HISTORY)


def _class_index(values: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Each value's class index, -1 for a missing or unknown class."""
    return np.array([-1 if v is None else index.get(str(v), -1) for v in values], dtype=np.int64)


def _classification(truth: np.ndarray, pred: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    return classification_metrics(truth[keep], pred[keep], scores[keep])


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that have a value (an AUC of a window of one class has none)."""
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def _round(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def _numeric_row(row: dict[str, Any]) -> dict[str, float]:
    """The loss model's inputs: numeric features as they are (finite ones), a categorical one as
    an indicator ``name=value`` (its tree's leaf models are linear: they take numbers only)."""
    out: dict[str, float] = {}
    for name, value in row.items():
        if isinstance(value, str):
            out[f"{name}={value}"] = 1.0
        elif math.isfinite(value):
            out[name] = value
    return out
