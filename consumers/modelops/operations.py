"""The model side of the actions role: the registry, model-change events, rollback, deploy.

:class:`ModelActions` owns the stream's :class:`~driftline.learners.registry.Registry` and the
producer that writes model-change events (``driftline-models``) and the audit records the
background retrain job writes (``driftline-actions``). Every registry change it makes names its
cause (alert id and action), so repeating an action after a crash changes nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from driftline.consumers.config.model import DriftlineConfig
from driftline.learners.lineage import drift_start, healthy_target
from driftline.learners.registry import ModelVersion, Registry
from driftline.stream.clock import now_ms
from driftline.stream.messages import ActionRecord, Alert, ModelEvent, action_id

log = logging.getLogger("driftline")

CHAMPION, CHALLENGER = "champion", "challenger"


def registry_dir(cfg: DriftlineConfig) -> str:
    return cfg.models.registry or str(Path(cfg.state_dir) / "registry")


def open_registry(cfg: DriftlineConfig) -> Registry:
    return Registry.local(registry_dir(cfg), cfg.stream.name)


def config_hash(cfg: DriftlineConfig) -> str:
    """SHA-256 of what shapes a batch model: the trainer, its parameters, features and label."""
    relevant = {
        "batch": cfg.models.batch.model_dump(mode="json", exclude={"deployed"}),
        "features": cfg.stream.feature_types(),
        "label": cfg.stream.label.model_dump(mode="json") if cfg.stream.label else None,
    }
    return hashlib.sha256(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ModelActions:
    """Registry operations with their model-change events and audit records."""

    def __init__(self, cfg: DriftlineConfig, producer: Any, registry: Registry | None = None,
                 on_champion: Callable[[], None] | None = None, on_audit: Callable[[ActionRecord], None] | None = None):
        self.cfg = cfg
        self.producer = producer
        self.registry = registry or open_registry(cfg)
        #: called after every model-change event about ``champion`` (promoted, rolled back, refused)
        self.on_champion = on_champion
        #: called after each audit record this object wrote is acknowledged (the role counts them)
        self.on_audit = on_audit

    # -- outputs, each acknowledged before the call returns --------------------------------
    def publish(self, event: str, version: ModelVersion, *, alias: str | None = None, previous: int | None = None,
                alert_id: str | None = None, reason: str = "", metrics: dict[str, float] | None = None) -> ModelEvent:
        cause = f"{alias}:{previous}:{alert_id}:{reason}"
        message = ModelEvent(
            event_id=action_id(alert_id, f"model-{event}", f"{self.cfg.stream.name}:{version.version}:{cause}"),
            stream=self.cfg.stream.name, event=event,  # type: ignore[arg-type]
            version=version.version, alias=alias, previous=previous, alert_id=alert_id, reason=reason,
            artifact_sha256=version.artifact_sha256, metrics=dict(metrics or version.metrics), ts=now_ms(),
        )
        self.producer.send(self.cfg.topics.models, message.to_json(), key=self.cfg.stream.name.encode(),
                           headers=[("content-type", b"application/json")]).get(timeout=60)
        if alias == CHAMPION and self.on_champion is not None:
            self.on_champion()
        return message

    def champion(self) -> tuple[int | None, dict[str, float]]:
        """The registry's champion version now, and the held-out metrics it was registered with."""
        version = self.registry.alias(CHAMPION)
        return version, ({} if version is None else dict(self.registry.get(version).metrics))

    def audit(self, record: ActionRecord) -> None:
        self.producer.send(self.cfg.topics.actions, record.to_json(), key=record.stream.encode()).get(timeout=60)
        if self.on_audit is not None:
            self.on_audit(record)

    # -- rollback --------------------------------------------------------------------------
    def rollback(self, alert: Alert, rule: int | None) -> ActionRecord:
        """Move ``champion`` back to the last version healthy before the drift began."""
        events = self.cfg.topics.events
        p = alert.position.partition
        start = drift_start(alert.kind, alert.position.offset, alert.window.current_n, self.cfg.models.concept_lookback)
        champion = self.registry.alias(CHAMPION)
        scope: dict[str, Any] = {"partition": p, "drift_from_offset": start, "champion_before": champion}
        online = "the online learner rolls back on its own, at the alert's step in its learning order"
        target = healthy_target(self.registry, events, p, start)
        storm = self._storm()
        if storm is not None:  # the champion stays (the online learner has its own storm rule)
            scope = {"partition": p, "champion_before": champion}
            status, detail = "skipped", (f"champion v{champion} was set {storm} (within debounce): the same drift "
                                         "storm, no second rollback")
        elif champion is None:
            status, detail = "skipped", f"no batch model is registered yet; {online}"
        elif target is None:
            status, detail = "skipped", (f"no version that was champion was trained before offset {start} "
                                         f"(every one saw the drift): champion v{champion} kept; {online}")
        elif target.version == champion:
            status, detail = "done", f"champion v{champion} was trained before the drift began: kept; {online}"
        else:
            cause = {"kind": "alert", "id": alert.alert_id, "action": "rollback", "rule": rule}
            move = self.registry.move_alias(
                CHAMPION, target.version, cause=cause,
                reason=f"rollback: {alert.kind} by {alert.detector} began about offset {start} of partition {p}",
            )
            self.publish("rolled_back", target, alias=CHAMPION, previous=move.previous, alert_id=alert.alert_id,
                         reason=move.reason)
            status, detail = "done", (f"champion moved back from v{move.previous} to v{target.version}, the last "
                                      f"champion trained before offset {start}; {online}")
        scope["champion_after"] = self.registry.alias(CHAMPION)
        return ActionRecord.new("rollback", alert.stream, status, alert_id=alert.alert_id, rule=rule, scope=scope,
                                detail=detail)

    def _storm(self) -> str | None:
        """How the champion was last moved for an alert, if that was within the debounce time."""
        moves = [m for m in self.registry.history(CHAMPION) if m.cause.get("kind") == "alert"]
        if not moves:
            return None
        ago = (now_ms() - moves[-1].at) / 1000
        if ago >= self.cfg.models.retrain.debounce_seconds:
            return None
        return f"by {moves[-1].cause.get('action')} for alert {str(moves[-1].cause.get('id'))[:12]} {ago:.0f} s ago"

    # -- deploy: the first champion --------------------------------------------------------
    def deploy(self, artifact: bytes, cause: dict[str, Any], reason: str, **lineage: Any) -> ModelVersion:
        """Register ``artifact`` and make it champion (both idempotent per ``cause``)."""
        version = self.registry.register(artifact, created_by=cause, config_hash=config_hash(self.cfg), **lineage)
        self.publish("registered", version, reason=reason)
        if self.registry.alias(CHAMPION) is None:
            move = self.registry.move_alias(CHAMPION, version.version, reason=reason, cause={**cause, "action": "deploy"})
            self.publish("promoted", version, alias=CHAMPION, previous=move.previous, reason=reason)
        return version
