"""``driftline backtest``: the live roles' judging, fed from a file.

The file goes through the monitor's detectors and the learner (test-then-train, with the
same quarantines the policies would open) exactly as the live roles process partition 0 of
``events``; offsets are 0-based line numbers. With the same input and configuration it gives
the same alerts, ids included, as the live monitor and learner. ``detected_at`` is the firing
event's timestamp (live, it is the wall-clock time of detection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.intake import PartitionIntake
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.merge import Released, StreamMerge
from driftline.consumers.core.plan import learner_plan, monitor_plan
from driftline.stream.events import EventBatch, Reject, parse_events
from driftline.stream.messages import Alert
from driftline.stream.replay import read_events


@dataclass
class BacktestResult:
    events: int = 0
    alerts: list[Alert] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    #: labelled events the learner's model could not use (counted apart, as the live learner
    #: dead-letters them): the event as the learner saw it, and why
    unusable: list[Reject] = field(default_factory=list)
    quarantined: int = 0
    #: the learner as it stands after the file (None when the stream has no label)
    learner: LearnerCore | None = None


#: told after each chunk: (the monitor's engine, the learner or None, the chunk, the monitor's alerts)
ChunkHook = Callable[[DriftEngine, "LearnerCore | None", EventBatch, list[Alert]], None]


def backtest(cfg: DriftlineConfig, path: str | Path, out: IO[bytes] | None = None, chunk_size: int = 5000,
             on_chunk: ChunkHook | None = None) -> BacktestResult:
    """Run every alerting detector over the file; alerts are written to ``out`` as JSONL.

    The file is one partition: its events pass the same intake (duplicates and late events
    out) and the same merge behind the watermark as the live monitor's partitions, so the
    detectors see the stream in the same order. ``on_chunk`` observes each released chunk as
    it is judged (the report's statistics recorder).
    """
    schema = stream_schema(cfg)
    monitor = DriftEngine(monitor_plan(cfg))
    learner = LearnerCore(cfg, learner_plan(cfg), live=False) if cfg.stream.label is not None and cfg.learner.enabled else None
    intake = PartitionIntake.of(cfg, 0)
    merge = StreamMerge([0], cfg.stream.allowed_lateness_ms, idle_ms=float("inf"))
    result = BacktestResult()

    def judge(released: Released) -> None:
        if released.empty:
            return
        assert released.batch is not None
        batch = released.batch
        result.events += len(batch)
        alerts = monitor_alerts = monitor.process(batch, released.messages, live=False)
        if learner is not None:
            learner.observe(alerts)
            outcome = learner.process_events(batch)
            result.quarantined += len(outcome.held)
            result.unusable += outcome.unusable
            alerts = sorted(alerts + outcome.alerts, key=lambda a: (a.position.ts or 0, a.position.event_id or "",
                                                                    a.detector))
        result.alerts += alerts
        if on_chunk is not None:
            on_chunk(monitor, learner, batch, monitor_alerts)
        if out is not None:
            for alert in alerts:
                out.write(alert.to_json() + b"\n")

    for batch, rejects in read_events(path, schema, chunk_size):
        _, dropped, codes = intake.admit(batch, rejects)
        result.rejects += sorted(rejects + dropped, key=lambda r: r.offset)
        merge.add(codes, 0.0)
        judge(merge.release(0.0))
    judge(merge.release(0.0, flush=True))
    if learner is not None:
        result.learner = learner
    return result


def judge_partitions(cfg: DriftlineConfig, streams: dict[int, list[bytes]]) -> list[Alert]:
    """The monitor's alerts on a stream given as partitions of raw messages, judged as the live
    monitor and judge judge it (each partition's intake, the merge behind the watermark, the
    stream's detectors); for checking live runs and measuring delays on any partitioning."""
    schema = stream_schema(cfg)
    engine = DriftEngine(monitor_plan(cfg))
    s = cfg.stream
    merge = StreamMerge(list(streams), s.allowed_lateness_ms, idle_ms=float("inf"))
    for partition, raws in streams.items():
        batch, rejects = parse_events(schema, partition, list(range(len(raws))), raws)
        merge.add(PartitionIntake.of(cfg, partition).admit(batch, rejects)[2], 0.0)
    released = merge.release(0.0, flush=True)
    return [] if released.empty else engine.process(released.batch, released.messages, live=False)  # type: ignore[arg-type]
