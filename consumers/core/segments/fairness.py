"""The gap of a metric between groups, per window, against the gap the reference shows.

Pure computation over the learner's learned events, in learning order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from driftline.detectors.base import Detection

#: the fairness windows kept (for the report and telemetry)
HISTORY = 200


@dataclass
class _Counts:
    """Per group: events counted by the metric and the sum of its 0/1 values."""

    n: dict[str, int] = field(default_factory=dict)
    s: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def add(self, groups: list[str], values: np.ndarray, included: np.ndarray) -> None:
        self.events += len(groups)
        for g, v, keep in zip(groups, values.tolist(), included.tolist()):
            if keep:
                self.n[g] = self.n.get(g, 0) + 1
                self.s[g] = self.s.get(g, 0) + int(v)

    def rate(self, g: str) -> float:
        return self.s[g] / self.n[g]

    def to_list(self) -> list[Any]:
        return [self.n, self.s, self.events]


class FairnessGap:
    """Whether the gap of a 0/1 metric between two groups widened beyond the reference's.

    The metric is a rate per group: the share of positive predictions (``positive_rate``),
    of right ones (``accuracy``) or of positive predictions among the positives (``tpr``,
    equal opportunity; Hardt, Price & Srebro, 2016). The reference is the first
    ``reference_size`` learned events; after it, every ``window`` learned events close a
    window. For each pair of groups with at least ``min_group`` counted events both in the
    window and in the reference, the window's difference of rates ``d`` is compared with the
    reference's ``d0`` by the two-sided two-sample z-test of ``d - d0`` (the four rates'
    binomial variances added: Wald's test of a difference of differences); the window
    alerts when the most significant pair's p-value is below ``alpha / pairs`` (Bonferroni
    over the pairs compared) and ``|d| > |d0|`` (the gap widened). One test per window, so
    ``alpha`` is the budget's share times ``window`` (:func:`~driftline.detectors.calibration.alpha_per_test`
    with ``1 / window`` tests per value). ``Detection.statistic`` is ``|z|``, ``threshold``
    the level the p-value was held to; :attr:`last` has the window's groups and gap.
    """

    def __init__(self, reference_size: int, window: int, min_group: int, alpha_drift: float,
                 alpha_warning: float | None) -> None:
        self.reference_size = reference_size
        self.window = window
        self.min_group = min_group
        self.alpha_drift = alpha_drift
        self.alpha_warning = alpha_warning
        self._reset()

    def _reset(self) -> None:
        self._reference = _Counts()
        self._open = _Counts()
        self.history: list[dict[str, Any]] = []
        #: per severity: whether it may fire (once per excursion: re-armed by a window that is
        #: not beyond its level)
        self._armed = {"drift": True, "warning": True}
        #: details of the windows closed by the last update, by their index in its batch
        self.last: dict[int, dict[str, Any]] = {}

    def update(self, groups: list[str], values: np.ndarray, included: np.ndarray) -> list[Detection]:
        """Feed a batch of events: their group, the metric's 0/1 value, and whether it counts."""
        out: list[Detection] = []
        self.last = {}
        pos = 0
        while pos < len(groups):
            if self._reference.events < self.reference_size:
                target, room = self._reference, self.reference_size - self._reference.events
            else:
                target, room = self._open, self.window - self._open.events
            stop = min(len(groups), pos + room)
            target.add(groups[pos:stop], values[pos:stop], included[pos:stop])
            pos = stop
            if target is self._open and self._open.events >= self.window:
                det = self._close(stop - 1)
                if det is not None:
                    out.append(det)
        return out

    def _close(self, index: int) -> Detection | None:
        window, ref = self._open, self._reference
        self._open = _Counts()
        groups = sorted(g for g in window.n if window.n[g] >= self.min_group and ref.n.get(g, 0) >= self.min_group)
        rates = {g: window.rate(g) for g in groups}
        gap = (max(rates.values()) - min(rates.values())) if len(groups) >= 2 else None
        ref_gap = (max(ref.rate(g) for g in groups) - min(ref.rate(g) for g in groups)) if len(groups) >= 2 else None
        entry: dict[str, Any] = {
            "window": len(self.history), "gap": gap, "reference_gap": ref_gap,
            "groups": {g: {"events": window.n[g], "rate": round(rates[g], 6),
                           "reference_rate": round(ref.rate(g), 6)} for g in groups},
        }
        self.history = [*self.history[-(HISTORY - 1):], entry]
        best: tuple[float, float, str, str] | None = None
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                d, d0 = rates[a] - rates[b], ref.rate(a) - ref.rate(b)
                var = sum(_variance(c.s[g], c.n[g]) for c in (window, ref) for g in (a, b))
                z = (d - d0) / math.sqrt(var)
                p = float(2.0 * ndtr(-abs(z)))
                if abs(d) > abs(d0) and (best is None or p < best[0]):
                    best = (p, abs(z), a, b)
        pairs = max(1, len(groups) * (len(groups) - 1) // 2)
        p, z, a, b = best if best is not None else (1.0, 0.0, "", "")
        if best is not None:
            entry["pair"], entry["p_value"] = [a, b], p
        fired: Detection | None = None
        for severity, alpha in (("drift", self.alpha_drift), ("warning", self.alpha_warning)):
            beyond = alpha is not None and p < alpha / pairs
            if beyond and self._armed[severity] and fired is None:
                self.last[index] = entry
                fired = Detection(index=index, severity=severity, statistic=z,  # type: ignore[arg-type]
                                  p_value=p, threshold=alpha / pairs, reference_n=self.reference_size,
                                  current_n=self.window)
            self._armed[severity] = not beyond
        return fired

    def state_dict(self) -> dict[str, Any]:
        return {"reference": self._reference.to_list(), "open": self._open.to_list(), "history": self.history,
                "armed": self._armed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._reference = _Counts(*state["reference"])
        self._open = _Counts(*state["open"])
        self.history = list(state["history"])
        self._armed = dict(state["armed"])


def _variance(ones: int, n: int) -> float:
    """The binomial variance of a rate of ``n`` events, its rate shrunk off 0 and 1 (Agresti-Caffo)."""
    p = (ones + 1.0) / (n + 2.0)
    return p * (1.0 - p) / n
