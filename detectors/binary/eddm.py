"""Early Drift Detection Method (EDDM) on a stream of 0/1 errors."""

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
    restored_last_statistic,
)
from driftline.detectors.window import ts_or_none


class EDDM(Detector):
    """Early Drift Detection Method of Baena-García et al. (2006) on a learner's 0/1 errors.

    EDDM watches the distance (in values) between consecutive errors rather than the error
    rate, which makes it quicker than DDM on gradual drift. At every error it updates the mean
    ``p'`` and the sample standard deviation ``s'`` of the distances since the last reset (the
    first distance counts from the reset). Once more than ``min_errors`` values have been seen
    it keeps ``p'max + 2 s'max``, the maximum of ``p' + 2 s'``; an error that does not raise
    the maximum, once more than ``min_errors`` errors have been seen, is tested with

        ``level = (p' + 2 s') / (p'max + 2 s'max)``

    * ``drift`` when ``level < drift_level``; the statistics then start afresh from the next
      value;
    * ``warning`` when ``level < warning_level``, once; it re-arms only when ``level`` is back
      at or above ``rearm_level`` (or after a drift), so a level hovering at the warning line
      gives one warning, not a storm (River re-raises its warning flag at every such error).

    This follows ``river.drift.binary.EDDM`` (``min_errors`` is its ``warm_start``,
    ``warning_level`` its ``alpha``, ``drift_level`` its ``beta``). The one intended difference
    is numerical: ``p'`` and ``s'`` come from exact integer sums of the distances and of their
    squares (River keeps Welford's running moments), which makes the result independent of
    batching.

    ``Detection.statistic`` is ``level`` (it falls towards the thresholds: the detector fires
    *below* them), ``threshold`` is ``warning_level`` or ``drift_level``, ``reference_n`` is the
    number of errors and ``current_n`` the number of values since the last reset;
    ``start_ts`` / ``end_ts`` are the timestamps of the first value since the last reset and of
    the firing value. NaN values are skipped.

    **Input:** 1 is an error (the prediction was wrong), 0 a correct prediction.

    Parameters
    ----------
    min_errors
        Values before the maximum is tracked, and errors before the level is tested.
    warning_level
        Warning threshold on ``level``, in (0, 1).
    drift_level
        Drift threshold on ``level``, smaller than ``warning_level``.
    rearm_level
        Level, above ``warning_level`` and at most 1, that ``level`` must come back to before
        another warning can fire.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(2_000) < 0.1, rng.random(2_000) < 0.4]).astype(float)
    >>> [d.index for d in EDDM().update(errors) if d.severity == "drift"][0]  # River's EDDM: 2099 too
    2099

    References
    ----------
    M. Baena-García, J. del Campo-Ávila, R. Fidalgo, A. Bifet, R. Gavaldà, R. Morales-Bueno
    (2006). Early Drift Detection Method. Fourth International Workshop on Knowledge Discovery
    from Data Streams (ECML PKDD 2006), 77-86.
    """

    input_type = "binary"
    method = "eddm"

    def __init__(
        self,
        min_errors: int = 30,
        warning_level: float = 0.95,
        drift_level: float = 0.90,
        rearm_level: float = 0.975,
    ) -> None:
        if not isinstance(min_errors, (int, np.integer)) or isinstance(min_errors, bool) or min_errors < 1:
            raise ValueError(f"EDDM: min_errors must be an integer >= 1, got {min_errors!r}")
        levels = (("warning_level", warning_level), ("drift_level", drift_level), ("rearm_level", rearm_level))
        for name, value in levels:
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or not 0.0 < value <= 1.0
            ):
                raise ValueError(f"EDDM: {name} must be a number in (0, 1], got {value!r}")
        if drift_level >= warning_level:
            raise ValueError(
                f"EDDM: drift_level ({drift_level}) must be smaller than warning_level ({warning_level})"
            )
        if rearm_level <= warning_level:
            raise ValueError(
                f"EDDM: rearm_level ({rearm_level}) must be greater than warning_level ({warning_level})"
            )
        self.min_errors = int(min_errors)
        self.warning_level = float(warning_level)
        self.drift_level = float(drift_level)
        self.rearm_level = float(rearm_level)
        self._reset()

    def _reset(self) -> None:
        self._n = 0  # values since the last reset
        self._errors = 0
        self._last_error = 0  # count at the last error (0: the reset)
        self._dist_sum = 0  # sum of the distances between errors (exact integer)
        self._dist_sq = 0  # sum of their squares (exact integer)
        self._max = -1.0  # p'max + 2 s'max; negative until recorded
        self._armed = True
        self._start_ts = -1

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "n": self._n,
            "errors": self._errors,
            "last_error": self._last_error,
            "dist_sum": self._dist_sum,
            "dist_sq": self._dist_sq,
            "max": self._max,
            "armed": self._armed,
            "start_ts": self._start_ts,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._n, self._errors = int(state["n"]), int(state["errors"])
        self._last_error = int(state["last_error"])
        self._dist_sum, self._dist_sq = int(state["dist_sum"]), int(state["dist_sq"])
        self._max = float(state["max"])
        self._armed = bool(state["armed"])
        self._start_ts = int(state["start_ts"])
        self._last_statistic = restored_last_statistic(state)

    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        errs, tss, keep = binary_input(values, ts, "EDDM")
        error_at = np.flatnonzero(errs == 1).tolist()
        detections: list[Detection] = []
        pos = 0  # next value (in errs) to process
        for j in error_at:
            if self._n == 0:
                self._start_ts = int(tss[pos])
            self._n += j - pos + 1  # the correct predictions before the error, and the error
            pos = j + 1
            found = self._error()
            if found is None:
                continue
            severity, level, threshold = found
            detections.append(
                Detection(
                    index=int(keep[j]),
                    severity=severity,
                    statistic=level,
                    p_value=None,
                    threshold=threshold,
                    reference_n=self._errors,
                    current_n=self._n,
                    start_ts=ts_or_none(self._start_ts),
                    end_ts=ts_or_none(int(tss[j])),
                )
            )
            if severity == "drift":
                self._reset()  # start afresh from the next value
        if pos < errs.shape[0]:
            if self._n == 0:
                self._start_ts = int(tss[pos])
            self._n += errs.shape[0] - pos
        return detections

    def _error(self) -> tuple[str, float, float] | None:
        """Account for an error at count ``self._n``; the alarm it raises, if any."""
        dist = self._n - self._last_error
        self._last_error = self._n
        self._errors += 1
        self._dist_sum += dist
        self._dist_sq += dist * dist
        if self._n <= self.min_errors:
            return None
        e = self._errors
        mean = self._dist_sum / e
        var = max(0.0, (self._dist_sq - self._dist_sum * mean) / (e - 1)) if e > 1 else 0.0
        p2s = mean + 2.0 * math.sqrt(var)
        if p2s > self._max:
            self._max = p2s
            if e > self.min_errors:
                self._last_statistic = (1.0, self.drift_level)
                self._armed = True  # level 1: at or above the re-arm level
            return None
        if e <= self.min_errors:
            return None
        level = p2s / self._max
        self._last_statistic = (level, self.drift_level)
        if level < self.drift_level:
            return "drift", level, self.drift_level
        if level < self.warning_level:
            if self._armed:
                self._armed = False
                return "warning", level, self.warning_level
        elif level >= self.rearm_level:
            self._armed = True
        return None
