"""Mini-batch scoring and learning for the pipelines :func:`~driftline.learners.online.build_pipeline` makes.

A pipeline of ``SelectPresent`` branches (numeric features through ``StandardScaler`` steps,
categorical ones through a ``OneHotEncoder``), joined by a ``TransformerUnion``, ending in a
``LogisticRegression`` (a binary target), is scored and learned here on columns rather than
one dict per event. Any other pipeline has no :class:`MiniBatchPlan` and is learned one event
at a time, as before; so is ``LinearRegression``: on the squared loss, one step of 256 rows'
summed gradient at River's default learning rate diverges, and the averaged step (River's
``learn_many`` as it is) learns 256 times slower than one by one. The log loss's gradient is
bounded, and its summed step learns as fast as one by one (``learner_benchmark.py``).

Guarantees:

- :meth:`MiniBatchPlan.predict` reads the fitted state (the scalers' means and variances, the
  encoders' categories, the model's weights) and scores each row on its own: every operation
  is elementwise and a row's sum is taken column by column in a fixed order, so a row's
  prediction, to the last bit, does not depend on which other rows are scored with it, nor on
  how many (River's ``predict_proba_many`` takes ``X @ w`` through BLAS, and ``sum(axis=1)``
  may sum pairwise or in order depending on the array's shape). For a row with every feature
  present it is the prediction ``predict_one`` makes on that row, up to rounding.
- :meth:`MiniBatchPlan.learn` updates each step with River's ``learn_many`` on pandas frames:
  each scaler with only the values present (a feature's column on the rows that have it), each
  encoder with the categories present, then the model with one step of the rows' summed
  gradient (River's ``learn_many`` averages; the sample weight ``n`` makes the step the sum the
  ``n`` one-by-one steps would take from the batch's start, so the learning rate means the
  same per event).

A missing value (NaN, or ``None`` for a category) gets no weight, as an absent key does one by
one: a scaled missing value is 0 for the linear model and a missing category has no one-hot
column set. What differs from one by one: the rows of a mini-batch are all scored by the model
as it was before the batch, and learned in one step; with ``l2 > 0`` the penalty also shrinks
the weights of features missing from every row of the batch (one by one it touches only the
features an event has); a scaler with a zero variance scales to 0 (as ``transform_one``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from river import compose, linear_model, preprocessing

#: the final steps scored and learned here, by the target type they serve
_MODELS: dict[str, type] = {"binary": linear_model.LogisticRegression}


@dataclass
class Columns:
    """Feature columns of ``n`` rows: float64 (NaN: missing) and object (``None``: missing)."""

    n: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]], numeric: Sequence[str], categorical: Sequence[str]) -> Columns:
        """Columns of per-event dicts (an absent key is a missing value), in one pass per feature."""
        nan = float("nan")
        return cls(len(rows),
                   {k: np.array([r.get(k, nan) for r in rows], dtype=np.float64) for k in numeric},
                   {k: _objects([r.get(k) for r in rows]) for k in categorical})

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a dict, missing values left out (the one-by-one path's input)."""
        out: dict[str, Any] = {k: float(v[i]) for k, v in self.numeric.items() if not np.isnan(v[i])}
        out.update({k: v[i] for k, v in self.categorical.items() if v[i] is not None})
        return out


@dataclass(frozen=True)
class _Branch:
    keys: tuple[str, ...]
    scalers: tuple[preprocessing.StandardScaler, ...] = ()
    encoder: preprocessing.OneHotEncoder | None = None


@dataclass(frozen=True)
class _Fitted:
    """The fitted state :meth:`MiniBatchPlan.predict` reads, as arrays: per numeric branch its
    scalers' (means, standard deviations, variance > 0) and its weights; per categorical
    feature its categories' weights; the intercept."""

    scalers: tuple[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...], ...]
    weights: tuple[np.ndarray, ...]
    tables: tuple[tuple[dict[Any, float], ...], ...]
    intercept: float


@dataclass(frozen=True)
class MiniBatchPlan:
    """How one pipeline is scored and learned on columns (see the module's guarantees).

    The fitted state is read once and kept until :meth:`changed` (the model learns only at a
    mini-batch's boundary, or one by one, and whoever makes it learn says so)."""

    pipeline: Any
    branches: tuple[_Branch, ...]
    model: Any
    target_type: str
    _cache: dict[str, _Fitted] = field(default_factory=dict, compare=False, repr=False)

    def changed(self) -> None:
        """The pipeline learned: the fitted state is read again at the next :meth:`predict`."""
        self._cache.clear()

    def _fitted(self) -> _Fitted:
        fitted = self._cache.get("state")
        if fitted is None:
            weights = self.model._weights.to_dict()
            numeric = [b for b in self.branches if b.encoder is None]
            fitted = self._cache["state"] = _Fitted(
                tuple(tuple(_moments(s, b.keys) for s in b.scalers) for b in numeric),
                tuple(np.array([weights.get(k, 0.0) for k in b.keys], dtype=np.float64) for b in numeric),
                tuple(tuple({v: weights.get(f"{k}_{v}", 0.0) for v in b.encoder.values.get(k, ())} for k in b.keys)
                      for b in self.branches if b.encoder is not None),
                float(self.model.intercept))
        return fitted

    @classmethod
    def of(cls, pipeline: Any, target_type: str) -> MiniBatchPlan | None:
        """The plan for ``pipeline``, or None when it is not of the supported shape."""
        if not isinstance(pipeline, compose.Pipeline):
            return None
        steps = list(pipeline.steps.values())
        model_cls = _MODELS.get(target_type)
        if len(steps) < 2 or model_cls is None or type(steps[-1]) is not model_cls:
            return None
        features = steps[:-1]
        if len(features) == 1 and isinstance(features[0], compose.TransformerUnion):
            branches = [_branch(_chain(t)) for t in features[0].transformers.values()]
        else:
            branches = [_branch(features)]
        if any(b is None for b in branches):
            return None
        keys = [k for b in branches for k in b.keys]  # type: ignore[union-attr]
        if len(keys) != len(set(keys)):
            return None
        return cls(pipeline, tuple(branches), steps[-1], target_type)  # type: ignore[arg-type]

    def predict(self, cols: Columns) -> np.ndarray:
        """Each row's predicted class (bool), the model unchanged."""
        fitted = self._fitted()
        raw = np.zeros(cols.n)
        numeric = categorical = 0
        for branch in self.branches:  # column by column, in a fixed order: elementwise, so row by row
            if branch.encoder is None:
                x = _stack(cols, branch.keys)
                for means, stds, positive in fitted.scalers[numeric]:
                    x = _apply(x, means, stds, positive)
                x = np.where(np.isnan(x), 0.0, x) * fitted.weights[numeric]
                numeric += 1
                for j in range(x.shape[1]):
                    raw += x[:, j]
            else:
                for k, table in zip(branch.keys, fitted.tables[categorical]):
                    raw += np.array([table.get(v, 0.0) for v in cols.categorical[k].tolist()], dtype=np.float64)
                categorical += 1
        raw += fitted.intercept
        return np.asarray(self.model.loss.mean_func(raw), dtype=np.float64) > 0.5  # predict_one's tie: False

    def learn(self, cols: Columns, y: np.ndarray) -> None:
        """Learn from the rows (see the module's guarantees); ``y`` the 0/1 targets.

        Raises whatever River raises; nothing is learned by the model then, but steps before it
        in the pipeline may have learned (the caller falls back to one by one and says so)."""
        if cols.n == 0:
            return
        names: list[str] = []
        parts: list[np.ndarray] = []
        for branch in self.branches:
            if branch.encoder is None:
                parts.append(self._scaled(branch, cols, learn=True))
                names += branch.keys
            else:
                for k in branch.keys:
                    cats, block = _one_hot(branch.encoder, k, cols.categorical[k])
                    names += cats
                    parts.append(block)
        self.changed()
        frame = pd.DataFrame(np.hstack(parts) if parts else np.zeros((cols.n, 0)), columns=names)
        self.model.learn_many(frame, pd.Series(y.astype(bool)), w=float(cols.n))

    @staticmethod
    def _scaled(branch: _Branch, cols: Columns, learn: bool = False) -> np.ndarray:
        """The branch's columns through its scalers (each learning first, with ``learn``);
        missing values 0."""
        x = _stack(cols, branch.keys)
        for scaler in branch.scalers:
            if learn:
                _learn_present(scaler, branch.keys, x)
            x = _apply(x, *_moments(scaler, branch.keys))
        return np.where(np.isnan(x), 0.0, x)


def _chain(step: Any) -> list[Any]:
    return list(step.steps.values()) if isinstance(step, compose.Pipeline) else [step]


def _branch(steps: Sequence[Any]) -> _Branch | None:
    """A ``Select`` then scalers (numeric) or one encoder (categorical); None if anything else."""
    if not steps or not isinstance(steps[0], compose.Select):
        return None
    keys = tuple(sorted(steps[0].keys))
    rest = list(steps[1:])
    if len(rest) == 1 and type(rest[0]) is preprocessing.OneHotEncoder:
        enc = rest[0]
        if enc.categories is not None or enc.drop_zeros or enc.drop_first:
            return None
        return _Branch(keys, encoder=enc)
    if all(type(s) is preprocessing.StandardScaler and s.window_size is None and s.with_std for s in rest):
        return _Branch(keys, scalers=tuple(rest))
    return None


def _stack(cols: Columns, keys: Sequence[str]) -> np.ndarray:
    return np.column_stack([cols.numeric[k] for k in keys]) if keys else np.zeros((cols.n, 0))


def _moments(scaler: preprocessing.StandardScaler, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scaler's means, standard deviations and where its variance is positive, per key."""
    means = np.array([scaler.means.get(k, 0.0) for k in keys], dtype=np.float64)
    variances = np.array([scaler.vars.get(k, 0.0) for k in keys], dtype=np.float64)
    return means, np.sqrt(variances), variances > 0


def _apply(x: np.ndarray, means: np.ndarray, stds: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """``transform_one`` on every row: ``(x - mean) / std``, 0 where the variance is 0; NaN kept."""
    out = np.zeros_like(x)
    np.divide(x - means, stds, out=out, where=positive)
    out[np.isnan(x)] = np.nan
    return out


def _learn_present(scaler: preprocessing.StandardScaler, keys: Sequence[str], x: np.ndarray) -> None:
    """The scaler learns each feature from the rows that have it, by River's ``learn_many``
    formulas (the batch's mean and variance merged into the running ones), which take no NaN
    in a variance: the fully present features together, the others each on its present rows."""
    missing = np.isnan(x)
    full = ~missing.any(axis=0)
    if full.all():
        _merge(scaler, keys, x)
        return
    if full.any():
        _merge(scaler, [k for k, f in zip(keys, full.tolist()) if f], x[:, full])
    for j in np.flatnonzero(~full).tolist():
        present = x[~missing[:, j], j]
        if len(present):
            _merge(scaler, [keys[j]], present[:, None])


def _merge(scaler: preprocessing.StandardScaler, keys: Sequence[str], x: np.ndarray) -> None:
    """``StandardScaler.learn_many`` (``window_size`` None, ``with_std``) on a NaN-free matrix,
    without building a frame: the same formulas, the same state."""
    new_means = np.nanmean(x, axis=0)
    new_vars = np.einsum("ij,ij->j", x, x) / len(x) - new_means**2
    new_count = len(x)
    for k, new_mean, new_var in zip(keys, new_means.tolist(), new_vars.tolist()):
        old_mean, old_var, old_count = scaler.means[k], scaler.vars[k], scaler.counts[k]
        a = old_count / (old_count + new_count)
        b = new_count / (old_count + new_count)
        scaler.means[k] = a * old_mean + b * new_mean
        scaler.vars[k] = a * old_var + b * new_var + a * b * (old_mean - new_mean) ** 2
        scaler.counts[k] += new_count


def _one_hot(encoder: preprocessing.OneHotEncoder, key: str, col: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The encoder learns the categories present (the new ones, by its ``learn_one``: the state
    ``learn_many`` leaves, without a frame); the one-hot columns of every category seen (in a
    fixed order), a missing category none set."""
    values = col.tolist()
    known = encoder.values[key]
    for v in dict.fromkeys(values):
        if v is not None and v not in known:
            encoder.learn_one({key: v})
    cats = sorted(encoder.values[key], key=str)
    block = np.zeros((len(values), len(cats)))
    where = {v: j for j, v in enumerate(cats)}
    for i, v in enumerate(values):
        j = where.get(v) if v is not None else None
        if j is not None:
            block[i, j] = 1.0
    return [f"{key}_{v}" for v in cats], block


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
