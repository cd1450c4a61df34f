"""The report of the live system over a past span, read back from driftline's topics.

Statistic series, distributions at alerts and the learner's metric come from the snapshots
on the stats topic; alerts, actions and model changes from their topics; event, quarantine
and dead-letter counts from the topics' offsets at the span's start and end. The x axis is
wall-clock time (when each snapshot or alert was taken).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from kafka import TopicPartition

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.observe.report.page import ReportData, _metric_name
from driftline.consumers.observe.series import DetectorInfo, Series
from driftline.stream import clock
from driftline.stream.clock import parse_span as parse_span  # the spans reports are asked for
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import end_offset, parse_records, read_to_end
from driftline.stream.messages import ActionRecord, Alert

log = logging.getLogger("driftline")

#: records read before the offset a time look-up answers (see TopicReader.read)
SEEK_MARGIN = 1000
class TopicReader:
    """Reads topics from a point in time to their end now, without a consumer group."""

    def __init__(self, bootstrap: str, client: dict[str, Any] | None = None):
        self.consumer = make_consumer(bootstrap, group_id=None, client=client)

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bounds(self, topic: str, since_ms: int) -> dict[TopicPartition, tuple[int, int]]:
        parts = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        if not parts:
            return {}
        self.consumer.assign(parts)
        end = {tp: end_offset(self.consumer, tp) for tp in parts}
        found = self.consumer.offsets_for_times({tp: since_ms for tp in parts})
        return {tp: ((found[tp].offset if found.get(tp) else end[tp]), end[tp]) for tp in parts}

    def read(self, topic: str, since_ms: int, last: int | None = None) -> list[Any]:
        """Records from about ``since_ms`` (callers filter on time), or the ``last`` ones per partition.

        Some brokers answer the time look-up at record-batch granularity (the embedded one
        does), so the start steps back ``SEEK_MARGIN`` records; the end is the true one
        (:mod:`driftline.stream.kafka.records`).
        """
        bounds = self._bounds(topic, since_ms)
        if not bounds:
            return []
        self.consumer.assign(list(bounds))
        for tp, (start, end) in bounds.items():
            self.consumer.seek(tp, max(0, end - last) if last else max(0, start - SEEK_MARGIN))
        return list(read_to_end(self.consumer, list(bounds)))


def _readable(reader: TopicReader, topic: str, since_ms: int, last: int | None, parse: Any) -> list[Any]:
    """``parse`` of each record read (see :meth:`TopicReader.read`); unreadable ones are
    skipped, counted and logged: this is a view of the topic, not a consumer of it."""
    return parse_records([m.value for m in reader.read(topic, since_ms, last)], parse, topic).records


def snapshots(reader: TopicReader, cfg: DriftlineConfig, since_ms: int, last: int | None = None) -> list[dict[str, Any]]:
    docs = _readable(reader, cfg.stats.topic, since_ms, last, orjson.loads)
    out = [d for d in docs if isinstance(d, dict) and d.get("stream") == cfg.stream.name and d.get("ts", 0) >= since_ms]
    return sorted(out, key=lambda d: d["ts"])


def alerts_since(reader: TopicReader, cfg: DriftlineConfig, since_ms: int, last: int | None = None) -> list[Alert]:
    alerts = _readable(reader, cfg.topics.alerts, since_ms, last, Alert.from_json)
    return sorted((a for a in alerts if a.stream == cfg.stream.name), key=lambda a: a.detected_at)


def actions_since(reader: TopicReader, cfg: DriftlineConfig, since_ms: int) -> list[ActionRecord]:
    records = _readable(reader, cfg.topics.actions, since_ms, None, ActionRecord.from_json)
    return sorted((r for r in records if r.stream == cfg.stream.name), key=lambda r: r.ts)


def model_events(reader: TopicReader, cfg: DriftlineConfig, since_ms: int) -> list[tuple[float, str]]:
    """Promotions, rollbacks and registrations on the models topic (any JSON naming them)."""
    out = []
    for m in reader.read(cfg.topics.models, since_ms):
        try:
            doc = orjson.loads(m.value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or doc.get("stream", cfg.stream.name) != cfg.stream.name:
            continue
        what = doc.get("event") or doc.get("type") or doc.get("action") or "model"
        version = doc.get("version")
        out.append((float(doc.get("ts") or m.timestamp), f"{what}" + (f" v{version}" if version is not None else "")))
    return out


def live_report(cfg: DriftlineConfig, bootstrap: str, span_seconds: float, now_ms: int | None = None) -> ReportData:
    now = now_ms if now_ms is not None else clock.now_ms()
    since = now - int(span_seconds * 1000)
    data = ReportData(stream=cfg.stream.name, time_axis=True, metric_name=_metric_name(cfg),
                      source=f"live, {time.strftime('%Y-%m-%d %H:%M', time.gmtime(since / 1000))} to "
                             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(now / 1000))}")
    with TopicReader(bootstrap, cfg.kafka.client) as reader:
        data.alerts = [a for a in alerts_since(reader, cfg, since) if a.detected_at >= since]
        docs = snapshots(reader, cfg, since)
        for doc in docs:
            _add_snapshot(data, cfg, doc)
        data.events = counted(docs, "monitor", "consumed", since)
        data.dead_letters = counted(docs, "monitor", "dead_letters", since)
        data.quarantined = counted(docs, "learner", "quarantined", since)
        for record in (r for r in actions_since(reader, cfg, since) if r.ts >= since):
            data.actions[(record.action, record.status)] += 1
            if record.action == "quarantine" and record.status == "started":
                data.quarantine_spans.append((float(record.ts), float(now), record.alert_id or ""))
            elif record.action == "release":
                data.quarantine_spans = [(s, float(record.ts) if why == record.alert_id else e, why)
                                         for s, e, why in data.quarantine_spans]
            elif record.action in ("rollback", "retrain"):
                data.model_events.append((float(record.ts), f"{record.action} {record.status}"))
        data.model_events += model_events(reader, cfg, since)
    return data


def counted(docs: list[dict[str, Any]], role: str, counter: str, since_ms: int) -> int:
    """How much a role's counter grew in the span, summed over its instances (processes).

    An instance started in the span counts from 0; one started before, from its first
    snapshot in the span.
    """
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for doc in docs:
        if doc.get("role") != role:
            continue
        instance = str(doc.get("instance"))
        value = int((doc.get("counters") or {}).get(counter, 0))
        if instance not in first:
            first[instance] = 0 if doc.get("started_ms", 0) >= since_ms else value
        last[instance] = value
    return sum(max(0, last[i] - first[i]) for i in last)


def _add_snapshot(data: ReportData, cfg: DriftlineConfig, doc: dict[str, Any]) -> None:
    ts = int(doc["ts"])
    for name, info in (doc.get("detectors") or {}).items():
        data.info.setdefault(name, DetectorInfo(name, info.get("kind", ""), info.get("feature"), info.get("target", "")))
    for p in doc.get("points") or []:
        key = (p["detector"], int(p["partition"]))
        if key not in data.series:
            data.series[key] = Series(cfg.stats.points)
        data.series[key].add(float(ts), ts, float(p["statistic"]), float(p["threshold"]))
    for d in doc.get("distributions") or []:
        data.distributions[d["alert_id"]] = d
    data.performance += doc.get("performance") or []
    metric = (doc.get("extra") or {}).get("metric")
    if doc.get("role") == "learner" and isinstance(metric, (int, float)):
        data.learner.add(float(ts), ts, float(metric), float("nan"))
