"""The driftline configuration as pydantic models: every key, its type, default and range.

:mod:`.loading` reads a YAML file into a frozen :class:`DriftlineConfig`;
:mod:`driftline.consumers.core.checks` adds the checks that need the detectors' code.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from driftline.consumers.config.base import Model as _Model
from driftline.consumers.config.scores import score_problems
from driftline.consumers.config.segments import FairnessConfig, SegmentsConfig, segment_problems
from driftline.consumers.config.sources import class_dict_keys, defines
from driftline.consumers.config.stream import (
    AvroConfig,
    JsonSchemaConfig,
    RegistryConfig,
    StreamConfig,
    field_clashes,
)
from driftline.detectors.calibration import parse_rate
from driftline.learners.imports import DEFAULT_TRAINER, import_attribute, resolve_trainer
from driftline.stream.events import StreamSchema
from driftline.stream.shape.avro import AvroDecoder, SchemaRegistry, SchemaUnavailable, load_avsc
from driftline.stream.shape.json_schema import JsonSchemaDecoder, load_schema_file
from driftline.stream.shape.protobuf import ProtobufDecoder, load_proto

AlertKind = Literal[
    "data_drift", "label_drift", "prediction_drift", "concept_drift", "data_quality", "performance"
]
ActionName = Literal["quarantine", "rollback", "retrain"]
Role = Literal["monitor", "learner", "actions"]


class KafkaConfig(_Model):
    bootstrap_servers: str = "embedded"
    #: passed through to kafka-python (security_protocol, sasl_*, ssl_*), secrets via ${VAR}
    client: dict[str, Any] = Field(default_factory=dict)
    #: where ``driftline broker`` listens; ``embedded`` uses it when it answers
    embedded_address: str = "127.0.0.1:9092"
    #: prefix of the consumer group ids: <prefix>-<stream>-<role>
    group_prefix: str = "driftline"
    #: partitions of the topics driftline creates when they are missing
    partitions: int = Field(default=1, ge=1)
    max_poll_records: int = Field(default=5000, ge=1)
    poll_timeout_ms: int = Field(default=500, ge=1)
    #: a consumer that is not heard from this long leaves its group; default 3000 on the embedded
    #: broker (whose group join waits about half of it: roles consume within 2 s), 10000 on Kafka
    session_timeout_ms: int | None = Field(default=None, ge=1000)

    def session_ms(self) -> int:
        """The session timeout the roles' consumers use."""
        if self.session_timeout_ms is not None:
            return self.session_timeout_ms
        return 3000 if self.bootstrap_servers.strip().lower() == "embedded" else 10000

    def __repr_args__(self):  # never print secrets
        for key, value in super().__repr_args__():
            if key == "client":
                value = {k: ("***" if _secret(k) else v) for k, v in value.items()}
            yield key, value


def _secret(key: str) -> bool:
    return any(word in key for word in ("password", "secret", "token", "key"))


class TopicsConfig(_Model):
    events: str = "events"
    labels: str = "labels"
    alerts: str = "drift-alerts"
    quarantine: str = "events-quarantine"
    deadletter: str = "events-deadletter"
    actions: str = "driftline-actions"
    models: str = "driftline-models"
    checkpoints: str = "driftline-checkpoints"
    #: the monitor instances' compact per-partition codes, merged by the stream's one judge
    codes: str = "driftline-codes"
    #: how far the judge has judged the stream (event time): the learner trains behind it
    progress: str = "driftline-progress"


class CheckpointConfig(_Model):
    """Where and how often the roles save their state with the offsets it reflects."""

    #: kafka: a compacted topic (a role restarted on another machine finds it);
    #: file: a local directory under state_dir
    store: Literal["kafka", "file"] = "kafka"
    every_seconds: float = Field(default=10.0, gt=0)
    every_events: int = Field(default=200_000, ge=1)


class ReferenceConfig(_Model):
    first_n: int | None = Field(default=None, ge=10)
    file: str | None = None
    #: windowed tests (ks, cvm) compare their window with the N events just before it; the
    #: other detectors take the first N events, and renew them after a drift
    sliding: int | None = Field(default=None, ge=10)

    @model_validator(mode="after")
    def _one_source(self) -> ReferenceConfig:
        if sum(v is not None for v in (self.first_n, self.file, self.sliding)) != 1:
            raise ValueError("give exactly one of first_n, file or sliding")
        return self


class DetectorConfig(_Model):
    name: str = Field(min_length=1)
    method: str
    kind: AlertKind = "data_drift"
    #: the features this detector watches (data_drift and data_quality); empty for the
    #: label (label_drift), predictions (prediction_drift) or model errors (concept_drift)
    features: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)



class PerformanceConfig(_Model):
    """Label-free performance estimation: CBPE (classification, on ``stream.prediction.score``)
    and DLE (regression), each judged by a calibrated detector (alert kind ``performance``)."""

    #: auto: CBPE when the prediction declares a score, DLE for a regression prediction and
    #: label; off: neither
    estimate: Literal["auto", "off"] = "auto"
    #: events per window of the estimated (and realised) metrics
    window: int = Field(default=1000, ge=10)
    #: the map from score to class probability, fitted on the labelled reference: auto picks
    #: the one of lower expected calibration error (cross-validated on the reference)
    calibration: Literal["auto", "isotonic", "platt"] = "auto"
    #: DLE's online regressor of the deployed model's absolute error
    loss_model: str | ComponentSpec = "river.tree.HoeffdingTreeRegressor"

    @field_validator("loss_model")
    @classmethod
    def _importable(cls, value: Any) -> Any:
        check_class(value.cls if isinstance(value, ComponentSpec) else value)
        return value


class FalseAlarmConfig(_Model):
    drift: float = 1e-6
    warning: float | None = 1e-4

    @field_validator("drift", "warning", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        if value is None:
            return None
        return parse_rate(value)


class ComponentSpec(_Model):
    """A River estimator by dotted path, with keyword parameters."""

    cls: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)


class LearnerConfig(_Model):
    enabled: bool = True
    model: str | ComponentSpec = "river.linear_model.LogisticRegression"
    preprocessing: list[str | ComponentSpec] = Field(default_factory=list)
    #: window of the rolling metric the learner reports
    metric_window: int = Field(default=1000, ge=10)
    #: labelled events awaiting their label (or labels awaiting their event), at most
    max_pending: int = Field(default=100_000, ge=1)
    #: an event waits for its label at most this long in event time (ms; None: no age limit)
    max_pending_age_ms: int | None = Field(default=7 * 24 * 3600 * 1000, ge=1)
    #: the one concept-drift detector ``detectors: auto`` runs on the learner's errors:
    #: ``bernoulli`` or ``cusum`` (both calibrated to the false-alarm budget), ``ddm``, ``eddm``,
    #: ``hddm``, ``adwin`` or ``page_hinkley``; auto: the Bernoulli CUSUM watching the 0/1 errors
    #: rise (classification), the rank CUSUM watching the absolute errors rise (regression)
    concept_detector: Literal["auto", "bernoulli", "cusum", "ddm", "adwin", "page_hinkley", "eddm", "hddm"] = "auto"
    #: train on an event only after the monitor has judged it (committed past it), so that a
    #: quarantine that the monitor's alert calls for is applied before anything is learned
    wait_for_monitor: bool = True
    #: the share of labelled events scored and learned from, chosen by a hash of their id (the
    #: same events live and in backtest); the others are counted, never scored
    sample: float = Field(default=1.0, gt=0.0, le=1.0)
    #: the concept detectors judge the errors of each block of this much learning time (event
    #: time, ms) together, once the learner is past it; a quarantine their alert calls for holds
    #: the events that arrive after the block
    error_block_ms: int = Field(default=200, ge=1)

    @field_validator("model", "preprocessing")
    @classmethod
    def _importable(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            check_class(item.cls if isinstance(item, ComponentSpec) else item)
        return value


class PolicyMatch(_Model):
    kind: AlertKind | None = None
    severity: Literal["warning", "drift"] = "drift"
    feature: str | None = None
    detector: str | None = None
    #: the alerts of segments' detectors this policy acts on: none (the whole stream's alerts
    #: only: a segment's change does not roll back or quarantine the stream unless asked), any,
    #: or one segment ({country: DE})
    segment: Literal["any"] | dict[str, str] | None = None


class PolicyConfig(_Model):
    when: PolicyMatch = Field(default_factory=PolicyMatch)
    do: list[ActionName] = Field(min_length=1)
    #: for ``retrain``: labelled events from the drift on to train and hold out on
    #: (default: models.retrain.window)
    window: int | None = Field(default=None, ge=20)


class ScheduleConfig(_Model):
    """When scheduled retrains run: a crontab line, or every so many seconds."""

    cron: str | None = None
    interval_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of cron or interval_seconds")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            CronTrigger.from_crontab(self.cron)  # ValueError naming the bad field
        return self


class BatchModelConfig(_Model):
    """How the batch model is trained, and where the deployed one comes from."""

    #: ``module:function(X, y, **params)`` returning a model with ``predict``
    trainer: str = DEFAULT_TRAINER
    params: dict[str, Any] = Field(default_factory=dict)
    #: a pickled model file to register as the deployed version at start (trusted: it is
    #: yours); without it the deployed version is trained on the reference
    deployed: str | None = None

    @field_validator("trainer")
    @classmethod
    def _resolvable(cls, value: str) -> str:
        module_name, sep, attr = value.partition(":")
        if not (sep and module_name and attr and defines(module_name, attr, functions=True)):
            resolve_trainer(value)  # imported: what the source does not say for sure
        return value


class RetrainConfig(_Model):
    #: labelled events from the drift's start on (the latest ones, on a schedule)
    window: int = Field(default=4000, ge=20)
    #: the most recent share of the window, held out to compare challenger and champion
    holdout: float = Field(default=0.3, gt=0, lt=1)
    #: the challenger is promoted only if its held-out score beats the champion's by this
    margin: float = Field(default=0.02, ge=0)
    #: how long a retrain waits for its window to fill before training on what there is
    wait_seconds: float = Field(default=120.0, ge=0)
    #: retrain requests within this time of the last one are one drift storm: one retrain (and
    #: the online learner's rollbacks within this much event time of its last one: one rollback)
    debounce_seconds: float = Field(default=600.0, ge=0)
    schedule: ScheduleConfig | None = None


class ModelsConfig(_Model):
    """The model registry and the batch model's life cycle (rollback, retrain)."""

    #: the registry directory (default: <state_dir>/registry)
    registry: str | None = None
    batch: BatchModelConfig = Field(default_factory=BatchModelConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    #: a concept drift (DDM) is taken to have begun this many events before its alert: rollback
    #: goes to the last champion trained before that point
    concept_lookback: int = Field(default=1000, ge=0)
    #: a quarantine ends (is released, its events replayed) once the detector that opened it
    #: has been quiet for this many events of its partition; None: only by command
    quarantine_quiet_events: int | None = Field(default=None, ge=1)
    #: the online learner keeps a snapshot every so many trained events, to roll back to
    online_snapshot_every: int = Field(default=500, ge=1)
    online_snapshots_kept: int = Field(default=40, ge=1)
    #: the online snapshots' bytes together (pickled; kept in the learner's checkpoint): the oldest give way
    online_snapshots_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: the online learner learns in mini-batches of this many learning steps (counted in the
    #: learning order, never cut by polls: the same model live and in backtest) where its
    #: pipeline supports it: several times faster, concept changes alerted a little later;
    #: 1 (the default): one event at a time
    minibatch: int = Field(default=1, ge=1, le=65536)


class MetricsConfig(_Model):
    """Prometheus ``/metrics``, ``/healthz`` and ``/readyz`` served by each role (off by default)."""

    #: the monitor's port; the learner uses port + 1, the actions role port + 2; 0 picks free ports
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "0.0.0.0"
    #: /healthz fails when the role's poll loop has not come round for this long
    stale_after_seconds: float = Field(default=120.0, gt=0)
    #: /readyz fails while a partition's lag exceeds this (null: lag never makes a role unready)
    max_lag: int | None = Field(default=None, ge=0)


class StatsConfig(_Model):
    """Snapshots of what the roles see (detector statistics, counters, lag) on a topic."""

    enabled: bool = True
    topic: str = "driftline-stats"
    every_events: int = Field(default=50_000, ge=1)
    every_seconds: float = Field(default=10.0, gt=0)
    #: points kept per detector series in a backtest report (merged pairwise when full)
    points: int = Field(default=1000, ge=10)


class DriftlineConfig(_Model):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    stream: StreamConfig
    reference: ReferenceConfig = Field(default_factory=lambda: ReferenceConfig(first_n=10000))
    detectors: Literal["auto"] | list[DetectorConfig] = "auto"
    false_alarms: FalseAlarmConfig = Field(default_factory=FalseAlarmConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    policies: list[PolicyConfig] = Field(default_factory=list)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    #: slices of the traffic whose errors are judged apart (:mod:`.segments`)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    fairness: FairnessConfig | None = None
    #: where the roles keep local state (checkpoints, registry)
    state_dir: str = "driftline-state"

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> DriftlineConfig:
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = cross_check(self)
        if problems:
            raise ValueError("; ".join(f"{dotted_key(path)}: {msg}" for path, msg in problems))
        return self


def stream_schema(cfg: DriftlineConfig) -> StreamSchema:
    """The stream's shape as the event parser (:mod:`driftline.stream.events`) takes it."""
    s = cfg.stream
    return StreamSchema(
        name=s.name,
        features=s.feature_types(),
        id_field=s.id_field,
        timestamp_field=s.timestamp_field,
        label_field=s.label.field if s.label else None,
        label_type=s.label.type if s.label else None,
        prediction_field=s.prediction.field if s.prediction else None,
        prediction_type=s.prediction.type if s.prediction else None,
        score_fields=s.prediction.score_fields if s.prediction else (),
        max_event_bytes=s.max_event_bytes,
        id_source=s.id_source,
        timestamp_source=s.timestamp_source,
        timestamp_unit=s.timestamp_unit,
        features_path=s.features_path,
        feature_paths=s.feature_paths(),
        format=s.format,
        avro=avro_decoder(s.avro) if s.format == "avro" and s.avro is not None else None,
        json_schema=json_schema_decoder(s.json_schema) if s.format == "json_schema" and s.json_schema else None,
        protobuf=ProtobufDecoder(_registry(s.protobuf.registry), dict(s.protobuf.schemas))
        if s.format == "protobuf" and s.protobuf else None,
    )


def _registry(registry: RegistryConfig | None) -> SchemaRegistry | None:
    if registry is None:
        return None
    return SchemaRegistry(registry.url, registry.username, registry.password, registry.timeout_seconds)


def avro_decoder(avro: AvroConfig) -> AvroDecoder:
    """The Avro decoder a configuration's ``stream.avro`` describes."""
    return AvroDecoder(registry=_registry(avro.registry), schema_files=dict(avro.schemas),
                       reader_schema=avro.reader_schema)


def json_schema_decoder(config: JsonSchemaConfig) -> JsonSchemaDecoder:
    """The JSON Schema decoder a configuration's ``stream.json_schema`` describes."""
    return JsonSchemaDecoder(registry=_registry(config.registry), schema_files=dict(config.schemas))


def _schema_files(stream: StreamConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """The local Avro, JSON Schema and Protobuf files can be read and are valid schemas."""
    files: list[tuple[tuple[str | int, ...], str, Any]] = []
    if stream.avro is not None:
        files += [(("stream", "avro", "schemas", k), v, load_avsc) for k, v in stream.avro.schemas.items()]
        if stream.avro.reader_schema:
            files.append((("stream", "avro", "reader_schema"), stream.avro.reader_schema, load_avsc))
    if stream.json_schema is not None:
        files += [(("stream", "json_schema", "schemas", k), v, load_schema_file)
                  for k, v in stream.json_schema.schemas.items()]
    if stream.protobuf is not None:
        files += [(("stream", "protobuf", "schemas", k), v, load_proto) for k, v in stream.protobuf.schemas.items()]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, path, load in files:
        try:
            load(path)
        except SchemaUnavailable as exc:
            problems.append((key, str(exc)))
    return problems


def group_id(cfg: DriftlineConfig, role: str) -> str:
    """The consumer group of ``role`` for the configured stream: ``<prefix>-<stream>-<role>``."""
    return f"{cfg.kafka.group_prefix}-{cfg.stream.name}-{role}"


def cross_check(cfg: DriftlineConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems that involve more than one key and no detector's code: duplicate detector
    names, policies naming undeclared features. The checks against the detectors themselves
    (methods, options, features by type) are :mod:`driftline.consumers.core.checks`'."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(cfg.detectors, list) and not cfg.detectors:
        problems.append((("detectors",), "an empty list runs no detector at all: list at least one, or use auto"))
    drift, warning = cfg.false_alarms.drift, cfg.false_alarms.warning
    if warning is not None and warning < drift:
        problems.append((("false_alarms", "warning"),
                         f"the warning budget ({warning:g} per event) is stricter than the drift budget "
                         f"({drift:g} per event): a warning must come before a drift, so allow it more false "
                         "alarms (or set warning: null)"))
    problems += field_clashes(cfg.stream)
    problems += _schema_files(cfg.stream)
    problems += score_problems(cfg.stream)
    problems += segment_problems(cfg)
    unknown = sorted(set(cfg.kafka.client) - kafka_client_keys()) if cfg.kafka.client else []
    if unknown:
        problems.append((("kafka", "client"), f"unknown kafka-python setting(s) {', '.join(map(repr, unknown))}: "
                                              "the keys of KafkaConsumer, KafkaProducer or KafkaAdminClient"))
    if isinstance(cfg.detectors, list):
        seen: set[str] = set()
        for i, det in enumerate(cfg.detectors):
            if det.name in seen:
                problems.append((("detectors", i, "name"), f"detector name {det.name!r} is used twice"))
            seen.add(det.name)
    for i, policy in enumerate(cfg.policies):
        if policy.when.feature and policy.when.feature not in cfg.stream.features:
            problems.append(
                (("policies", i, "when", "feature"), f"{policy.when.feature!r} is not a declared feature")
            )
    return problems


#: kafka-python's clients: (module, class) of each whose ``DEFAULT_CONFIG`` lists its keys
_KAFKA_CLIENTS = (("kafka.consumer.group", "KafkaConsumer"), ("kafka.producer.kafka", "KafkaProducer"),
                  ("kafka.admin.client", "KafkaAdminClient"))


def kafka_client_keys() -> set[str]:
    """Every key some kafka-python client accepts: read from kafka-python's source when it is
    plain (importing kafka-python costs ``validate`` a fifth of a second), else imported."""
    keys: set[str] = set()
    for module_name, class_name in _KAFKA_CLIENTS:
        found = class_dict_keys(module_name, class_name, "DEFAULT_CONFIG")
        if found is None:
            from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

            return set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaProducer.DEFAULT_CONFIG) | set(
                KafkaAdminClient.DEFAULT_CONFIG)
        keys |= found
    return keys


def dotted_key(path: tuple[str | int, ...]) -> str:
    """``("detectors", 0, "method")`` -> ``detectors[0].method``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_class(dotted: str) -> None:
    """ValueError unless ``dotted`` names a class: read from the module's source when it says
    so (River is not imported to validate a configuration), otherwise by importing it."""
    module_name, _, attr = dotted.rpartition(".")
    if module_name and defines(module_name, attr):
        return
    resolve_class(dotted)


def resolve_class(dotted: str) -> type:
    """Import ``package.module.Class``; ValueError saying what is missing otherwise."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"{dotted!r} is not a dotted path like river.linear_model.LogisticRegression")
    obj = import_attribute(module_name, attr)
    if obj is None or not inspect.isclass(obj):
        raise ValueError(f"{module_name!r} has no class {attr!r}")
    return obj
