"""The ``stream`` section: what an event is and where each of its fields is in a message.

The mapping says where the id is (a dotted path, the message key or a header), the event time
(a path in epoch ms or s or ISO-8601, or the Kafka record's timestamp), each feature (under
``features_path``, or at a path of its own), the label and the prediction; the labels topic's
messages have their own paths. The defaults are driftline's envelope.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftline.consumers.config.base import Model as _Model

FeatureType = Literal["numeric", "categorical"]
TargetType = Literal["binary", "multiclass", "regression"]


class TargetConfig(_Model):
    #: a dotted path in the message (``model.decision``)
    field: str = Field(min_length=1)
    type: TargetType = "binary"


class PredictionConfig(TargetConfig):
    """The deployed model's output; ``score`` names its confidence, for performance estimation.

    binary: one field, the probability of class 1; multiclass: ``{class: field}``, each class's
    probability. A regression model has no score (its loss is estimated from the features).
    """

    score: str | dict[str, str] | None = None

    @property
    def score_fields(self) -> tuple[str, ...]:
        if self.score is None:
            return ()
        return (self.score,) if isinstance(self.score, str) else tuple(self.score.values())

    @property
    def score_classes(self) -> tuple[str, ...]:
        """The class each score field is the probability of (binary: ``1``)."""
        if self.score is None:
            return ()
        return ("1",) if isinstance(self.score, str) else tuple(self.score)


class FeatureSpec(_Model):
    """A feature at a path of its own: ``income: {type: numeric, path: applicant.income}``."""

    type: FeatureType
    #: a dotted path from the message's root; default: ``<stream.features_path>.<name>``
    path: str | None = Field(default=None, min_length=1)


class LabelsTopicConfig(_Model):
    """Where the id and the label are in a message of the ``labels`` topic."""

    #: a dotted path; default: ``stream.id_field`` (``id`` when the events' id is not a field)
    id_field: str | None = Field(default=None, min_length=1)
    #: a dotted path; default: ``stream.label.field``
    field: str | None = Field(default=None, min_length=1)
    #: a dotted path to when the label became known (it places the label in the learner's
    #: order); default: ``stream.timestamp_field``
    ts_field: str | None = Field(default=None, min_length=1)


class RegistryConfig(_Model):
    """A Confluent Schema Registry: writer schemas fetched by id (``GET /schemas/ids/{id}``), cached."""

    url: str = Field(min_length=1)
    username: str | None = None
    #: a secret: write ``${REGISTRY_PASSWORD}``
    password: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)

    def __repr_args__(self):  # never print secrets
        for key, value in super().__repr_args__():
            yield key, ("***" if key == "password" and value else value)


class AvroConfig(_Model):
    """Avro in the Confluent wire format (a zero byte, the schema id in 4 bytes, the body)."""

    registry: RegistryConfig | None = None
    #: local writer schemas by schema id, for users without a registry: ``{1: schemas/loan-v1.avsc}``
    schemas: dict[int, str] = Field(default_factory=dict)
    #: the schema to read every message as (Avro's schema resolution: fields added with defaults,
    #: removed, promoted); default: each message as its writer wrote it
    reader_schema: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> AvroConfig:
        if self.registry is None and not self.schemas:
            raise ValueError("give registry (a Schema Registry's url) or schemas (local .avsc files by schema id)")
        return self


class JsonSchemaConfig(_Model):
    """JSON Schema in the Confluent wire format (a zero byte, the schema id in 4 bytes, the JSON
    body): each body validated against its schema, then read by the stream's field mapping."""

    registry: RegistryConfig | None = None
    #: local JSON Schema files by schema id, for users without a registry: ``{1: schemas/loan-v1.json}``
    schemas: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _somewhere(self) -> JsonSchemaConfig:
        if self.registry is None and not self.schemas:
            raise ValueError("give registry (a Schema Registry's url) or schemas (local JSON Schema files by "
                             "schema id)")
        return self


class ProtobufConfig(_Model):
    """Protobuf in the Confluent wire format (a zero byte, the schema id in 4 bytes, the message
    indexes, the payload): each schema's ``.proto`` text compiled at run time."""

    registry: RegistryConfig | None = None
    #: local ``.proto`` files by schema id, for users without a registry (imports are read from
    #: the file's folder): ``{1: schemas/loan.proto}``
    schemas: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _somewhere(self) -> ProtobufConfig:
        if self.registry is None and not self.schemas:
            raise ValueError("give registry (a Schema Registry's url) or schemas (local .proto files by schema id)")
        return self


class StreamConfig(_Model):
    name: str = Field(min_length=1)
    id_field: str = "id"
    #: how many recent ids per partition are remembered to reject duplicates (0: off)
    dedupe_window: int = Field(default=10_000, ge=0)
    #: the stream is judged in event-time order, behind the slowest partition: an event is
    #: judged once every partition is this far (ms of event time) past it; an event more than
    #: this behind its own partition's newest is late (dead-lettered, judged by no detector)
    allowed_lateness_ms: int = Field(default=10_000, ge=0)
    #: a partition read to its end that brings no event for this long (wall-clock ms) stops
    #: holding the others back (counted, and said in /readyz)
    idle_partition_ms: int = Field(default=5_000, ge=0)
    #: a message larger than this goes to the dead-letter topic unread
    max_event_bytes: int = Field(default=1_000_000, ge=1000)
    #: a dotted path (``meta.sent_at``); with timestamp_source: record, unused
    timestamp_field: str = Field(default="ts", min_length=1)
    #: ``field``: the event time is at ``timestamp_field``; ``record``: the Kafka record's timestamp
    timestamp_source: Literal["field", "record"] = "field"
    #: a numeric event time counts ``ms`` or ``s`` since 1970; ISO-8601 text is always read
    timestamp_unit: Literal["ms", "s"] = "ms"
    #: where the id is: ``field`` (the dotted path ``id_field``), the message ``key``, or the
    #: ``header`` named ``id_field``
    id_source: Literal["field", "key", "header"] = "field"
    #: the object that holds the features (a dotted path); null: at the message's top level
    features_path: str | None = "features"
    features: dict[str, FeatureType | FeatureSpec] = Field(min_length=1)
    label: TargetConfig | None = None
    prediction: PredictionConfig | None = None
    #: the labels topic's messages
    labels: LabelsTopicConfig = Field(default_factory=LabelsTopicConfig)
    #: ``json`` (UTF-8 JSON objects), ``avro`` (Confluent wire format; see ``avro``),
    #: ``json_schema`` (JSON in the Confluent wire format, validated; see ``json_schema``) or
    #: ``protobuf`` (Confluent wire format; see ``protobuf``)
    format: Literal["json", "avro", "json_schema", "protobuf"] = "json"
    avro: AvroConfig | None = None
    json_schema: JsonSchemaConfig | None = None
    protobuf: ProtobufConfig | None = None

    @field_validator("features_path", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return None if value == "" else value

    def feature_types(self) -> dict[str, FeatureType]:
        return {n: (t.type if isinstance(t, FeatureSpec) else t) for n, t in self.features.items()}

    def feature_paths(self) -> dict[str, str]:
        return {n: t.path for n, t in self.features.items() if isinstance(t, FeatureSpec) and t.path}

    def labels_fields(self) -> tuple[str, str]:
        """The id's and the label's paths in a message of the labels topic."""
        default_id = self.id_field if self.id_source == "field" else "id"
        return self.labels.id_field or default_id, self.labels.field or (self.label.field if self.label else "label")

    def labels_time_field(self) -> str:
        """The path of when a label became known, in a message of the labels topic."""
        return self.labels.ts_field or self.timestamp_field


def field_clashes(stream: StreamConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """The id, the event time, each feature, the label and the prediction are each at a path of
    their own, and no path runs through another's value."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    fields: list[tuple[tuple[str | int, ...], str, str]] = []  # (key, path, what it is)
    if stream.id_source == "field":
        fields.append((("stream", "id_field"), stream.id_field, "stream.id_field"))
    if stream.timestamp_source == "field":
        fields.append((("stream", "timestamp_field"), stream.timestamp_field, "stream.timestamp_field"))
    for name, target in (("label", stream.label), ("prediction", stream.prediction)):
        if target is not None:
            fields.append((("stream", name, "field"), target.field, f"stream.{name}.field"))
    paths = stream.feature_paths()
    for name in stream.features:
        default = f"{stream.features_path}.{name}" if stream.features_path else name
        fields.append((("stream", "features", name), paths.get(name, default), f"feature {name!r}"))
    seen: dict[str, str] = {}
    for key, path, what in fields:
        if path in seen:
            message = f"{path!r} is already {seen[path]}"
            if {what, seen[path]} == {"stream.label.field", "stream.prediction.field"}:
                message = (f"{path!r} is also stream.label.field: the model's prediction and the true label must be "
                           "two fields, or every prediction would look right")
            problems.append((key, message))
            continue
        seen[path] = what
    for key, path, what in fields:
        for other, owner in seen.items():
            if other.startswith(path + "."):
                problems.append((key, f"{path!r} holds {owner} ({other!r}): a value cannot also be an object of fields"))
                break
    for fmt in ("avro", "json_schema", "protobuf"):
        given = getattr(stream, fmt) is not None
        if stream.format == fmt and not given:
            problems.append((("stream", fmt),
                             f"format {fmt} needs stream.{fmt}: a registry url, or local schemas by id"))
        if given and stream.format != fmt:
            problems.append((("stream", "format"),
                             f"stream.{fmt} is given but format is {stream.format}: set format: {fmt}"))
    return problems
