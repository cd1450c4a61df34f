"""The detectors of one partition, run over event batches: the judging core of every role.

A :class:`DriftEngine` is pure computation over :class:`~driftline.stream.events.EventBatch`
columns; the live monitor, the learner and ``driftline backtest`` all use it, so the same
events give the same alerts, ids included, whichever runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from driftline.consumers.core.columns import column, messages
from driftline.detectors.base import Detection, Detector
from driftline.detectors.ranks import RankMemo
from driftline.stream.clock import now_ms
from driftline.stream.dedupe import RecentIds
from driftline.stream.events import EventBatch, Reject
from driftline.stream.messages import Alert, Position, Window, alert_id

if TYPE_CHECKING:
    from driftline.consumers.core.plan import PlannedDetector, StreamPlan


class DriftEngine:
    """The detectors of ``plan`` for one partition of its stream."""

    def __init__(self, plan: StreamPlan, partition: int):
        self.stream = plan.stream
        self.partition = partition
        self.planned: list[PlannedDetector] = list(plan.planned)
        self.detectors: list[Detector] = plan.detectors()
        self.recent_ids = RecentIds(plan.dedupe_window)
        memos: dict[tuple[str, str | None], RankMemo] = {}
        for planned, detector in zip(self.planned, self.detectors):
            if hasattr(detector, "rank_memo"):  # rank-based detectors of one column share its ranks
                detector.rank_memo = memos.setdefault((planned.target, planned.feature), RankMemo())

    def __len__(self) -> int:
        return len(self.planned)

    def admit(self, batch: EventBatch) -> tuple[EventBatch, list[Reject]]:
        """The batch without events whose id this partition has seen recently (rejected)."""
        return self.recent_ids.split(batch)

    def process(self, batch: EventBatch, *, live: bool = True, rejects: Sequence[Reject] = ()) -> list[Alert]:
        """Alerts fired by the feature, label and prediction detectors over ``batch``, and by
        the schema detector over the messages of the same poll (``batch`` and the ``rejects``
        of its parsing, in offset order)."""
        alerts = []
        for planned, detector in zip(self.planned, self.detectors):
            if planned.target == "error":
                continue
            if planned.target == "messages":
                flags, offsets, ts = messages(batch, rejects)
                alerts += [self._alert(planned, detector, det, offsets, ts, live) for det in detector.update(flags, ts)]
                continue
            values = column(batch, planned)
            for det in detector.update(values, batch.ts):
                alerts.append(self._alert(planned, detector, det, batch.offsets, batch.ts, live))
        alerts.sort(key=lambda a: a.position.offset)
        return alerts

    def process_errors(
        self, errors: np.ndarray, offsets: np.ndarray, ts: np.ndarray, *, live: bool = True
    ) -> list[Alert]:
        """Alerts fired by the concept-drift detectors over the learner's error stream."""
        alerts = []
        for planned, detector in zip(self.planned, self.detectors):
            if planned.target == "error":
                for det in detector.update(errors, ts):
                    alerts.append(self._alert(planned, detector, det, offsets, ts, live))
        alerts.sort(key=lambda a: a.position.offset)
        return alerts

    def _alert(
        self,
        planned: PlannedDetector,
        detector: Detector,
        det: Detection,
        offsets: np.ndarray,
        ts: np.ndarray,
        live: bool,
    ) -> Alert:
        offset = int(offsets[det.index])
        detected_at = now_ms() if live else int(ts[det.index])
        return Alert(
            alert_id=alert_id(self.stream, planned.name, planned.feature, self.partition, offset),
            stream=self.stream,
            kind=planned.kind,  # type: ignore[arg-type]
            severity=det.severity,
            feature=planned.feature,
            detector=planned.name,
            statistic=float(det.statistic),
            p_value=None if det.p_value is None else float(det.p_value),
            threshold=float(det.threshold),
            position=Position(partition=self.partition, offset=offset),
            window=Window(
                reference_n=det.reference_n, current_n=det.current_n, start_ts=det.start_ts, end_ts=det.end_ts
            ),
            detected_at=detected_at,
            details=detector_details(detector),
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
        return {
            "detectors": {p.name: d.state_dict() for p, d in zip(self.planned, self.detectors)},
            "recent_ids": self.recent_ids.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        detectors = state["detectors"]
        for p, d in zip(self.planned, self.detectors):
            if p.name in detectors:
                d.load_state_dict(detectors[p.name])
        self.recent_ids.load_state_dict(state["recent_ids"])


def detector_details(detector: Detector) -> dict:
    details: dict = {}
    unseen = getattr(detector, "unseen_levels", None)
    if unseen:
        details["unseen_levels"] = list(unseen)
    check = getattr(detector, "last_check", None)  # data-quality detectors: which test fired
    if check:
        details["check"] = check
    return details
