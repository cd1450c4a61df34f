"""What the detectors see, over time: bounded statistic series, distributions at alerts, snapshots.

A :class:`StatsRecorder` samples every detector's most recent test (``last_statistic``:
the statistic and the threshold on its scale) after each batch, and keeps per detector a
:class:`Series` of at most ``points`` points: when full, neighbouring points are merged
pairwise, keeping the larger statistic, so a series always covers its whole span with a
fixed number of points and a spike is never averaged away. At each alert it records the
reference against the current distribution of the watched column (a histogram on shared
bins for numbers, level counts for categories, the new levels named).

Live, the monitor publishes what it recorded since its last snapshot to the stats topic
(``driftline-stats``) every ``stats.every_events`` events or ``stats.every_seconds``
seconds, with the role's counters and lag, so ``driftline report --since`` can draw any
past span; backtest keeps the whole series in memory for ``--report``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftline.consumers.core.columns import column
from driftline.consumers.observe.series import DetectorInfo, Series
from driftline.stream import clock
from driftline.stream.events import EventBatch
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.core.engine import DriftEngine
    from driftline.consumers.core.plan import PlannedDetector

#: bins of the numeric histograms drawn at an alert
HISTOGRAM_BINS = 30
#: the histogram range: these quantiles of reference and current together (tails clipped)
HISTOGRAM_RANGE = (0.005, 0.995)


def last_statistic(detector: Any) -> tuple[float, float] | None:
    """The detector's most recent (statistic, threshold), when it exposes one."""
    value = getattr(detector, "last_statistic", None)
    if value is None:
        return None
    stat, threshold = value
    if not (np.isfinite(stat) and np.isfinite(threshold)):
        return None
    return float(stat), float(threshold)


class _Column:
    """Reference and recent values of one watched column, for the distributions at alerts.

    Per batch it copies at most ``window`` recent values and what the reference still
    lacks (NumPy slices), so its cost does not grow with the batch.
    """

    def __init__(self, planned: PlannedDetector, reference_size: int, window: int, categorical: bool):
        self.planned = planned
        self.reference_size = reference_size
        self.window = window
        self.categorical = categorical
        self._reference: list[np.ndarray] = []
        self._reference_n = 0
        self._recent = np.empty(0, dtype=object if categorical else np.float64)

    @property
    def reference(self) -> np.ndarray:
        return np.concatenate(self._reference) if self._reference else self._recent[:0]

    @property
    def recent(self) -> np.ndarray:
        return self._recent

    def feed(self, values: np.ndarray) -> None:
        kept = values[~pd.isnull(values)] if self.categorical else values[~np.isnan(values)]
        room = self.reference_size - self._reference_n
        if room > 0 and kept.size:
            self._reference.append(kept[:room].copy())
            self._reference_n += min(room, kept.size)
        self._recent = np.concatenate([self._recent, kept[-self.window:]])[-self.window:]

    def distribution(self, alert: Alert) -> dict[str, Any]:
        current = self.recent[-alert.window.current_n:] if alert.window.current_n else self.recent
        out: dict[str, Any] = {"alert_id": alert.alert_id, "detector": alert.detector, "feature": alert.feature}
        if self.categorical:
            ref, cur = Counter(map(str, self.reference.tolist())), Counter(map(str, current.tolist()))
            levels = sorted(set(ref) | set(cur), key=lambda k: -(ref[k] + cur[k]))
            out.update(type="categorical", levels=levels, reference=[ref[k] for k in levels],
                       current=[cur[k] for k in levels], new_levels=[k for k in levels if k not in ref])
        else:
            ref_a, cur_a = self.reference.astype(float), current.astype(float)
            both = np.concatenate([ref_a, cur_a])
            lo, hi = (np.quantile(both, HISTOGRAM_RANGE) if both.size else (0.0, 1.0))
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HISTOGRAM_BINS + 1)
            out.update(type="numeric", edges=edges.tolist(),
                       reference=np.histogram(np.clip(ref_a, lo, hi), edges)[0].tolist(),
                       current=np.histogram(np.clip(cur_a, lo, hi), edges)[0].tolist())
        return out

    def renew(self) -> None:
        """After a drift the detector takes the values that follow as its reference."""
        self._reference, self._reference_n = [], 0


class StatsRecorder:
    """Statistic series per detector and partition, the learner's metric, distributions at alerts."""

    def __init__(self, points: int = 1000, distributions: bool = True):
        self.points = points
        self.track_distributions = distributions
        self.info: dict[str, DetectorInfo] = {}
        self.series: dict[tuple[str, int], Series] = {}
        self.learner = Series(points)
        self.distributions: dict[str, dict[str, Any]] = {}
        self._columns: dict[tuple[int, str], _Column] = {}
        self._last: dict[tuple[str, int], tuple[float, float]] = {}
        #: not yet published (live snapshots): per detector and partition the point with the
        #: largest statistic since the last snapshot, and the distributions at new alerts
        self.fresh_points: dict[tuple[str, int], dict[str, Any]] = {}
        self.fresh_distributions: list[dict[str, Any]] = []
        #: the performance estimate's closed windows (estimated and realised), all of them (at
        #: most ``points * 10``) and those not yet published
        self.performance: list[dict[str, Any]] = []
        self.fresh_performance: list[dict[str, Any]] = []
        self._windows_seen = 0

    def observe(self, partition: int, engine: DriftEngine, batch: EventBatch, alerts: list[Alert], x: float | None = None) -> None:
        """After ``engine`` processed ``batch``: sample its detectors, note the alerts' distributions."""
        if len(batch) == 0:
            return
        if self.track_distributions:
            self._distributions(partition, engine, batch, alerts)
        self.sample(partition, engine, float(batch.offsets[-1]) if x is None else x, int(batch.ts[-1]))
        self._performance(engine)

    def _performance(self, engine: DriftEngine) -> None:
        """The estimate's windows closed since the last look."""
        watch = engine.performance
        if watch is None or watch.closed <= self._windows_seen:
            return
        new = [w for w in watch.history if w.index >= self._windows_seen]
        self._windows_seen = watch.closed
        docs = [{**w.to_dict(), "metric": watch.metric} for w in new]
        self.performance = (self.performance + docs)[-10 * self.points:]
        self.fresh_performance += docs

    def sample(self, partition: int, engine: DriftEngine, x: float, ts: int) -> None:
        for planned, detector in zip(engine.planned, engine.detectors):
            value = last_statistic(detector)
            if value is None:
                continue
            self.info.setdefault(planned.name, DetectorInfo(planned.name, planned.kind, planned.feature, planned.target))
            key = (planned.name, partition)
            if key not in self.series:
                self.series[key] = Series(self.points)
            if self._last.get(key) == value:  # no test since (a reference being renewed): a gap
                if self.series[key].statistic and np.isfinite(self.series[key].statistic[-1]):
                    self.series[key].add(x, ts, float("nan"), float("nan"))
                continue
            self._last[key] = value
            self.series[key].add(x, ts, *value)
            best = self.fresh_points.get(key)
            if best is None or value[0] >= best["statistic"]:
                self.fresh_points[key] = {"detector": planned.name, "partition": partition, "x": x, "ts": ts,
                                          "statistic": value[0], "threshold": value[1]}

    def observe_learner(self, metric: float | None, x: float, ts: int) -> None:
        if metric is not None and np.isfinite(metric):
            self.learner.add(x, ts, float(metric), float("nan"))

    def backtest_chunk(self, monitor: DriftEngine, learner: Any, batch: EventBatch, monitor_alerts: list[Alert]) -> None:
        """Backtest's hook after a chunk: the monitor's and the learner's detectors, the learner's metric."""
        if len(batch) == 0:
            return
        self.observe(0, monitor, batch, monitor_alerts)
        if learner is not None:
            x, ts = float(batch.offsets[-1]), int(batch.ts[-1])
            for partition, engine in learner.engines.items():
                self.sample(partition, engine, x, ts)
            self.observe_learner(learner.learner.metric, x, ts)

    def take_fresh(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        points, dists, windows = list(self.fresh_points.values()), self.fresh_distributions, self.fresh_performance
        self.fresh_points, self.fresh_distributions, self.fresh_performance = {}, [], []
        return points, dists, windows

    def _distributions(self, partition: int, engine: DriftEngine, batch: EventBatch, alerts: list[Alert]) -> None:
        by_detector: dict[str, list[Alert]] = {}
        for alert in alerts:
            by_detector.setdefault(alert.detector, []).append(alert)
        for planned, detector in zip(engine.planned, engine.detectors):
            kind = getattr(detector, "input_type", "numeric")
            if planned.target in ("error", "performance") or (planned.target == "feature" and planned.feature is None) \
                    or kind not in ("numeric", "categorical"):
                continue  # errors, multi-feature detectors: no single column to draw
            col = self._column(partition, planned, detector)
            values = column(batch, planned)
            start = 0
            for alert in sorted(by_detector.get(planned.name, []), key=lambda a: a.position.offset):
                stop = int(np.searchsorted(batch.offsets, alert.position.offset, side="right"))
                col.feed(values[start:stop])
                start = stop
                dist = col.distribution(alert)
                self.distributions[alert.alert_id] = dist
                self.fresh_distributions.append(dist)
                if alert.severity == "drift":
                    col.renew()
            col.feed(values[start:])

    def _column(self, partition: int, planned: PlannedDetector, detector: Any) -> _Column:
        key = (partition, planned.name)
        if key not in self._columns:
            self._columns[key] = _Column(
                planned, int(getattr(detector, "reference_size", 10_000)), int(getattr(detector, "window", 1_000)),
                categorical=getattr(detector, "input_type", "numeric") == "categorical",
            )
        return self._columns[key]


def snapshot_message(role: Any, recorder: StatsRecorder | None, lag: dict[str, int], now_ms: int | None = None) -> dict[str, Any]:
    """The JSON document a role publishes on the stats topic."""
    s = role.stats
    points, dists, windows = recorder.take_fresh() if recorder is not None else ([], [], [])
    info = recorder.info if recorder is not None else {}
    return {
        "type": "snapshot",
        "stream": role.cfg.stream.name,
        "role": role.name,
        "ts": now_ms if now_ms is not None else clock.now_ms(),
        "counters": {"consumed": s.consumed, "alerts": s.alerts, "dead_letters": s.dead_letters,
                     "quarantined": s.quarantined, "actions": s.actions, "batches": s.batches},
        "rate": s.rate,
        "lag": lag,
        "extra": {k: v for k, v in s.extra.items() if isinstance(v, (int, float, str, type(None)))},
        "detectors": {name: {"kind": i.kind, "feature": i.feature, "target": i.target} for name, i in info.items()},
        "points": points,
        "distributions": dists,
        "performance": windows,
    }
