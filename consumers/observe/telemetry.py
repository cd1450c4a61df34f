"""A role's telemetry: Prometheus metrics, health, consumer lag, and its stats snapshots.

Each role owns one :class:`RoleTelemetry` with its own registry, so several roles in one
process (``driftline run --role all``, the demo, tests) never share a metric; every metric
carries ``stream`` and ``role`` labels, so one Prometheus scraping all roles tells them apart.
Counters are read from the role's :class:`~driftline.consumers.roles.loop.RoleStats` at scrape
time (what the scrape shows is what the role counted); lag, detector statistics and batch
latency are taken in the role's own thread after each poll, since Kafka clients and
detectors are not thread-safe. Label values are bounded by the configuration: detector
names and partitions, alert kinds and severities, action names and statuses, and at most
``MAX_REASONS`` dead-letter reasons (the rest are counted as ``other``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.consumers.core.segments.slicing import segment_label
from driftline.consumers.observe.health import HealthServer
from driftline.consumers.observe.stats import StatsRecorder, last_statistic, snapshot_message
from driftline.stream.clock import now_ms
from driftline.stream.kafka.topics import ensure_topics

log = logging.getLogger("driftline")

#: the port of each role is ``metrics.port`` plus its offset (0 stays 0: a free port each)
PORT_OFFSETS = {"monitor": 0, "learner": 1, "actions": 2, "judge": 3}
#: distinct dead-letter reasons exported as labels; more are summed under ``other``
MAX_REASONS = 20
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def role_port(base: int | None, role: str) -> int | None:
    if base is None:
        return None
    return 0 if base == 0 else base + PORT_OFFSETS.get(role, 0)


def engines_of(role: Any) -> dict[int, Any]:
    """The role's drift engines by partition: the monitor's, or the learner's error detectors."""
    engines = getattr(role, "engines", None)
    if engines is None and getattr(role, "core", None) is not None:
        engines = getattr(role.core, "engines", None)
    return dict(engines or {})


class RoleTelemetry:
    """Metrics registry, health endpoint, lag and stats snapshots of one role."""

    def __init__(self, role: Any):
        self.role = role
        self.cfg = role.cfg
        self.labels = {"stream": self.cfg.stream.name, "role": role.name}
        self.registry = CollectorRegistry(auto_describe=False)
        self.batch_seconds = Histogram(
            "driftline_batch_seconds", "Time to handle one polled batch (outputs acknowledged, offsets committed)",
            list(self.labels), registry=self.registry, buckets=BATCH_BUCKETS,
        ).labels(**self.labels)
        self.registry.register(_RoleCollector(self))
        stats = self.cfg.stats
        self.recorder = StatsRecorder(stats.points, distributions=role.name == "judge") \
            if stats.enabled and role.name in ("judge", "learner") else None
        self.lag: dict[tuple[str, int], int] = {}
        self.detectors: dict[tuple[str, str, int], tuple[float, float]] = {}
        self.server: HealthServer | None = None
        self.started = time.monotonic()
        self.started_ms = now_ms()
        self.last_loop = self.started
        self.polled = False
        self._producer: Any = None
        self._consumer: Any = None
        self._snap_at = (time.monotonic(), 0)

    @property
    def port(self) -> int | None:
        return None if self.server is None else self.server.port

    def open(self, stack: ExitStack, producer: Any, consumer: Any) -> None:
        """Start the HTTP endpoint (if a port is configured) and the snapshots (if enabled)."""
        self._producer, self._consumer = producer, consumer
        port = role_port(self.cfg.metrics.port, self.role.name)
        if port is not None:
            self.server = HealthServer(self.registry, self.healthz, self.readyz, self.cfg.metrics.host, port).start()
            stack.callback(self.server.close)
            log.info("%s: metrics and health on http://%s:%d/metrics", self.role.name, self.cfg.metrics.host, self.port)
        if self.cfg.stats.enabled:
            ensure_topics(self.role.bootstrap_servers, {self.cfg.stats.topic: 1}, client_config=self.cfg.kafka.client)
            stack.callback(self._final_snapshot)

    # ------------------------------------------------------------------ role thread
    def observe(self, partition: int, engine: Any, batch: Any, alerts: list[Any]) -> None:
        """The monitor's hook after a partition's batch: feeds the statistic series."""
        if self.recorder is not None:
            self.recorder.observe(partition, engine, batch, alerts)

    def after_poll(self, records: dict[Any, list[Any]], seconds: float) -> None:
        """After each poll (empty or not): latency, lag, detector gauges, maybe a snapshot."""
        self.last_loop = time.monotonic()
        self.polled = True
        if records:
            self.batch_seconds.observe(seconds)
        try:
            self._take_lag()
            self._take_detectors()
            self._maybe_publish()
        except Exception as exc:  # telemetry must never stop a role
            log.warning("%s: telemetry update failed: %r", self.role.name, exc)

    def _take_lag(self) -> None:
        lag = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            pos = self._consumer.position(tp, timeout_ms=0)
            if high is not None and pos is not None:
                lag[(tp.topic, tp.partition)] = max(0, high - pos)
        self.lag = lag

    def _take_detectors(self) -> None:
        values = {}
        now = now_ms()
        for partition, engine in engines_of(self.role).items():
            if self.recorder is not None and self.role.name == "learner":  # the learner's error detectors
                self.recorder.sample(partition, engine, float(now), now)
            for planned, detector in zip(engine.planned, engine.detectors):
                value = last_statistic(detector)
                if value is not None:
                    values[(planned.name, planned.feature or "", partition)] = value
        self.detectors = values

    def _maybe_publish(self) -> None:
        if not self.cfg.stats.enabled:
            return
        at, consumed = self._snap_at
        fresh = self.recorder is not None and bool(self.recorder.fresh_distributions)
        if fresh or self.role.stats.consumed - consumed >= self.cfg.stats.every_events \
                or time.monotonic() - at >= self.cfg.stats.every_seconds:
            self.publish()

    def publish(self) -> None:
        """Send a snapshot to the stats topic now (not waited for: telemetry, not data)."""
        if self._producer is None:
            return
        lag = {f"{t}/{p}": n for (t, p), n in self.lag.items()}
        doc = snapshot_message(self.role, self.recorder, lag)
        doc["instance"] = f"{socket.gethostname()}/{os.getpid()}/{id(self)}"
        doc["started_ms"] = self.started_ms
        key = f"{self.cfg.stream.name}/{self.role.name}".encode()
        future = self._producer.send(self.cfg.stats.topic, orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY), key=key)
        future.add_errback(lambda exc: log.warning("%s: a stats snapshot was not written: %r", self.role.name, exc))
        self._snap_at = (time.monotonic(), self.role.stats.consumed)

    def _final_snapshot(self) -> None:
        try:
            self.publish()
        except Exception as exc:  # a broker gone at shutdown must not fail the role
            log.warning("%s: the last stats snapshot was not written: %r", self.role.name, exc)

    # ------------------------------------------------------------------ HTTP threads
    def healthz(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self.last_loop
        ok = age < self.cfg.metrics.stale_after_seconds
        return ok, {**self.labels, "seconds_since_loop": round(age, 3)}

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        healthy, details = self.healthz()
        lag = dict(self.lag)
        limit = self.cfg.metrics.max_lag
        behind = limit is not None and any(n > limit for n in lag.values())
        ok = healthy and self.polled and not behind
        extra = dict(self.role.stats.extra)
        # the judge: partitions passed over as idle, events judged late, what waits behind the watermark
        judge = {k: extra[k] for k in ("idle_partitions", "skipped", "late", "buffered", "frontier") if k in extra}
        return ok, {**details, "polled": self.polled, "lag": {f"{t}/{p}": n for (t, p), n in lag.items()}, **judge}


class _RoleCollector(Collector):
    """Reads the role's counters and the values its thread last took, at scrape time."""

    def __init__(self, telemetry: RoleTelemetry):
        self.t = telemetry

    def collect(self) -> Iterator[Metric]:
        t, s = self.t, self.t.role.stats
        names, values = list(t.labels), list(t.labels.values())

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            metric = CounterMetricFamily(name, doc, labels=names)
            metric.add_metric(values, value)
            return metric

        def gauge(name: str, doc: str, extra: list[str] = ()) -> GaugeMetricFamily:  # type: ignore[assignment]
            return GaugeMetricFamily(name, doc, labels=[*names, *extra])

        yield counter("driftline_events_consumed", "Messages consumed", s.consumed)
        yield counter("driftline_batches", "Polled batches handled", s.batches)
        yield counter("driftline_quarantined_events", "Events held back from training", s.quarantined)
        rate = gauge("driftline_events_per_second", "Messages consumed per second since the role started")
        rate.add_metric(values, s.rate)
        yield rate
        lag = gauge("driftline_consumer_lag", "Messages behind the end of the partition", ["topic", "partition"])
        for (topic, partition), n in sorted(t.lag.items()):
            lag.add_metric([*values, topic, str(partition)], n)
        yield lag
        alerts = CounterMetricFamily("driftline_alerts", "Alerts written", labels=[*names, "kind", "severity"])
        for (kind, severity), n in sorted(s.alert_kinds.items()):
            alerts.add_metric([*values, kind, severity], n)
        yield alerts
        dead = CounterMetricFamily("driftline_dead_letters", "Messages dead-lettered", labels=[*names, "reason"])
        for reason, n in _bounded(s.dead_letter_reasons).items():
            dead.add_metric([*values, reason], n)
        yield dead
        actions = CounterMetricFamily("driftline_actions", "Actions recorded", labels=[*names, "action", "status"])
        for (action, status), n in sorted(s.action_outcomes.items()):
            actions.add_metric([*values, action, status], n)
        yield actions
        stat = gauge("driftline_detector_statistic", "The detector's last test statistic", ["detector", "feature", "partition"])
        thr = gauge("driftline_detector_threshold", "The drift threshold on the statistic's scale", ["detector", "feature", "partition"])
        for (name, feature, partition), (value, threshold) in sorted(t.detectors.items()):
            stat.add_metric([*values, name, feature, str(partition)], value)
            thr.add_metric([*values, name, feature, str(partition)], threshold)
        yield stat
        yield thr
        yield from self._learner(names, values, s.extra)
        yield from _performance(names, values, s.extra)
        yield from _segments(names, values, s.extra)
        up = gauge("driftline_ready", "1 when /readyz answers ok")
        up.add_metric(values, 1.0 if t.readyz()[0] else 0.0)
        yield up

    def _learner(self, names: list[str], values: list[str], extra: dict[str, Any]) -> Iterator[Metric]:
        for key, name, doc in (
            ("metric", "driftline_learner_metric", "The learner's rolling metric (accuracy, or MAE for regression)"),
            ("champion_version", "driftline_champion_version", "Version the registry's champion alias points at"),
            ("champion_score", "driftline_champion_score",
             "The champion's held-out score when it was registered (accuracy; -MAE for regression)"),
        ):
            value = extra.get(key, getattr(self.t.role, key, None))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metric = GaugeMetricFamily(name, doc, labels=names)
                metric.add_metric(values, float(value))
                yield metric
        if isinstance(extra.get("trained"), int):
            metric = CounterMetricFamily("driftline_learner_trained", "Labelled events trained on", labels=names)
            metric.add_metric(values, extra["trained"])
            yield metric


#: the judge's estimated and realised performance, from its counters (``estimated_<metric>``, ...)
PERFORMANCE_GAUGES = (
    ("estimated_", "driftline_estimated_metric",
     "The deployed model's estimated metric over the last window (CBPE, DLE), without labels"),
    ("realised_", "driftline_realised_metric", "The deployed model's realised metric over the last labelled window"),
    ("estimation_error_", "driftline_estimation_error",
     "|estimated - realised| on the labelled events of the last labelled window"),
)


def _performance(names: list[str], values: list[str], extra: dict[str, Any]) -> Iterator[Metric]:
    extra = dict(extra)  # one copy (atomic): the role's thread updates it while this scrape reads
    for prefix, name, doc in PERFORMANCE_GAUGES:
        metric = GaugeMetricFamily(name, doc, labels=[*names, "metric"])
        for key, value in sorted(extra.items()):
            if key.startswith(prefix) and key != f"{prefix}window" and isinstance(value, (int, float)):
                metric.add_metric([*values, key[len(prefix):]], float(value))
        if metric.samples:
            yield metric


def _segments(names: list[str], values: list[str], extra: dict[str, Any]) -> Iterator[Metric]:
    """The learner's segments, one ``segment`` label each (``country=DE``): as many as the
    ``segments.max_segments`` largest levels of each slicing, its ``(other)`` pool and the filters."""
    rows = extra.get("segments")
    if not isinstance(rows, list) or not rows:
        return
    events = CounterMetricFamily("driftline_segment_events", "Labelled events the learner judged, per segment",
                                 labels=[*names, "segment"])
    errors = GaugeMetricFamily("driftline_segment_error_rate",
                               "The learner's error rate (MAE for regression) per segment, since the start",
                               labels=[*names, "segment"])
    alerts = CounterMetricFamily("driftline_segment_alerts", "Alerts of a segment's detectors",
                                 labels=[*names, "segment"])
    for row in rows:
        label = [*values, segment_label(row["segment"])]
        events.add_metric(label, row["events"])
        alerts.add_metric(label, row["alerts"])
        if row["error_rate"] is not None:
            errors.add_metric(label, row["error_rate"])
    yield from (events, errors, alerts)


def reason_label(reason: str) -> str:
    """A reason without the values it quotes, so that labels stay few: ``label <value> is not ...``."""
    return re.sub(r"\d+", "N", re.sub(r"(['\"]).*?\1", "<value>", reason))[:80]


def _bounded(reasons: dict[str, int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for reason, n in reasons.items():
        merged[reason_label(reason)] = merged.get(reason_label(reason), 0) + n
    top = sorted(merged.items(), key=lambda kv: -kv[1])
    out = dict(top[:MAX_REASONS])
    rest = sum(n for _, n in top[MAX_REASONS:])
    if rest:
        out["other"] = out.get("other", 0) + rest
    return out
