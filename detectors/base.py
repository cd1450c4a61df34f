"""The detector contract: every drift detector in driftline has this shape.

A detector watches one stream of values (one feature, the labels, the predictions or the
learner's errors) and reports :class:`Detection` events. It is pure computation: no I/O, no
clock, no randomness that is not seeded, so the same detector gives the same output in a live
consumer, in ``driftline backtest`` and in a unit test.

Guarantees every detector keeps (the conformance tests check them):

* **Batch invariance.** ``update(x)`` with a whole NumPy batch returns exactly the detections
  that feeding the same values one at a time would return, at the same positions. Detections
  carry the 0-based ``index`` into the batch they were given.
* **One alert per excursion.** A detector reports ``drift`` once for one change. It then renews
  its reference from the values that follow (or resets, for error-rate detectors) and re-arms.
  A ``warning`` fires once when the statistic enters the warning zone and re-arms only after
  the statistic has fallen back to a lower re-arm level (hysteresis), so a statistic hovering
  at the warning line gives one warning, not a storm.
* **Bounded state.** Memory is bounded by the reference and window sizes, never by the length
  of the stream. ``state_dict()`` returns plain JSON-serialisable data (no pickle), and
  ``load_state_dict`` restores a detector that gives identical future output.
* **Missing values** (NaN for numbers, ``None`` for categories) are skipped by drift tests:
  they count for no window. Data-quality detectors are the ones that look at them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

Severity = Literal["warning", "drift"]
InputType = Literal["numeric", "categorical", "binary"]

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Detection:
    """One firing of a detector.

    ``threshold`` is the significance level the p-value was compared with when the detector
    runs a hypothesis test (``p_value`` is then set), otherwise the level the statistic was
    compared with (``p_value`` is ``None``). ``details`` says what the detector knew at that
    event (a chi-square's unseen levels, the quality test that fired): taken at the firing, so
    the same however the values were cut into batches.
    """

    index: int
    severity: Severity
    statistic: float
    p_value: float | None
    threshold: float
    reference_n: int
    current_n: int
    start_ts: int | None = None
    end_ts: int | None = None
    details: dict[str, Any] | None = None


class Detector(ABC):
    """Base class of all detectors.

    Subclasses store every hyperparameter under its own name in ``__init__``, validate it
    (raising ``ValueError`` that names the parameter), then call ``self._reset()``, which
    creates all changing state in attributes with a leading underscore.
    """

    #: what values the detector takes: numbers, category labels, or 0/1 outcomes
    input_type: ClassVar[InputType] = "numeric"
    #: the method name used in configuration files
    method: ClassVar[str] = ""

    @abstractmethod
    def _reset(self) -> None:
        """Create (or re-create) all changing state."""

    @abstractmethod
    def update(self, values: np.ndarray, ts: np.ndarray | None = None) -> list[Detection]:
        """Feed a batch of values (with their event timestamps in ms, if known).

        Returns the detections fired inside this batch, in order of ``index``.
        """

    def reset(self) -> None:
        """Forget everything learned from the stream, keeping the hyperparameters."""
        self._reset()
        self._last_statistic = None

    def rebaseline(self) -> None:
        """Accept the data as it is now as the new normal: take a new reference.

        By default the values that follow form it, as after a drift (error-rate detectors
        start afresh); windowed tests make their current window the reference at once.
        """
        self._reset()

    def restore_reference(self) -> None:
        """Watch a restored model: compare with the reference of before the last drift alarm.

        After a rollback the values come from an older model again, the one the reference of
        before the drift described. A detector that remembers that reference (the rank and
        Bernoulli CUSUMs, while they collect a new one after a drift) takes it back, its
        charts at zero, and watches again at once, so a change that follows a false alarm is
        still alerted; one whose reference is complete keeps it and restarts its charts. By
        default (detectors that restart their statistics after a drift) it is :meth:`rebaseline`.
        """
        self.rebaseline()

    @property
    def last_statistic(self) -> tuple[float, float] | None:
        """``(statistic, drift threshold on the statistic's scale)`` of the most recent test.

        ``None`` before the first test. Cheap to read after every batch (a stored tuple); it
        survives a drift's reference renewal, so it shows the statistic that fired.
        """
        return getattr(self, "_last_statistic", None)

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The changing state as JSON-serialisable data, tagged with ``STATE_VERSION``."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the changing state written by :meth:`state_dict`."""

    @property
    def tests_per_value(self) -> float:
        """How many tests the detector runs per value it sees (for the false-alarm budget)."""
        return 1.0


def hysteresis_fires(high: np.ndarray, low: np.ndarray, armed: bool) -> tuple[np.ndarray, bool]:
    """Where an armed alarm fires, with re-arming: the shared warning rule.

    ``high[i]``: the statistic is in the alarm zone at step ``i``; ``low[i]``: it is back at or
    below the re-arm level (``high`` and ``low`` never both hold). The alarm fires at a
    ``high`` step when it is armed; it is then disarmed until a ``low`` step re-arms it.
    Returns the firing mask and whether the alarm is armed after the last step.

    >>> h = np.array([0, 1, 1, 0, 1, 0, 1], bool); lo = np.array([1, 0, 0, 0, 0, 1, 0], bool)
    >>> hysteresis_fires(h, lo, True)[0].astype(int).tolist()
    [0, 1, 0, 0, 0, 0, 1]
    """
    marker = high | low
    idx = np.flatnonzero(marker)
    if idx.size == 0:
        return np.zeros(high.shape[0], dtype=bool), armed
    is_high = high[idx]
    prev_low = np.concatenate([[armed], ~is_high[:-1]])  # previous marker was a re-arm
    fires = np.zeros(high.shape[0], dtype=bool)
    fires[idx[is_high & prev_low]] = True
    return fires, bool(~is_high[-1])


def check_state_version(state: dict[str, Any], cls: type) -> None:
    version = state.get("version")
    if version != STATE_VERSION:
        raise ValueError(
            f"{cls.__name__}: state version {version!r} is not supported "
            f"(this driftline reads version {STATE_VERSION})"
        )


#: the largest magnitude a detector that sums values and their squares (ADWIN, Page-Hinkley)
#: takes; a value beyond it counts as this much, so its sums stay finite (and its state JSON)
MAX_MAGNITUDE = 1e100


def as_bounded_array(values: Any) -> np.ndarray:
    """:func:`as_float_array` with values clipped to ``±MAX_MAGNITUDE`` (NaN stays missing)."""
    return np.clip(as_float_array(values), -MAX_MAGNITUDE, MAX_MAGNITUDE)


def as_float_array(values: Any) -> np.ndarray:
    """Coerce a scalar or a sequence to a 1-D float64 array (NaN marks missing)."""
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(-1)


def as_ts_array(ts: Any, n: int) -> np.ndarray:
    """Timestamps for ``n`` values; ``None`` gives -1 (unknown) for every value."""
    if ts is None:
        return np.full(n, -1, dtype=np.int64)
    arr = np.asarray(ts, dtype=np.int64).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"ts has {arr.shape[0]} entries for {n} values")
    return arr


def restored_last_statistic(state: dict[str, Any]) -> tuple[float, float] | None:
    """The ``last_statistic`` a ``state_dict`` saved (None when no test had run)."""
    last = state.get("last_statistic")
    return None if last is None else (float(last[0]), float(last[1]))


def present_values(values: Any, ts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A numeric batch without its missing (NaN) values: (values, their timestamps, their
    indices in the batch, which a detection's ``index`` refers to).

    With nothing missing the values and timestamps are the batch's own arrays, not copies:
    a detector reads them and keeps copies of what it keeps, never writes into them.
    """
    arr = as_float_array(values)
    ts_arr = as_ts_array(ts, arr.shape[0])
    keep = np.flatnonzero(~np.isnan(arr))
    if keep.shape[0] == arr.shape[0]:
        return arr, ts_arr, keep
    return arr[keep], ts_arr[keep], keep


def binary_input(values: Any, ts: Any, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch of 0/1 outcomes: (outcomes as int64, their timestamps, their batch indices).

    NaN (missing) values are skipped; anything but 0, 1 and NaN is a ValueError naming ``who``.
    """
    vals, tss, keep = present_values(values, ts)
    if np.any((vals != 0.0) & (vals != 1.0)):
        raise ValueError(f"{who}: values must be 0 (correct) or 1 (error), or NaN (missing)")
    return vals.astype(np.int64), tss, keep
