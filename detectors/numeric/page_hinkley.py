"""Page-Hinkley test: cumulative deviations from the running mean."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    Detector,
    as_bounded_array,
    as_ts_array,
    check_state_version,
    restored_last_statistic,
)
from driftline.detectors.window import ts_or_none

_MODES = ("up", "down", "both")


class PageHinkley(Detector):
    """The Page-Hinkley test (Page, 1954; Hinkley, 1971) of a change in the mean.

    With ``mean_t`` the mean of the values since the last reset, the test accumulates
    ``U_t = f U_{t-1} + (x_t - mean_t - delta)`` (``f``: ``forgetting``, 1 for the
    classical test) and for a fall ``L_t = f L_{t-1} + (x_t - mean_t + delta)``. ``drift``
    fires once ``t >= min_n`` and ``U_t - min U > threshold`` (mode ``up``) or
    ``max L - L_t > threshold`` (mode ``down``; ``both`` watches the two); the test then
    starts afresh from the next value. This is River's ``PageHinkley`` with its defaults,
    except that the test restarts after a drift (one alert per change). Its threshold is in
    the values' own units and is not calibrated to driftline's false-alarm budget: for a
    calibrated sequential test use ``cusum``.

    ``Detection.statistic`` is the crossing excursion, ``threshold`` is ``threshold``,
    ``current_n`` the values since the last reset. NaN values are skipped. No warnings.

    Parameters
    ----------
    min_n
        Values before the test can fire.
    delta
        Magnitude of changes ignored.
    threshold
        ``lambda``: the excursion that is a drift.
    forgetting
        Fading factor of the cumulative sums, in (0, 1].
    mode
        ``up`` (the mean rising: errors growing), ``down`` or ``both``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(3_000) < 0.1, rng.random(2_000) < 0.4]).astype(float)
    >>> [(d.index, d.severity) for d in PageHinkley(mode="up").update(errors)]
    [(3125, 'drift')]

    References
    ----------
    E. S. Page (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    D. V. Hinkley (1971). Inference about the change-point from cumulative sum tests.
    Biometrika 58(3), 509-523.
    """

    input_type = "numeric"
    method = "page_hinkley"

    def __init__(
        self,
        min_n: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        forgetting: float = 0.9999,
        mode: str = "both",
    ) -> None:
        if not isinstance(min_n, (int, np.integer)) or isinstance(min_n, bool) or min_n < 1:
            raise ValueError(f"PageHinkley: min_n must be an integer >= 1, got {min_n!r}")
        if not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
            raise ValueError(f"PageHinkley: delta must be a number >= 0, got {delta!r}")
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"PageHinkley: threshold must be a positive number, got {threshold!r}")
        if not isinstance(forgetting, (int, float)) or not 0.0 < forgetting <= 1.0:
            raise ValueError(f"PageHinkley: forgetting must be in (0, 1], got {forgetting!r}")
        if mode not in _MODES:
            raise ValueError(f"PageHinkley: mode must be one of {', '.join(_MODES)}, got {mode!r}")
        self.min_n = int(min_n)
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.forgetting = float(forgetting)
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._up = self._up_min = 0.0
        self._down = self._down_max = 0.0
        self._start_ts = -1

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "n": self._n,
            "sums": [self._mean, self._up, self._up_min, self._down, self._down_max],
            "start_ts": self._start_ts,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._n, self._start_ts = int(state["n"]), int(state["start_ts"])
        self._mean, self._up, self._up_min, self._down, self._down_max = map(float, state["sums"])
        self._last_statistic = restored_last_statistic(state)

    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        arr = as_bounded_array(values)  # sums of squares stay finite
        ts_arr = as_ts_array(ts, arr.shape[0])
        out: list[Detection] = []
        f, delta, up, down = self.forgetting, self.delta, self.mode != "down", self.mode != "up"
        for i in np.flatnonzero(~np.isnan(arr)).tolist():
            x = float(arr[i])
            if self._n == 0:
                self._start_ts = int(ts_arr[i])
            self._n += 1
            self._mean += (x - self._mean) / self._n
            dev = x - self._mean
            self._up = f * self._up + dev - delta
            self._up_min = min(self._up_min, self._up)
            self._down = f * self._down + dev + delta
            self._down_max = max(self._down_max, self._down)
            stat = max(self._up - self._up_min if up else 0.0, self._down_max - self._down if down else 0.0)
            self._last_statistic = (stat, self.threshold)
            if self._n >= self.min_n and stat > self.threshold:
                out.append(Detection(i, "drift", stat, None, self.threshold, 0, self._n,
                                     ts_or_none(self._start_ts), ts_or_none(int(ts_arr[i]))))
                self._reset()  # start afresh from the next value
        return out
