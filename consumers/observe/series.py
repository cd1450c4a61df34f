"""The shapes the report draws from: a detector's bounded statistic series, and who it is.

Plain data, shared by the recorder (:mod:`.stats`) that fills them and the report
(:mod:`.report`) that draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Series:
    """At most ``capacity`` points (x, ts, statistic, threshold), evenly spread over the span.

    Each point stands for ``stride`` consecutive samples and is the one with the largest
    statistic among them (a missing statistic, NaN, counts as the smallest). When the
    series would exceed ``capacity``, neighbouring points are merged and ``stride`` doubles.
    """

    capacity: int = 1000
    x: list[float] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    statistic: list[float] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    stride: int = 1
    _counts: list[int] = field(default_factory=list, repr=False)

    def add(self, x: float, ts: int, statistic: float, threshold: float) -> None:
        if self._counts and self._counts[-1] < self.stride:
            self._counts[-1] += 1
            if _rank(statistic) >= _rank(self.statistic[-1]):
                self.x[-1], self.ts[-1], self.statistic[-1], self.threshold[-1] = x, ts, statistic, threshold
            return
        self.x.append(x)
        self.ts.append(ts)
        self.statistic.append(statistic)
        self.threshold.append(threshold)
        self._counts.append(1)
        if len(self.x) > self.capacity:
            self._halve()

    def _halve(self) -> None:
        """Merge neighbours: of each pair keep the point with the larger statistic."""
        keep, counts = [], []
        for i in range(0, len(self.x), 2):
            j = i + 1 if i + 1 < len(self.x) and _rank(self.statistic[i + 1]) > _rank(self.statistic[i]) else i
            keep.append(j)
            counts.append(sum(self._counts[i:i + 2]))
        for name in ("x", "ts", "statistic", "threshold"):
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in keep])
        self._counts = counts
        self.stride *= 2

    def __len__(self) -> int:
        return len(self.x)


def _rank(value: float) -> float:
    return -math.inf if math.isnan(value) else value


@dataclass
class DetectorInfo:
    name: str
    kind: str
    feature: str | None
    target: str
