"""The reference a stream is compared with, when it comes from a file of training data.

``reference: {file: reference.parquet}`` (or .csv, .jsonl; relative to the working directory):
the file's events are parsed as events are, and every feature, label and prediction detector
is fitted on its column before the first live event arrives. Rows that cannot be read are an
error here, not a silent gap in the reference.
"""

from __future__ import annotations

from pathlib import Path

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.errors import ReferenceDataError
from driftline.stream.events import EventBatch, concat_batches
from driftline.stream.replay import read_events


def load_reference(cfg: DriftlineConfig) -> EventBatch | None:
    """The reference events from ``reference.file``, or None when the reference is first_n."""
    if cfg.reference.file is None:
        return None
    path = Path(cfg.reference.file).resolve()
    return _load(path, cfg)


def _load(path: Path, cfg: DriftlineConfig) -> EventBatch:
    if not path.exists():
        raise ReferenceDataError(f"reference.file: {path} does not exist")
    schema = stream_schema(cfg)
    batches = []
    for batch, rejects in read_events(path, schema, chunk_size=50_000):
        if rejects:
            first = rejects[0]
            raise ReferenceDataError(
                f"reference.file: {path}: {len(rejects)} unreadable row(s), first at row {first.offset}: {first.error}"
            )
        batches.append(batch)
    if not batches:
        raise ReferenceDataError(f"reference.file: {path} has no events")
    return concat_batches(batches)
