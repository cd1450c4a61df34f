"""Drift Detection Method (DDM) on a stream of 0/1 errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    check_state_version,
    hysteresis_fires,
    restored_last_statistic,
)
from driftline.detectors.binary.error_rate import CumulativeErrorRate
from driftline.detectors.window import ts_or_none


class DDM(CumulativeErrorRate):
    """Drift Detection Method of Gama et al. (2004) on a learner's 0/1 error stream.

    With ``i`` values since the last reset and error rate ``p_i``, the detector uses
    ``s_i = sqrt(p_i (1 - p_i) / i)``. Once ``i > min_n`` it records ``p_min`` and ``s_min``
    at the (latest) minimum of ``p_i + s_i``, and reports

    * ``warning`` when ``p_i + s_i > p_min + warning_level * s_min``, once; it re-arms only
      when ``p_i + s_i <= p_min + rearm_level * s_min`` (hysteresis: an error rate hovering at
      the warning line gives one warning, not a storm) or after a drift;
    * ``drift`` when ``p_i + s_i > p_min + drift_level * s_min``; the statistics then start
      afresh from the next value.

    This follows ``river.drift.binary.DDM`` (``min_n`` is its ``warm_start``): the minimum is
    updated on ``<=`` before the comparison, and the comparisons are strict (``>``), so a
    stream with no error at all before ``min_n`` does not fire on its own minimum. The one
    intended difference is numerical: ``p_i`` is computed as ``errors / i`` from integer
    counts (River keeps a running mean), which makes the result independent of batching.

    ``Detection.statistic`` is ``p_i + s_i``, ``threshold`` is ``p_min + level * s_min``,
    ``reference_n`` is the count at which the minimum was recorded and ``current_n`` is ``i``;
    ``start_ts`` / ``end_ts`` are the timestamps of the first value since the last reset and of
    the firing value. NaN values are skipped.

    **Input:** 1 is an error (the prediction was wrong), 0 a correct prediction.

    Parameters
    ----------
    min_n
        Number of values before the minimum is tracked and anything can fire.
    warning_level
        Warning threshold, in units of ``s_min`` above ``p_min``.
    drift_level
        Drift threshold, in units of ``s_min`` above ``p_min``; greater than ``warning_level``.
    rearm_level
        Level, in units of ``s_min`` above ``p_min`` and below ``warning_level``, that the
        statistic must fall back to before another warning can fire.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(2_000) < 0.1, rng.random(2_000) < 0.4]).astype(float)
    >>> [d.index for d in DDM().update(errors) if d.severity == "drift"]
    [2293]

    References
    ----------
    J. Gama, P. Medas, G. Castillo, P. Rodrigues (2004). Learning with Drift Detection.
    SBIA 2004, LNCS 3171, 286-295.
    """

    method = "ddm"

    def __init__(
        self,
        min_n: int = 30,
        warning_level: float = 2.0,
        drift_level: float = 3.0,
        rearm_level: float = 1.0,
    ) -> None:
        if not isinstance(min_n, (int, np.integer)) or isinstance(min_n, bool) or min_n < 1:
            raise ValueError(f"DDM: min_n must be an integer >= 1, got {min_n!r}")
        levels = (("warning_level", warning_level), ("drift_level", drift_level), ("rearm_level", rearm_level))
        for name, value in levels:
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"DDM: {name} must be a positive number, got {value!r}")
        if drift_level <= warning_level:
            raise ValueError(
                f"DDM: drift_level ({drift_level}) must be greater than "
                f"warning_level ({warning_level})"
            )
        if rearm_level >= warning_level:
            raise ValueError(
                f"DDM: rearm_level ({rearm_level}) must be smaller than warning_level ({warning_level})"
            )
        self.min_n = int(min_n)
        self.rearm_level = float(rearm_level)
        self.warning_level = float(warning_level)
        self.drift_level = float(drift_level)
        self._reset()

    def _reset(self) -> None:
        self._n = 0  # values since the last reset
        self._errors = 0
        self._ps_min = math.inf
        self._p_min = math.nan  # nan until the minimum is first recorded
        self._s_min = math.nan
        self._min_at = 0  # count at which the minimum was recorded
        self._armed = True  # a warning may fire (re-armed below the re-arm level)
        self._start_ts = -1  # timestamp of the first value since the last reset

    def state_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "version": STATE_VERSION,
            "method": self.method,
            "n": self._n,
            "errors": self._errors,
            "ps_min": num(self._ps_min),
            "p_min": num(self._p_min),
            "s_min": num(self._s_min),
            "min_at": self._min_at,
            "armed": self._armed,
            "last_statistic": self.last_statistic,
            "start_ts": self._start_ts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._n, self._errors = int(state["n"]), int(state["errors"])
        self._ps_min = math.inf if state["ps_min"] is None else float(state["ps_min"])
        self._p_min = math.nan if state["p_min"] is None else float(state["p_min"])
        self._s_min = math.nan if state["s_min"] is None else float(state["s_min"])
        self._min_at = int(state["min_at"])
        self._armed = bool(state["armed"])
        self._last_statistic = restored_last_statistic(state)
        self._start_ts = int(state["start_ts"])

    def _run(self, errs, tss, keep, pos, detections) -> int:
        k, n, e, p = self._running(errs, tss, pos)
        s = np.sqrt(p * (1.0 - p) / n)
        ps = p + s
        active = n > self.min_n
        ps_act = np.where(active, ps, np.inf)
        cummin = np.minimum.accumulate(np.concatenate([[self._ps_min], ps_act]))
        record = active & (ps_act <= cummin[:-1])  # River: p + s <= ps_min updates the minimum
        steps = np.arange(k)
        last = np.maximum.accumulate(np.where(record, steps, -1))
        has = last >= 0
        p_min = np.where(has, p[last], self._p_min)
        s_min = np.where(has, s[last], self._s_min)
        min_at = np.where(has, n[last], self._min_at)
        thr_w = p_min + self.warning_level * s_min
        thr_d = p_min + self.drift_level * s_min
        drift = active & (ps > thr_d)
        warn = active & (ps > thr_w) & ~drift
        hits = np.flatnonzero(drift)
        end = int(hits[0]) + 1 if hits.size else k  # process up to and including the drift
        low = active[:end] & (ps[:end] <= p_min[:end] + self.rearm_level * s_min[:end])
        fires, armed = hysteresis_fires(warn[:end], low, self._armed)
        entering = np.flatnonzero(fires)
        if active[end - 1]:
            self._last_statistic = (float(ps[end - 1]), float(thr_d[end - 1]))

        def detection(i: int, severity: str, threshold: np.ndarray) -> Detection:
            return Detection(
                index=int(keep[pos + i]),
                severity=severity,
                statistic=float(ps[i]),
                p_value=None,
                threshold=float(threshold[i]),
                reference_n=int(min_at[i]),
                current_n=int(n[i]),
                start_ts=ts_or_none(self._start_ts),
                end_ts=ts_or_none(int(tss[pos + i])),
            )

        detections.extend(detection(int(i), "warning", thr_w) for i in entering)
        if hits.size:
            detections.append(detection(end - 1, "drift", thr_d))
            self._reset()  # start afresh from the next value
            return pos + end
        self._n, self._errors = int(n[-1]), int(e[-1])
        self._ps_min = float(cummin[-1])
        self._p_min, self._s_min = float(p_min[-1]), float(s_min[-1])
        self._min_at = int(min_at[-1])
        self._armed = armed
        return pos + k
