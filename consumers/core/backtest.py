"""``driftline backtest``: the live roles' judging, fed from a file.

The file goes through the monitor's detectors and the learner (test-then-train, with the
same quarantines the policies would open) exactly as the live roles process partition 0 of
``events``; offsets are 0-based line numbers. Labels that arrive on their own (the ``labels``
topic) come from a second file, as partition 0 of ``labels``. With the same input and
configuration it gives the same alerts, ids included, as the live monitor and learner.
``detected_at`` is the firing event's timestamp (live, it is the wall-clock time of detection).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.merge import Released, StreamMerge
from driftline.consumers.core.plan import learner_plan, monitor_plan
from driftline.stream.events import EventBatch, Reject, StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.messages import Alert
from driftline.stream.replay import read_chunks, read_events


@dataclass
class BacktestResult:
    events: int = 0
    alerts: list[Alert] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    #: label lines that could not be read, or that no event joined (the live learner
    #: dead-letters them): offsets are 0-based lines of the labels file
    label_rejects: list[Reject] = field(default_factory=list)
    labels: int = 0
    #: labelled events the learner's model could not use (counted apart, as the live learner
    #: dead-letters them): the event as the learner saw it, and why
    unusable: list[Reject] = field(default_factory=list)
    quarantined: int = 0
    #: the learner as it stands after the file (None when the stream has no label)
    learner: LearnerCore | None = None
    #: the monitor's detectors as they stand after the file
    monitor: DriftEngine | None = None


#: told after each chunk: (the monitor's engine, the learner or None, the chunk, the monitor's alerts)
ChunkHook = Callable[[DriftEngine, "LearnerCore | None", EventBatch, list[Alert]], None]


def backtest(cfg: DriftlineConfig, path: str | Path, out: IO[bytes] | None = None, chunk_size: int = 5000,
             on_chunk: ChunkHook | None = None, labels: str | Path | None = None) -> BacktestResult:
    """Run every alerting detector over the file; alerts are written to ``out`` as JSONL.

    The file is one partition: its events pass the same intake (duplicates and late events
    out) and the same merge behind the watermark as the live monitor's partitions, so the
    detectors see the stream in the same order; the learner takes its steps in the same data
    order as live (:mod:`.order.learning`), with the ``labels`` file (``{"id", "label", "ts"}``
    per line) as its labels topic. ``on_chunk`` observes each released chunk as it is judged
    (the report's statistics recorder).
    """
    schema = stream_schema(cfg)
    monitor = DriftEngine(monitor_plan(cfg))
    learner = None
    if cfg.stream.label is not None and cfg.learner.enabled:
        learner = LearnerCore(cfg, learner_plan(cfg), live=False, label_partitions=[0] if labels is not None else [])
    intake = PartitionIntake.of(cfg, 0)
    merge = StreamMerge([0], cfg.stream.allowed_lateness_ms, idle_ms=float("inf"))
    feed = _LabelFeed(cfg, schema, labels, chunk_size) if labels is not None and learner is not None else None
    result = BacktestResult(monitor=monitor)
    #: the events each open quarantine holds (offset, line), replayed when it ends on its quiet time
    held: dict[str, list[tuple[int, bytes]]] = {}
    # the file's lines are JSON (as read_events)
    lines = dataclasses.replace(schema, format="json", avro=None, json_schema=None, protobuf=None)

    def judge(released: Released, chunk: EventBatch | None, final: bool = False) -> None:
        alerts: list[Alert] = []
        if not released.empty:
            assert released.batch is not None
            result.events += len(released.batch)
            alerts = monitor.process(released.batch, released.messages, live=False)
            if on_chunk is not None:
                on_chunk(monitor, learner, released.batch, alerts)
        if learner is not None:
            learner.observe(alerts)
            if chunk is not None:
                learner.add_events(chunk)
            if feed is not None:
                feed.add_to(learner, None if final else learner.order.events.newest, result)
            learned = []
            while True:
                outcome = learner.step(judged_to=merge.frontier, flush=final)
                learned += outcome.alerts
                result.quarantined += len(outcome.held)
                result.unusable += outcome.unusable
                result.label_rejects += [_turned(cfg, label, why) for label, why in outcome.turned_labels]
                for event in outcome.held:
                    held.setdefault(event.quarantine.alert_id, []).append((event.offset, event.raw or b""))
                if not outcome.released:
                    break
                for end in outcome.released:  # replayed at that step, as the live learner does
                    events = held.pop(end.quarantine.alert_id, [])
                    learner.replay([parse_events(lines, 0, [o for o, _ in events], [r for _, r in events])[0]])
                    result.unusable += learner.take_unusable()
            alerts = sorted(alerts + learned, key=lambda a: (a.position.ts or 0, a.position.event_id or "",
                                                             a.detector))
        result.alerts += alerts
        if out is not None:
            for alert in alerts:
                out.write(alert.to_json() + b"\n")

    for batch, rejects in read_events(path, schema, chunk_size):
        _, dropped, codes = intake.admit(batch, rejects)
        result.rejects += sorted(rejects + dropped, key=lambda r: r.offset)
        merge.add(codes, 0.0)
        judge(merge.release(0.0), batch)
    judge(merge.release(0.0, flush=True), None, final=True)
    if learner is not None:
        result.learner = learner
    return result


class _LabelFeed:
    """The labels file, handed to the learner in its order as the events' time reaches it
    (as they would come on the topic), so that the joins wait as they would live."""

    def __init__(self, cfg: DriftlineConfig, schema: StreamSchema, path: str | Path, chunk_size: int):
        label = cfg.stream.label
        self.cfg = cfg
        id_field, label_field = cfg.stream.labels_fields()
        # a file's lines are JSON (as read_events)
        as_json = dataclasses.replace(schema, format="json", avro=None, json_schema=None, protobuf=None)
        self.fields = (id_field, label_field, label.type if label else None, as_json, cfg.stream.labels_time_field())
        self.chunks = read_chunks(path, schema, chunk_size)
        self.rows: Iterator[tuple[str, Any, int, int]] = iter(())
        self.ahead: tuple[str, Any, int, int] | None = None

    def add_to(self, learner: LearnerCore, up_to: int | None, result: BacktestResult) -> None:
        """Labels up to event time ``up_to`` (all that are left with None)."""
        rows: list[tuple[str, Any, int, int]] = []
        while True:
            row = self.ahead if self.ahead is not None else self._next(result)
            self.ahead = None
            if row is None:
                break
            if up_to is not None and row[3] > up_to:
                self.ahead = row
                break
            rows.append(row)
        result.labels += len(rows)
        learner.add_labels(0, rows)

    def _next(self, result: BacktestResult) -> tuple[str, Any, int, int] | None:
        while True:
            row = next(self.rows, None)
            if row is not None:
                return row
            chunk = next(self.chunks, None)
            if chunk is None:
                return None
            offsets, raws = chunk
            parsed, rejects = parse_label_messages(0, offsets, raws, *self.fields)
            result.label_rejects += rejects
            self.rows = iter(parsed)


def _turned(cfg: DriftlineConfig, label: Any, why: str) -> Reject:
    raw = orjson.dumps({cfg.stream.id_field: label.event_id, "label": label.label, cfg.stream.timestamp_field: label.ts})
    return Reject(label.partition, label.offset, raw, f"label for event {label.event_id!r:.80}: {why}")


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
