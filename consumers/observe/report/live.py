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

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.observe.report.page import ReportData, _metric_name
from driftline.consumers.observe.series import DetectorInfo, Series
from driftline.consumers.observe.topicreads import TopicReader, actions_since, alerts_since, model_events, snapshots
from driftline.stream import clock
from driftline.stream.clock import parse_span as parse_span  # the spans reports are asked for

log = logging.getLogger("driftline")

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
