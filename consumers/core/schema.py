"""The stream's schema as ``stream/`` needs it, from the configuration."""

from __future__ import annotations

from driftline.consumers.config.model import DriftlineConfig
from driftline.stream.events import StreamSchema


def stream_schema(cfg: DriftlineConfig) -> StreamSchema:
    s = cfg.stream
    return StreamSchema(
        name=s.name,
        features=dict(s.features),
        id_field=s.id_field,
        timestamp_field=s.timestamp_field,
        label_field=s.label.field if s.label else None,
        label_type=s.label.type if s.label else None,
        prediction_field=s.prediction.field if s.prediction else None,
        prediction_type=s.prediction.type if s.prediction else None,
        max_event_bytes=s.max_event_bytes,
    )
