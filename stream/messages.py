"""The messages driftline writes, as the external contract defines them.

Alerts (``drift-alerts``, CloudEvents 1.0 binary mode), dead letters (``events-deadletter``),
quarantined events (``events-quarantine``) and action records (``driftline-actions``).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from driftline.stream.clock import now_ms

AlertKind = Literal[
    "data_drift", "label_drift", "prediction_drift", "concept_drift", "data_quality", "performance"
]
Headers = list[tuple[str, bytes]]


class Position(BaseModel):
    """Where the event a detector fired at lives, and which event it is."""

    model_config = ConfigDict(frozen=True)
    partition: int
    offset: int
    #: the firing event's time and id (None only in alerts of older versions)
    ts: int | None = None
    event_id: str | None = None


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)
    reference_n: int
    current_n: int
    start_ts: int | None = None
    end_ts: int | None = None


class Alert(BaseModel):
    """One alert; the same input and configuration always give the same ``alert_id``."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    stream: str
    kind: AlertKind
    severity: Literal["warning", "drift"]
    feature: str | None
    detector: str
    statistic: float
    p_value: float | None
    threshold: float
    position: Position
    window: Window
    detected_at: int
    details: dict[str, Any] = Field(default_factory=dict)
    #: the slice of the traffic whose detector fired (``{"country": "DE"}``), None for the stream's
    segment: dict[str, str] | None = None

    def to_json(self) -> bytes:
        doc = self.model_dump(mode="json")
        if doc["segment"] is None:  # an alert about the whole stream reads as before segments existed
            del doc["segment"]
        return orjson.dumps(doc)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        return cls.model_validate_json(raw)

    @property
    def key(self) -> bytes:
        """``<stream>/<feature or kind>``: one feature's alerts stay in one partition, in order."""
        return f"{self.stream}/{self.feature or self.kind}".encode()

    def cloudevent_headers(self) -> Headers:
        time = datetime.fromtimestamp(self.detected_at / 1000, tz=timezone.utc)
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", self.alert_id.encode()),
            ("ce_source", f"driftline/{self.stream}".encode()),
            ("ce_type", f"io.driftline.alert.{self.kind}".encode()),
            ("ce_time", time.isoformat().replace("+00:00", "Z").encode()),
            ("content-type", b"application/json"),
        ]


def alert_id(stream: str, detector: str, feature: str | None, event_id: str,
             segment: dict[str, str] | None = None) -> str:
    """sha256 hex of (stream, detector, feature, the firing event's id[, the segment]): the same
    for any partitioning of the stream, live and in backtest. The segment (its keys sorted)
    joins the text only when set: the ids of alerts about the whole stream are unchanged."""
    parts = [stream, detector, feature or "", event_id]
    if segment:
        parts.append(orjson.dumps(segment, option=orjson.OPT_SORT_KEYS).decode())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


#: the most bytes of an original message a dead letter carries (the rest is named, not kept:
#: the original stays on its topic at the source offset)
DEAD_LETTER_RAW_MAX = 256 * 1024


def dead_letter(error: str, topic: str, partition: int, offset: int, raw: bytes | None) -> bytes:
    """The dead-letter message for an unreadable input: why, from where, and the bytes.

    An original larger than ``DEAD_LETTER_RAW_MAX`` is cut there, with ``raw_truncated`` and
    ``raw_bytes`` saying so, so that a dead letter never exceeds a broker's message size limit.
    """
    raw = raw or b""
    doc: dict[str, Any] = {
        "error": error,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "raw": base64.b64encode(raw[:DEAD_LETTER_RAW_MAX]).decode("ascii"),
    }
    if len(raw) > DEAD_LETTER_RAW_MAX:
        doc["raw_truncated"] = True
        doc["raw_bytes"] = len(raw)
    return orjson.dumps(doc)


#: the headers a quarantined copy carries beside the original message's own
PROVENANCE_HEADERS = frozenset({"driftline_alert_id", "driftline_reason", "driftline_source_topic",
                                "driftline_source_partition", "driftline_source_offset"})


def quarantine_headers(
    alert_id: str, reason: str, topic: str, partition: int, offset: int, original: Headers | None = None
) -> Headers:
    return [
        *(original or []),
        ("driftline_alert_id", alert_id.encode()),
        ("driftline_reason", reason.encode()),
        ("driftline_source_topic", topic.encode()),
        ("driftline_source_partition", str(partition).encode()),
        ("driftline_source_offset", str(offset).encode()),
    ]


class ActionRecord(BaseModel):
    """An audit record on ``driftline-actions``: what was done, why, and how it ended.

    ``action_id`` is deterministic for (alert, action), so a redelivered alert maps to the
    record already written.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    action: Literal["quarantine", "release", "purge", "rollback", "retrain"]
    stream: str
    alert_id: str | None
    rule: int | None = None
    status: Literal[
        "started", "done", "released", "purged", "promoted", "refused", "skipped", "not_implemented", "failed"
    ]
    scope: dict[str, Any] = Field(default_factory=dict)
    detail: str = ""
    ts: int

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ActionRecord:
        return cls.model_validate_json(raw)

    @classmethod
    def new(
        cls,
        action: str,
        stream: str,
        status: str,
        *,
        alert_id: str | None = None,
        rule: int | None = None,
        scope: dict[str, Any] | None = None,
        detail: str = "",
        id_extra: str = "",
        ts: int | None = None,
    ) -> ActionRecord:
        """The one way to make a record: its ``action_id`` from (alert, action, ``id_extra``),
        its ``ts`` the wall clock unless given."""
        return cls(
            action_id=action_id(alert_id, action, id_extra), action=action, stream=stream,  # type: ignore[arg-type]
            alert_id=alert_id, rule=rule, status=status, scope=dict(scope or {}),  # type: ignore[arg-type]
            detail=detail, ts=now_ms() if ts is None else ts,
        )


def action_id(alert_id: str | None, action: str, extra: str = "") -> str:
    text = "\x1f".join([alert_id or "", action, extra])
    return hashlib.sha256(text.encode()).hexdigest()


class ModelEvent(BaseModel):
    """A model change on ``driftline-models``: a version registered, promoted or rolled back.

    Serving services subscribe to it to load the version ``alias`` now points at.
    ``event_id`` is deterministic for (stream, event, version, cause), so a repeated action
    repeats the same id.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str
    stream: str
    event: Literal["registered", "promoted", "rolled_back", "refused"]
    version: int
    alias: str | None = None
    previous: int | None = None
    alert_id: str | None = None
    reason: str = ""
    artifact_sha256: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    ts: int

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ModelEvent:
        return cls.model_validate_json(raw)
