"""Driftline's own topics read back from a point in time: snapshots, alerts, action records
and model events of one stream, for ``driftline report`` and ``driftline status``.

It needs kafka-python and orjson alone (no Plotly: ``status`` starts without the report's
libraries).
"""

from __future__ import annotations

from typing import Any, Self

import orjson
from kafka import TopicPartition

from driftline.consumers.config.model import DriftlineConfig
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import end_offset, parse_records, read_to_end
from driftline.stream.messages import ActionRecord, Alert

#: records read before the offset a time look-up answers (see TopicReader.read)
SEEK_MARGIN = 1000


class TopicReader:
    """Reads topics from a point in time to their end now, without a consumer group."""

    def __init__(self, bootstrap: str, client: dict[str, Any] | None = None):
        self.consumer = make_consumer(bootstrap, group_id=None, client=client)

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> Self:
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
