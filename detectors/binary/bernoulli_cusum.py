"""Bernoulli CUSUM: the likelihood-ratio chart of a change of a 0/1 rate, calibrated exactly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    Detector,
    binary_input,
    check_state_version,
    hysteresis_fires,
    restored_last_statistic,
)
from driftline.detectors.binary.bernoulli_arl import chart_calibration
from driftline.detectors.window import MIN_SIZE, ts_or_none

#: the charts each ``direction`` runs: the rate rising, falling
DIRECTIONS = {"both": ("up", "down"), "up": ("up",), "down": ("down",)}
#: the fewest 1s (for the falling chart) or 0s (the rising one) a reference needs for the chart
#: to run: at the edge of 0 or 1 a rate cannot move further, and its calibration would average
#: over rates the reference cannot tell apart from the edge
MIN_OFF_EDGE = 5
#: values processed per vectorised step (only a matter of speed: results do not depend on it)
_CHUNK = 1 << 16


class BernoulliCUSUM(Detector):
    """CUSUM of the log-likelihood ratio of a rate ``p1`` against the reference's rate ``p0``.

    Each 0/1 value adds ``log(p1 / p0)`` (a 1) or ``log((1 - p1) / (1 - p0))`` (a 0) to the
    chart ``S = max(0, S + llr)`` (Page, 1954), the Bernoulli CUSUM of Reynolds & Stoumbos (1999):
    the sequential test of a change of a binary rate that reacts fastest to a change to ``p1``
    (Moustakides, 1986), one value at a time. ``p0`` is the rate of the first ``reference_size``
    values, ``p1`` its odds times ``odds_ratio`` (the rate rising) or divided by it (falling).
    The two log-ratios are scaled to integers (at least 8 units for the larger step, up to 1024
    as the solve allows), so the chart is exact whatever the batching, and its threshold is the
    smallest whose in-control average run length, computed exactly from the Markov chain of the
    integer chart (Brook & Evans, 1972) and averaged over the uncertainty of ``p0``
    (:mod:`.bernoulli_arl`), gives the charts together a false alarm rate of ``alpha_drift`` per
    value. A 0/1 stream is what the rank CUSUM sees worst (two ranks, blocks of values); this
    chart uses each value as it comes.

    ``drift`` fires when a chart reaches its threshold; the next ``reference_size`` values then
    form a new reference (until it is complete, :meth:`restore_reference`, called on a
    rollback of the model, takes the previous one back). ``warning`` fires when a chart reaches its warning threshold
    (``alpha_warning``) and re-arms once every chart is at or below half of it.
    ``Detection.statistic`` is the firing chart's ``S`` in nats (log-likelihood ratio),
    ``threshold`` its threshold (``p_value`` is None), ``current_n`` the values since the
    reference was completed, ``start_ts`` the timestamp of the first value since the chart last
    stood at 0. NaN values are skipped. A chart runs only if its reference saw its rate off the
    edge it moves away from: the falling chart needs ``MIN_OFF_EDGE`` 1s, the rising one as many
    0s (an almost perfect model's errors cannot fall); the others keep their share of the budget.

    Parameters
    ----------
    reference_size
        Number of values in the reference.
    odds_ratio
        The change the charts are tuned to: the odds of a 1 multiplied (rising) or divided
        (falling) by it; > 1.
    alpha_drift, alpha_warning
        Probability per value of a false drift (warning); ``alpha_warning=None`` disables warnings.
    direction
        ``"both"``, ``"up"`` (the rate rising: a learner's errors) or ``"down"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> errors = (rng.random(14_000) < np.repeat([0.1, 0.2], [12_000, 2_000])).astype(float)
    >>> det = BernoulliCUSUM(direction="up", alpha_drift=1e-6, alpha_warning=1e-4)
    >>> [(d.index, d.severity) for d in det.update(errors)]
    [(12277, 'warning'), (12355, 'drift')]

    References
    ----------
    E. S. Page (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    D. Brook, D. A. Evans (1972). An approach to the probability distribution of CUSUM run
    length. Biometrika 59(3), 539-549.
    M. R. Reynolds, Z. G. Stoumbos (1999). A CUSUM chart for monitoring a proportion when
    inspecting continuously. Journal of Quality Technology 31(1), 87-108.
    """

    input_type = "binary"
    method = "bernoulli"

    def __init__(
        self,
        reference_size: int = 10_000,
        odds_ratio: float = 2.0,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        direction: str = "both",
    ) -> None:
        name = type(self).__name__
        if direction not in DIRECTIONS:
            raise ValueError(f"{name}: direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if not isinstance(reference_size, (int, np.integer)) or isinstance(reference_size, bool) \
                or reference_size < MIN_SIZE:
            raise ValueError(f"{name}: reference_size must be an integer >= {MIN_SIZE}, got {reference_size!r}")
        if isinstance(odds_ratio, bool) or not isinstance(odds_ratio, (int, float)) or not 1.0 < odds_ratio < 1e6:
            raise ValueError(f"{name}: odds_ratio must be > 1, got {odds_ratio!r}")
        if isinstance(alpha_drift, bool) or not isinstance(alpha_drift, (int, float)) or not 0.0 < alpha_drift < 1.0:
            raise ValueError(f"{name}: alpha_drift must be in (0, 1), got {alpha_drift!r}")
        if alpha_warning is not None and not alpha_drift < alpha_warning < 1.0:
            raise ValueError(f"{name}: alpha_warning must be in (alpha_drift, 1) or None, got {alpha_warning!r}")
        self.reference_size = int(reference_size)
        self.odds_ratio = float(odds_ratio)
        self.alpha_drift = float(alpha_drift)
        self.alpha_warning = None if alpha_warning is None else float(alpha_warning)
        self.direction = direction
        self._reset()

    # ----------------------------------------------------------------- state
    def _reset(self) -> None:
        self._ref_n = 0
        self._ref_ones = 0
        self._p0: float | None = None
        self._steps = np.zeros((0, 2), dtype=np.int64)  # per chart: step on its hit, on its miss
        self._hits = np.zeros(0, dtype=np.int64)  # per chart: which value (1 or 0) is its hit
        self._unit = np.zeros(0)
        self._h = np.zeros(0, dtype=np.int64)
        self._h_warn = np.zeros(0, dtype=np.int64)
        self._charts = np.zeros(0, dtype=np.int64)
        self._since = np.zeros(0, dtype=np.int64)  # per chart: timestamp when it last left 0
        self._armed = True
        self._count = 0
        self._previous: tuple[int, int] | None = None  # (n, ones) of the reference before a drift

    def _set_reference(self, n: int, ones: int) -> None:
        self._reset()
        self._ref_n, self._ref_ones = n, ones
        p0 = (ones + 0.5) / (n + 1.0)  # never 0 or 1: a reference without 1s still gives a chart
        self._p0 = p0
        odds = p0 / (1.0 - p0)
        # a chart watches its rate move away from an edge the reference must have seen it off:
        # with fewer than MIN_OFF_EDGE 1s (0s), no fall (rise) of the rate could be told
        charts = [which for which in DIRECTIONS[self.direction]
                  if (ones if which == "down" else n - ones) >= MIN_OFF_EDGE]
        steps, hits, units, h, h_warn = [], [], [], [], []
        for which in charts:
            q0 = p0 if which == "up" else 1.0 - p0  # the chart's hit: a 1 (up) or a 0 (down)
            o1 = (odds * self.odds_ratio) if which == "up" else (1.0 / odds) * self.odds_ratio
            q1 = o1 / (1.0 + o1)
            shares = len(DIRECTIONS[self.direction])  # a chart left out leaves the others' shares as they were
            targets = (shares / self.alpha_drift,) + (() if self.alpha_warning is None else
                                                       (shares / self.alpha_warning,))
            a, c, unit, found = chart_calibration(math.log(q1 / q0), math.log((1.0 - q0) / (1.0 - q1)), q0, n,
                                                  targets, self.alpha_drift)
            steps.append((a, c))
            hits.append(1 if which == "up" else 0)
            units.append(unit)
            h.append(found[0])
            h_warn.append(found[1] if self.alpha_warning is not None else np.iinfo(np.int64).max)
        self._steps = np.asarray(steps, dtype=np.int64).reshape(len(charts), 2)
        self._hits = np.asarray(hits, dtype=np.int64)
        self._unit = np.asarray(units)
        self._h = np.asarray(h, dtype=np.int64)
        self._h_warn = np.asarray(h_warn, dtype=np.int64)
        self._charts = np.zeros(len(charts), dtype=np.int64)
        self._since = np.full(len(charts), -1, dtype=np.int64)

    def fit_reference(self, values: Any) -> None:
        """Take the rate of ``values`` (e.g. training data's 0/1 values) as the reference's."""
        vals, _, _ = binary_input(values, None, type(self).__name__)
        if vals.shape[0] < MIN_SIZE:
            raise ValueError(f"{type(self).__name__}.fit_reference: needs at least {MIN_SIZE} values")
        self._set_reference(int(vals.shape[0]), int(vals.sum()))

    def restore_reference(self) -> None:
        """After a rollback: the reference of before the last drift back (while a new one is
        being collected), or the current one kept; the charts at zero, watching at once."""
        if self._p0 is None and self._previous is not None:
            self._set_reference(*self._previous)
        elif self._p0 is not None:
            self._charts[:] = 0
            self._since[:] = -1
            self._armed = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "previous": None if self._previous is None else list(self._previous),
            "reference": None if self._p0 is None else [self._ref_n, self._ref_ones],
            "reference_buffer": [self._ref_n, self._ref_ones] if self._p0 is None else None,
            "charts": self._charts.tolist(),
            "since": self._since.tolist(),
            "armed": self._armed,
            "count": self._count,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        if state["reference"] is not None:
            self._set_reference(int(state["reference"][0]), int(state["reference"][1]))
            self._charts = np.asarray(state["charts"], dtype=np.int64)
            self._since = np.asarray(state["since"], dtype=np.int64)
        else:
            self._ref_n, self._ref_ones = (int(v) for v in state["reference_buffer"])
        if state["previous"] is not None:
            self._previous = (int(state["previous"][0]), int(state["previous"][1]))
        self._armed = bool(state["armed"])
        self._count = int(state["count"])
        self._last_statistic = restored_last_statistic(state)

    # ---------------------------------------------------------------- update
    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        vals, tss, keep = binary_input(values, ts, type(self).__name__)
        detections: list[Detection] = []
        pos = 0
        while pos < vals.shape[0]:
            if self._p0 is None:
                take = min(self.reference_size - self._ref_n, vals.shape[0] - pos)
                self._ref_n += take
                self._ref_ones += int(vals[pos : pos + take].sum())
                pos += take
                if self._ref_n == self.reference_size:
                    self._set_reference(self._ref_n, self._ref_ones)
            elif not self._h.size:  # no chart could run on this reference: the values pass unwatched
                self._count += vals.shape[0] - pos
                pos = vals.shape[0]
            else:
                pos = self._monitor(vals, tss, keep, pos, detections)
        return detections

    def _monitor(self, vals, tss, keep, pos, detections) -> int:
        """Feed ``vals[pos:]``; return where to continue (past a drift: renew the reference)."""
        seg, seg_ts = vals[pos : pos + _CHUNK], tss[pos : pos + _CHUNK]
        hit = seg[:, None] == self._hits[None, :]
        incr = np.where(hit, self._steps[:, 0], -self._steps[:, 1])
        c = np.cumsum(incr, axis=0)
        floor = np.minimum.accumulate(np.vstack([-self._charts, c]), axis=0)[1:]
        charts = c - floor  # Lindley's recursion S = max(0, S + x), vectorised (floor <= 0)
        ratio = charts / self._h
        top = ratio.argmax(axis=1)
        rows = np.arange(seg.shape[0])
        drifts = np.flatnonzero(ratio[rows, top] >= 1.0)
        n = int(drifts[0]) + 1 if drifts.size else seg.shape[0]
        warn_ratio = (charts[:n] / self._h_warn).max(axis=1)
        high = (warn_ratio >= 1.0) & (ratio[rows[:n], top[:n]] < 1.0)
        fires, armed = hysteresis_fires(high, warn_ratio <= 0.5, self._armed)
        # when each chart last left 0: the start of the excursion an alarm reports
        at_zero = np.vstack([self._charts[None, :] == 0, charts[:n] == 0])
        leaves = np.where(at_zero[:-1] & ~at_zero[1:], rows[:n, None], -1)
        last_left = np.maximum.accumulate(leaves, axis=0)  # the latest value at which it left 0
        left = np.where(last_left >= 0, seg_ts[np.maximum(last_left, 0)], self._since[None, :])
        stat = charts[rows[:n], top[:n]] * self._unit[top[:n]]
        at = self._h[top[:n]] * self._unit[top[:n]]
        self._last_statistic = (float(stat[-1]), float(at[-1]))

        def detection(i: int, severity: str) -> Detection:
            j = int(top[i]) if severity == "drift" else int(np.argmax(charts[i] / self._h_warn))
            h = self._h[j] if severity == "drift" else self._h_warn[j]
            return Detection(
                index=int(keep[pos + i]),
                severity=severity,  # type: ignore[arg-type]
                statistic=float(charts[i, j] * self._unit[j]),
                p_value=None,
                threshold=float(h * self._unit[j]),
                reference_n=self._ref_n,
                current_n=self._count + i + 1,
                start_ts=ts_or_none(int(left[i, j])),
                end_ts=ts_or_none(int(seg_ts[i])),
            )

        detections.extend(detection(int(i), "warning") for i in np.flatnonzero(fires))
        if drifts.size:
            detections.append(detection(n - 1, "drift"))
            previous = (self._ref_n, self._ref_ones)
            self._reset()  # renew the reference from the next values
            self._previous = previous  # kept until the new one is complete (restore_reference)
            return pos + n
        self._charts = charts[-1].copy()
        self._since = left[-1].copy()
        self._armed = armed
        self._count += n
        return pos + n
