"""The sliding-window two-sample test shared by the numeric window detectors (KS, CvM, ...).

A :class:`WindowTest` keeps a sorted reference sample and the last ``window`` values, and runs
its test on a fixed schedule that does not depend on how the stream is cut into batches.
Subclasses give the statistic, its p-value and its critical value; everything else (reference
collection and renewal, schedule, drift and warning rules, state) lives here once.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from .base import (
    STATE_VERSION,
    Detection,
    Detector,
    as_float_array,
    check_state_version,
    present_values,
    restored_last_statistic,
)
from .calibration import WindowedTests

#: the smallest reference and window sizes accepted
MIN_SIZE = 10
#: relative slack of the pre-filter on the statistic (the decision itself is made on the p-value)
_STAT_SLACK = 1e-9
#: windows' worth of values processed per step (only a matter of speed, not of results)
CHUNK_WINDOWS = 8
#: a warning re-arms once a test gives ``p >= alpha_warning ** WARNING_REARM_EXPONENT``
WARNING_REARM_EXPONENT = 0.5
#: windows' values per vectorised group of tests (only a matter of speed and memory)
_GROUP_VALUES = 1 << 16


def set_window_params(
    obj: Any,
    reference_size: int,
    window: int,
    stride: int,
    alpha_drift: float,
    alpha_warning: float | None,
) -> None:
    """Set a windowed detector's ``reference_size``, ``window``, ``stride``, ``alpha_drift``
    and ``alpha_warning``, after checking them (a ValueError names the detector and the value)."""
    cls = type(obj).__name__

    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    for name, value in (("reference_size", reference_size), ("window", window)):
        if not is_int(value) or value < MIN_SIZE:
            raise ValueError(f"{cls}: {name} must be an integer >= {MIN_SIZE}, got {value!r}")
    if not is_int(stride) or stride < 1:
        raise ValueError(f"{cls}: stride must be an integer >= 1, got {stride!r}")
    if stride > window:
        raise ValueError(f"{cls}: stride ({stride}) must not exceed window ({window})")
    if not isinstance(alpha_drift, (int, float)) or not 0.0 < alpha_drift < 1.0:
        raise ValueError(f"{cls}: alpha_drift must be in (0, 1), got {alpha_drift!r}")
    if alpha_warning is not None:
        if not isinstance(alpha_warning, (int, float)) or not 0.0 < alpha_warning < 1.0:
            raise ValueError(f"{cls}: alpha_warning must be in (0, 1) or None, got {alpha_warning!r}")
        if alpha_warning <= alpha_drift:
            raise ValueError(
                f"{cls}: alpha_warning ({alpha_warning}) must be greater than "
                f"alpha_drift ({alpha_drift})"
            )
    obj.reference_size = int(reference_size)
    obj.window = int(window)
    obj.stride = int(stride)
    obj.alpha_drift = float(alpha_drift)
    obj.alpha_warning = None if alpha_warning is None else float(alpha_warning)


def ts_or_none(value: int) -> int | None:
    """Timestamps of -1 (see ``as_ts_array``) mean unknown."""
    return None if value < 0 else int(value)


class WindowTest(Detector):
    """A two-sample test of the last ``window`` values against a reference sample.

    The first ``reference_size`` non-missing values form the reference (or call
    :meth:`fit_reference`). Let ``c`` be the number of non-missing values seen since the
    reference was completed (``c = 1`` for the first one). A test runs right after the value
    with count ``c`` whenever ``c >= window`` and ``c % stride == 0``.

    * ``drift`` when ``p < alpha_drift``: the window is emptied, and the next
      ``reference_size`` non-missing values form a new reference (no tests meanwhile).
    * ``warning`` when ``alpha_drift <= p < alpha_warning``, once on entering that zone; it
      re-arms when a test gives ``p >= alpha_warning ** 0.5`` (hysteresis) or after a drift.

    NaN values are skipped. ``Detection.start_ts`` / ``end_ts`` are the timestamps of the
    first and last values of the tested window, when ``ts`` was given.
    """

    input_type = "numeric"

    def __init__(
        self,
        reference_size: int = 10_000,
        window: int = 1_000,
        stride: int = 100,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        sliding: bool = False,
    ) -> None:
        if not isinstance(sliding, bool):
            raise ValueError(f"{type(self).__name__}: sliding must be true or false, got {sliding!r}")
        set_window_params(self, reference_size, window, stride, alpha_drift, alpha_warning)
        self.sliding = sliding
        self._reset()

    #: whether the false-alarm budget counts clusters of exceedances (the detector raises one
    #: alarm per cluster) rather than exceedances: set by the tests whose p-values and
    #: clusters were measured against the model of ``calibration.window_extremal_index``
    budget_clusters: ClassVar[bool] = False

    @property
    def tests_per_value(self) -> float:
        """``1 / stride``; a :class:`~driftline.detectors.calibration.WindowedTests` when
        :attr:`budget_clusters` is set, so that ``alpha_per_test`` budgets one alarm per
        cluster of exceedances of these overlapping windows (the detector raises one, then
        renews its reference)."""
        if self.budget_clusters:
            return WindowedTests(self.window, self.stride)
        return 1.0 / self.stride

    # ------------------------------------------------------------ the test
    @abstractmethod
    def _fit(self, reference: np.ndarray) -> None:
        """Precompute what the test needs from the sorted reference."""

    @abstractmethod
    def _statistic(self, window: np.ndarray) -> float:
        """The statistic of ``window`` (unsorted) against the reference; larger = more drift."""

    def _encode(self, values: np.ndarray) -> np.ndarray:
        """What the window keeps per value for :meth:`_statistics` (by default the value).

        A subclass may keep something cheaper to test, such as the value's rank in the
        reference, computed once per value instead of once per test that sees it.
        """
        return values

    def _statistics(self, encoded: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Statistics of the windows ``encoded[stop - window : stop]`` for every ``stop``."""
        return np.array([self._statistic(encoded[stop - self.window : stop]) for stop in stops.tolist()])

    @abstractmethod
    def _p_value(self, statistic: float) -> float:
        """The p-value of ``statistic``."""

    @abstractmethod
    def _critical(self, alpha: float) -> float:
        """The smallest statistic whose p-value is at most ``alpha`` (up to rounding)."""

    # ----------------------------------------------------------------- state
    def _reset(self) -> None:
        self._ref_buf = np.empty(self.reference_size, dtype=np.float64)
        self._ref_fill = 0
        self._reference: np.ndarray | None = None  # sorted, set once the reference is complete
        self._win = np.empty(0, dtype=np.float64)  # last min(count, window) values
        self._win_ts = np.empty(0, dtype=np.int64)
        self._win_enc = np.empty(0, dtype=np.float64)  # ``_encode`` of ``_win``
        self._hist = np.empty(0, dtype=np.float64)  # sliding: the values before the window
        self._count = 0  # non-missing values seen since the reference was completed
        self._warned = False
        self._prefilter = math.inf
        self._drift_crit = math.inf

    def _set_reference(self, sorted_values: np.ndarray) -> None:
        self._reference = sorted_values
        self._ref_fill = 0
        self._win = np.empty(0, dtype=np.float64)
        self._win_ts = np.empty(0, dtype=np.int64)
        self._count = 0
        self._warned = False
        self._fit(sorted_values)
        self._win_enc = self._enc(self._win)
        self._drift_crit = self._critical(self.alpha_drift)
        # a warning re-arms below this statistic: every test above it computes its p-value
        rearm = self.alpha_drift if self.alpha_warning is None else self.alpha_warning**WARNING_REARM_EXPONENT
        self._prefilter = min(self._critical(rearm), self._drift_crit) * (1.0 - _STAT_SLACK)

    def fit_reference(self, values: Any) -> None:
        """Use ``values`` (e.g. training data) as the reference and start monitoring now.

        More than ``reference_size`` values are thinned to ``reference_size`` evenly spaced
        order statistics, which keeps the state bounded and the ECDF nearly unchanged.
        """
        arr = as_float_array(values)
        arr = arr[~np.isnan(arr)]
        if arr.shape[0] < MIN_SIZE:
            raise ValueError(
                f"{type(self).__name__}.fit_reference: needs at least {MIN_SIZE} non-missing "
                f"values, got {arr.shape[0]}"
            )
        if self.sliding:  # the most recent values, in their order, start the history
            history = arr[-self.reference_size :]
            self._set_reference(np.sort(history))
            self._hist = history.copy()
            return
        arr = np.sort(arr)
        if arr.shape[0] > self.reference_size:
            keep = np.linspace(0, arr.shape[0] - 1, self.reference_size).round().astype(np.int64)
            arr = arr[keep]
        self._set_reference(arr)

    def rebaseline(self) -> None:
        """Make the current window the new reference; with fewer than ``MIN_SIZE`` values in
        the window, the values that follow form it (as after a drift)."""
        if self._win.shape[0] < MIN_SIZE or self.sliding:  # a sliding reference starts over
            self._reset()
            return
        self._set_reference(np.sort(self._win))

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "reference_buffer": self._ref_buf[: self._ref_fill].tolist(),
            # a sliding reference is the history's, at each test
            "reference": None if self._reference is None or self.sliding else self._reference.tolist(),
            "history": self._hist.tolist(),
            "window": self._win.tolist(),
            "window_ts": self._win_ts.tolist(),
            "count": self._count,
            "warned": self._warned,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        history = np.asarray(state.get("history", []), dtype=np.float64)
        if state["reference"] is not None:
            self._set_reference(np.asarray(state["reference"], dtype=np.float64))
        elif self.sliding and history.shape[0]:
            self._set_reference(np.sort(history[-self.reference_size :]))
        self._hist = history
        buf = np.asarray(state["reference_buffer"], dtype=np.float64)
        self._ref_buf[: buf.shape[0]] = buf
        self._ref_fill = buf.shape[0]
        self._win = np.asarray(state["window"], dtype=np.float64)
        self._win_ts = np.asarray(state["window_ts"], dtype=np.int64)
        if self._reference is not None:
            self._win_enc = self._enc(self._win)
        self._count = int(state["count"])
        self._warned = bool(state["warned"])
        self._last_statistic = restored_last_statistic(state)

    # ---------------------------------------------------------------- update
    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        vals, tss, keep = present_values(values, ts)
        detections: list[Detection] = []
        pos = 0
        while pos < vals.shape[0]:
            if self._reference is None:
                pos = self._collect_reference(vals, pos)
            else:
                pos = self._monitor(vals, tss, keep, pos, detections)
        return detections

    def _collect_reference(self, vals: np.ndarray, pos: int) -> int:
        take = min(self.reference_size - self._ref_fill, vals.shape[0] - pos)
        self._ref_buf[self._ref_fill : self._ref_fill + take] = vals[pos : pos + take]
        self._ref_fill += take
        if self._ref_fill == self.reference_size:
            self._set_reference(np.sort(self._ref_buf))
            if self.sliding:
                self._hist = self._ref_buf.copy()  # in arrival order: the oldest leave first
            self._ref_buf = np.empty(self.reference_size, dtype=np.float64)
        return pos + take

    def _judge(self, stat: float) -> tuple[str, float, float] | None:
        """(severity, level, p) when the test fires; updates the warning state."""
        if stat < self._prefilter:
            self._warned = False
            return None
        p = self._p_value(stat)
        if p < self.alpha_drift:
            return "drift", self.alpha_drift, p
        if self.alpha_warning is not None and p < self.alpha_warning:
            if self._warned:
                return None
            self._warned = True
            return "warning", self.alpha_warning, p
        if self.alpha_warning is None or p >= self.alpha_warning**WARNING_REARM_EXPONENT:
            self._warned = False
        return None

    def _monitor(self, vals, tss, keep, pos, detections) -> int:
        """Feed ``vals[pos:]`` to the window; return where to continue (past a drift: renew)."""
        c0 = self._count
        end = pos + CHUNK_WINDOWS * self.window  # bounded work per step: a drift stops early
        new, new_ts = vals[pos:end], tss[pos:end]
        combined = np.concatenate([self._win, new])
        combined_ts = np.concatenate([self._win_ts, new_ts])
        combined_enc = np.concatenate([self._win_enc, self._enc(new)])
        offset = self._win.shape[0] - c0  # combined[offset + c - 1] holds the value of count c
        c_end = c0 + new.shape[0]
        first = max(self.window, c0 + 1)
        first = -(-first // self.stride) * self.stride  # smallest test count past c0
        counts = np.arange(first, c_end + 1, self.stride)
        group = max(1, _GROUP_VALUES // self.window)
        for g in range(0, counts.shape[0], group):
            cs = counts[g : g + group]
            stats = self._sliding_statistics(combined, offset + cs) if self.sliding else (
                self._statistics(combined_enc, offset + cs)
            )
            if stats[-1] < self._prefilter and np.all(stats < self._prefilter):
                self._warned = False  # nothing can fire in this group (see ``_judge``)
                self._last_statistic = (float(stats[-1]), self._drift_crit)
                continue
            for c, stat in zip(cs.tolist(), stats.tolist()):
                if self._check(c, stat, c0, pos, offset, keep, combined_ts, detections):
                    return pos + c - c0
        self._count = c_end
        if self.sliding:
            before = combined[: max(combined.shape[0] - self.window, 0)]
            self._hist = np.concatenate([self._hist, before])[-self.reference_size :].copy()
        self._win = combined[-self.window :].copy()
        self._win_ts = combined_ts[-self.window :].copy()
        self._win_enc = combined_enc[-self.window :].copy()
        return pos + new.shape[0]

    def _enc(self, values: np.ndarray) -> np.ndarray:
        """:meth:`_encode`, which is against a fixed reference: a sliding one keeps the values."""
        return values if self.sliding else self._encode(values)

    def _sliding_statistics(self, combined: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Each window against the ``reference_size`` values just before it (``sliding``)."""
        full = np.concatenate([self._hist, combined])
        out = []
        for stop in (stops + self._hist.shape[0]).tolist():
            start = stop - self.window
            self._reference = np.sort(full[start - self.reference_size : start])
            self._fit(self._reference)
            out.append(self._statistic(full[start:stop]))
        return np.array(out)

    def _check(self, c, stat, c0, pos, offset, keep, combined_ts, detections) -> bool:
        """Judge the test after count ``c``; True on a drift (the reference is then renewed)."""
        stop = offset + c
        self._last_statistic = (stat, self._drift_crit)
        fired = self._judge(stat)
        if fired is None:
            return False
        severity, level, p = fired
        detections.append(
            Detection(
                index=int(keep[pos + c - c0 - 1]),
                severity=severity,  # type: ignore[arg-type]
                statistic=stat,
                p_value=p,
                threshold=level,
                reference_n=int(self._reference.shape[0]),
                current_n=self.window,
                start_ts=ts_or_none(combined_ts[stop - self.window]),
                end_ts=ts_or_none(combined_ts[stop - 1]),
            )
        )
        if severity == "drift":
            self._reset()  # renew the reference from the next values
            return True
        return False
