"""Retraining the batch model in the background, behind a champion/challenger gate.

One :class:`RetrainWorker` thread per stream runs the jobs one at a time while the consumers
go on consuming: first the deploy of the initial champion (trained on the reference, or a
model file) when the registry has none, then each retrain. A retrain reads the labelled events
of its window back from ``events`` (labels joined from ``labels``), leaves out every event a
quarantine holds or a purge removed, holds out the most recent share, trains a challenger,
scores challenger and champion on the same held-out events, and promotes the challenger only
if it wins by ``models.retrain.margin``. Both outcomes are audited with the numbers.

Requests are debounced: while one is queued or running, or within ``debounce_seconds`` of the
last one, a request is recorded as ``skipped`` (one drift storm, one retrain).
"""

from __future__ import annotations

import inspect
import logging
import pickle
import queue
import threading
from dataclasses import dataclass
from typing import Any

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.modelops.operations import (
    CHALLENGER,
    CHAMPION,
    ModelActions,
    config_hash,
)
from driftline.consumers.modelops.training_data import TrainingData
from driftline.learners import dataset
from driftline.learners.batch import evaluate
from driftline.learners.imports import resolve_trainer
from driftline.learners.registry import sha256
from driftline.stream.clock import now_ms
from driftline.stream.messages import ActionRecord, Alert

log = logging.getLogger("driftline")


@dataclass(frozen=True)
class Job:
    kind: str  # "deploy" | "retrain"
    key: str  # alert id, or "schedule:<ms>" / "command:<ms>"
    alert: Alert | None = None
    rule: int | None = None
    window: int | None = None


class RetrainWorker:
    """The background thread that runs deploy and retrain jobs, one at a time."""

    def __init__(self, cfg: DriftlineConfig, bootstrap: str, ops: ModelActions):
        self.cfg, self.bootstrap, self.ops = cfg, bootstrap, ops
        self.data = TrainingData(cfg, bootstrap)
        self._queue: queue.Queue[Job] = queue.Queue()
        self._stop = threading.Event()
        self._busy: Job | None = None
        self._lock = threading.Lock()
        self.last_request_ms: int | None = None
        self.finished: list[ActionRecord] = []
        #: called when idle (about 5 times a second): the actions role's quarantine end checks
        self.tick: Any = None
        self._thread = threading.Thread(target=self._loop, name=f"driftline-retrain-{cfg.stream.name}", daemon=True)

    def start(self) -> RetrainWorker:
        self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def idle(self) -> bool:
        return self._busy is None and self._queue.empty()

    def submit(self, job: Job) -> None:
        with self._lock:
            self._submit(job)

    def _submit(self, job: Job) -> None:
        if job.kind == "retrain" and job.alert is not None:  # a schedule is no drift storm
            self.last_request_ms = now_ms()
        self._queue.put(job)

    def request(self, alert: Alert | None, rule: int | None, key: str, window: int | None = None) -> ActionRecord:
        """A retrain asked for by an alert or a schedule: ``started``, or ``skipped``.

        At most one retrain is queued or running per stream: a request while one is, is
        skipped. An alert's request is also skipped within ``debounce_seconds`` of the last
        alert's (one drift storm, one retrain); a schedule's is not debounced, and does not
        debounce the alerts that follow it.
        """
        with self._lock:  # checked and queued under one lock: two callers never both queue
            busy = self._busy if self._busy is not None and self._busy.kind == "retrain" else None
            queued = [j for j in list(self._queue.queue) if j.kind == "retrain"]
            since = None if self.last_request_ms is None else (now_ms() - self.last_request_ms) / 1000
            debounce = self.cfg.models.retrain.debounce_seconds
            if busy or queued:
                why = f"a retrain (for {(busy or queued[0]).key[:16]}) is already running or queued"
            elif alert is not None and since is not None and since < debounce:
                why = f"the last retrain was requested {since:.0f} s ago (debounce {debounce:.0f} s)"
            else:
                why = None
                self._submit(Job("retrain", key, alert, rule, window))
        alert_id = alert.alert_id if alert else None
        scope = {"source": "alert" if alert else key.split(":")[0]}
        if why is not None:
            status, detail = "skipped", f"debounced: {why}; one retrain at a time"
        else:
            status, detail = "started", "retrain queued: challenger trained and compared with the champion"
        return ActionRecord.new("retrain", self.cfg.stream.name, status, alert_id=alert_id, rule=rule, scope=scope,
                                detail=detail, id_extra="" if alert else key)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:  # taken and marked busy at once: request() never sees neither
                try:
                    job: Job | None = self._queue.get_nowait()
                except queue.Empty:
                    job = None
                self._busy = job
            if job is None:
                self._idle()
                self._stop.wait(0.2)
                continue
            try:
                record = self._run(job)
            except Exception as exc:  # a failed job is audited; the worker goes on
                if self._stop.is_set():  # the role's clients closed under it: not a failure of the job
                    log.warning("retrain job %s was cut short by the shutdown (%s); it is resumed at the next "
                                "start", job.key, exc)
                    self._busy = None
                    continue
                log.exception("retrain job %s failed", job.key)
                record = self._record(job, "failed", {}, f"{type(exc).__name__}: {exc}")
            try:
                if record is not None:
                    self.ops.audit(record)
                    self.finished.append(record)
            except Exception as exc:  # the broker gone: the request's record stays without outcome (resumed at start)
                if self._stop.is_set():
                    log.warning("retrain job %s finished during the shutdown; its outcome is not recorded (%s) and "
                                "the job is resumed at the next start", job.key, exc)
                else:
                    log.exception("retrain job %s: its outcome could not be recorded", job.key)
            finally:
                self._busy = None

    def _idle(self) -> None:
        if self.tick is None:
            return
        try:
            self.tick()
        except Exception as exc:  # noqa: BLE001 - logged; the checks run again on the next tick
            log.warning("retrain worker: the idle check failed: %r", exc)

    def _run(self, job: Job) -> ActionRecord | None:
        if job.kind == "deploy":
            self._deploy()
            return None
        return self._retrain(job)

    def _record(self, job: Job, status: str, scope: dict[str, Any], detail: str) -> ActionRecord:
        alert_id = job.alert.alert_id if job.alert else None
        return ActionRecord.new("retrain", self.cfg.stream.name, status, alert_id=alert_id, rule=job.rule,
                                scope=scope, detail=detail, id_extra="outcome" if job.alert else job.key)

    # -- the jobs --------------------------------------------------------------------------
    def _deploy(self) -> None:
        registry = self.ops.registry
        if registry.alias(CHAMPION) is not None:
            return
        batch = self.cfg.models.batch
        if batch.deployed:
            with open(batch.deployed, "rb") as f:
                artifact = f.read()
            digest = sha256(artifact)
            self.ops.deploy(artifact, {"kind": "file", "id": digest, "path": batch.deployed}, "deployed model file",
                            training_data=[{"file": batch.deployed, "sha256": digest}], trainer="(given)")
            return
        first_n = self.cfg.reference.first_n or 0
        data = self.data.reference(self._stop) if first_n else None
        if data is None or len(data) < 2:
            return
        train, hold = dataset.split_holdout(data, self.cfg.models.retrain.holdout)
        model = self.train(train)
        metrics = self.score(model, hold)
        topic = self.cfg.topics.events
        self.ops.deploy(pickle.dumps(model), {"kind": "reference", "id": "reference"}, "trained on the reference",
                        training_data=dataset.describe(train, topic), validated_on=dataset.describe(hold, topic),
                        metrics=metrics, trainer=self.cfg.models.batch.trainer)

    def _retrain(self, job: Job) -> ActionRecord:
        rc = self.cfg.models.retrain
        started = now_ms()
        window = job.window or rc.window
        data, left_out = self.data.window(job.alert, window, self._stop)
        train, hold = dataset.split_holdout(data, rc.holdout) if len(data) >= 2 else (data, data)
        scope: dict[str, Any] = {"source": "alert" if job.alert else job.key.split(":")[0], "started_ms": started,
                                 "train_rows": len(train), "holdout_rows": len(hold), "quarantined_left_out": left_out,
                                 "window": window, "margin": rc.margin}
        if len(train) < 10 or len(hold) < 5:
            return self._record(job, "failed", scope, f"too few labelled events to retrain ({len(data)} usable)")
        registry = self.ops.registry
        champion = registry.alias(CHAMPION)
        model = self.train(train)
        new_metrics = self.score(model, hold)
        old_metrics = self.score(registry.load(champion), hold) if champion is not None else {}
        topic = self.cfg.topics.events
        creator = {"kind": "alert", "id": job.alert.alert_id, "rule": job.rule} if job.alert \
            else {"kind": job.key.split(":")[0], "id": job.key}
        challenger = registry.register(
            pickle.dumps(model), parent=champion, training_data=dataset.describe(train, topic, left_out),
            validated_on=dataset.describe(hold, topic), metrics=new_metrics, created_by=creator,
            config_hash=config_hash(self.cfg), trainer=self.cfg.models.batch.trainer,
        )
        cause = {**creator, "action": "retrain"}
        registry.move_alias(CHALLENGER, challenger.version, reason="retrained", cause=cause)
        self.ops.publish("registered", challenger, alias=CHALLENGER, alert_id=creator.get("id") if job.alert else None,
                         reason="retrained challenger")
        new, old = new_metrics["score"], old_metrics.get("score")
        scope.update(challenger=challenger.version, champion=champion, challenger_metrics=new_metrics,
                     champion_metrics=old_metrics)
        alert_id = job.alert.alert_id if job.alert else None
        if old is None or new >= old + rc.margin:
            why = "no champion to beat" if old is None else \
                f"challenger v{challenger.version} scored {new:.4f} vs champion v{champion} {old:.4f} (+{new - old:.4f} >= margin {rc.margin})"
            move = registry.move_alias(CHAMPION, challenger.version, reason=f"promoted: {why}",
                                       cause={**creator, "action": "promote"})
            self.ops.publish("promoted", challenger, alias=CHAMPION, previous=move.previous, alert_id=alert_id, reason=why)
            return self._record(job, "promoted", scope, f"promoted: {why}")
        why = (f"challenger v{challenger.version} scored {new:.4f} vs champion v{champion} {old:.4f} "
               f"({new - old:+.4f} < margin {rc.margin}): champion kept")
        self.ops.publish("refused", challenger, alias=CHAMPION, previous=champion, alert_id=alert_id, reason=why)
        return self._record(job, "refused", scope, f"refused: {why}")

    def train(self, data: Any) -> Any:
        X, y = dataset.features_and_labels(data, list(self.cfg.stream.features))
        fn = resolve_trainer(self.cfg.models.batch.trainer)
        params = dict(self.cfg.models.batch.params)
        accepts = inspect.signature(fn).parameters
        if "target_type" in accepts and "target_type" not in params:
            params["target_type"] = self.cfg.stream.label.type if self.cfg.stream.label else "binary"
        model = fn(X, y, **params)
        if not hasattr(model, "predict"):
            raise TypeError(f"the trainer {self.cfg.models.batch.trainer} returned {type(model).__name__}, "
                            "which has no predict(X)")
        return model

    def score(self, model: Any, data: Any) -> dict[str, float]:
        X, y = dataset.features_and_labels(data, list(self.cfg.stream.features))
        return evaluate(model, X, y, self.cfg.stream.label.type if self.cfg.stream.label else "binary")
