"""The detectors of one partition, run over event batches: the judging core of every role.

A :class:`DriftEngine` is pure computation over :class:`~driftline.stream.events.EventBatch`
columns; the live monitor, the learner and ``driftline backtest`` all use it, so the same
events give the same alerts, ids included, whichever runs them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from driftline.consumers.core.columns import column
from driftline.consumers.core.segments.monitor import MonitorSegments, batch_estimate
from driftline.detectors.base import Detection, Detector
from driftline.detectors.ranks import RankMemo
from driftline.stream.clock import now_ms
from driftline.stream.events import EventBatch
from driftline.stream.messages import Alert, Position, Window, alert_id

if TYPE_CHECKING:
    from driftline.consumers.core.order.merge import Messages
    from driftline.consumers.core.performance import Segment
    from driftline.consumers.core.plan import PlannedDetector, StreamPlan


class DriftEngine:
    """The detectors of ``plan``, judging the whole stream (or one ``segment`` of it: its alerts
    name it, and their ids include it): events in stream order."""

    def __init__(self, plan: StreamPlan, segment: dict[str, str] | None = None):
        self.stream = plan.stream
        self.segment = segment
        self.planned: list[PlannedDetector] = list(plan.planned)
        self.detectors: list[Detector] = plan.detectors()
        #: the estimated performance the ``performance`` detectors watch (None: none planned)
        self.performance = plan.performance_watch()
        #: per segment of ``segments.by``: its detectors and its estimate (None: no segments)
        self.segments = MonitorSegments(plan.slicing, DriftEngine) if plan.slicing is not None else None
        memos: dict[tuple[str, str | None], RankMemo] = {}
        for planned, detector in zip(self.planned, self.detectors):
            if hasattr(detector, "rank_memo"):  # rank-based detectors of one column share its ranks
                detector.rank_memo = memos.setdefault((planned.target, planned.feature), RankMemo())

    def __len__(self) -> int:
        return len(self.planned)

    def process(self, batch: EventBatch, messages: Messages | None = None, *, live: bool = True) -> list[Alert]:
        """Alerts fired over ``batch`` (the stream's events in stream order) by the feature,
        label and prediction detectors, and over ``messages`` (every message read or rejected,
        in stream order) by the schema detector."""
        alerts = []
        where = _Where(batch.partition_array(), batch.offsets, batch.ts, batch.ids)
        referencing = self.performance is not None and self.performance.referencing
        segments = self.performance.update(batch) if self.performance is not None else []
        for planned, detector in zip(self.planned, self.detectors):
            if planned.target == "error":
                continue
            if planned.target == "performance":
                alerts += self._performance_alerts(planned, detector, segments, live)
                continue
            if planned.target == "messages":
                if messages is not None:
                    at = _Where(messages.partitions, messages.offsets, messages.ts, messages.ids)
                    alerts += [self._alert(planned, detector, det, at, live)
                               for det in detector.update(messages.flags, messages.ts)]
                continue
            values = column(batch, planned)
            alerts += [self._alert(planned, detector, det, where, live) for det in detector.update(values, batch.ts)]
        if self.segments is not None:
            alerts += self._segment_alerts(batch, segments, referencing, alerts, live)
        return _in_stream_order(alerts)

    def _segment_alerts(self, batch: EventBatch, judged: list[Segment], referencing: bool, alerts: list[Alert],
                        live: bool) -> list[Alert]:
        """The segments' alerts; the rankings added to the stream's ``performance`` alerts."""
        assert self.segments is not None
        loss = self.performance is not None and self.performance.task == "regression"
        reference = None
        if referencing and judged:  # the reference's values come first, once, as it completes
            reference = judged[0].values if loss else 1.0 - judged[0].values
            judged = judged[1:]
        out = self.segments.process(batch, batch_estimate(batch, judged, loss), live, reference)
        for alert in alerts:
            if alert.kind == "performance" and alert.segment is None:
                alert.details.update(self.segments.explain(alert))
        return out

    def process_errors(
        self, errors: np.ndarray, partitions: np.ndarray, offsets: np.ndarray, ts: np.ndarray, ids: list[str],
        *, live: bool = True, cuts: Sequence[int] = (),
    ) -> list[Alert]:
        """Alerts fired by the concept-drift detectors over the learner's error stream.

        ``cuts``: the errors are several blocks one after another, a block ending before each of
        these indices (increasing); the alerts then come block by block, each block's in stream
        order: the list that one call per block gives."""
        found: list[tuple[int, Alert]] = []
        where = _Where(partitions, offsets, ts, ids)
        for planned, detector in zip(self.planned, self.detectors):
            if planned.target == "error":
                found += [(bisect_right(cuts, det.index), self._alert(planned, detector, det, where, live))
                          for det in detector.update(errors, ts)]
        found.sort(key=lambda pair: (pair[0], pair[1].position.ts, pair[1].position.event_id or "", pair[1].detector))
        return [alert for _, alert in found]

    def _performance_alerts(self, planned: PlannedDetector, detector: Detector, segments: list[Segment],
                            live: bool) -> list[Alert]:
        assert self.performance is not None
        alerts = []
        for seg in segments:
            at = _Where(seg.partitions, seg.offsets, seg.ts, seg.ids)
            alerts += [self._alert(planned, detector, det, at, live, self.performance.details(seg, det.index))
                       for det in detector.update(seg.values, seg.ts)]
        return alerts

    def _alert(self, planned: PlannedDetector, detector: Detector, det: Detection, where: _Where, live: bool,
               details: dict | None = None) -> Alert:
        i = det.index
        event_id, event_ts = where.ids[i], int(where.ts[i])
        return Alert(
            alert_id=alert_id(self.stream, planned.name, planned.feature, event_id, self.segment),
            stream=self.stream,
            kind=planned.kind,  # type: ignore[arg-type]
            severity=det.severity,
            feature=planned.feature,
            detector=planned.name,
            statistic=float(det.statistic),
            p_value=None if det.p_value is None else float(det.p_value),
            threshold=float(det.threshold),
            position=Position(partition=int(where.partitions[i]), offset=int(where.offsets[i]), ts=event_ts,
                              event_id=event_id),
            window=Window(
                reference_n=det.reference_n, current_n=det.current_n, start_ts=det.start_ts, end_ts=det.end_ts
            ),
            detected_at=now_ms() if live else event_ts,
            details={**(det.details or {}), **(details or {})},
            segment=self.segment,
        )

    def rebaseline(self, detector: str | None = None) -> list[str]:
        """Accept the data as it is now as the new normal: every detector (or the one named)
        takes a new reference (windowed tests: their current window; the others: the events
        that follow). Returns the names of the detectors rebaselined.
        """
        names = [p.name for p in self.planned]
        if detector is not None and detector not in names:
            raise ValueError(f"no detector {detector!r} on this stream; detectors: {', '.join(names)}")
        done = []
        for planned, det in zip(self.planned, self.detectors):
            if detector is None or planned.name == detector:
                det.rebaseline()
                done.append(planned.name)
        return done

    def state_dict(self) -> dict:
        state: dict = {"detectors": {p.name: d.state_dict() for p, d in zip(self.planned, self.detectors)}}
        if self.performance is not None:
            state["performance"] = self.performance.state_dict()
        if self.segments is not None:
            state["segments"] = self.segments.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.performance is not None and "performance" in state:
            self.performance.load_state_dict(state["performance"])
        if self.segments is not None and "segments" in state:
            self.segments.load_state_dict(state["segments"])
        detectors = state["detectors"]
        for p, d in zip(self.planned, self.detectors):
            if p.name in detectors:
                d.load_state_dict(detectors[p.name])


@dataclass(frozen=True)
class _Where:
    """Where each value of an update came from: partition, offset, event time and id."""

    partitions: np.ndarray
    offsets: np.ndarray
    ts: np.ndarray
    ids: list[str]


def _in_stream_order(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.position.ts, a.position.event_id or "", a.detector))


