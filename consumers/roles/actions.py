"""The actions role: reads ``drift-alerts`` and applies the configured policies.

Each action is taken once per alert id and written to ``driftline-actions`` as an audit record
naming the alert, the rule that matched, what was done and the outcome. The set of handled
alert ids is rebuilt from ``driftline-actions`` at start, so a redelivered alert, even after a
restart, acts no second time.

- ``quarantine`` is enforced by the learner (it holds the events from the alert's position
  on); this role records it, and ``driftline quarantine release|purge`` ends it (or the
  learner, once the detector has been quiet for ``models.quarantine_quiet_events``).
- ``rollback`` moves the registry's ``champion`` back to the last version that was healthy
  before the drift began, writes a model-change event to ``driftline-models``, and the online
  learner restores its snapshot from before the drift (it reads the record).
- ``retrain`` queues a job on the background :class:`~driftline.consumers.modelops.retrain.RetrainWorker`
  (debounced); its outcome, promoted or refused with the numbers, is a second record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from contextlib import ExitStack
from typing import Any

from kafka import TopicPartition

from driftline.consumers.core.policies import actions_for
from driftline.consumers.modelops.operations import ModelActions
from driftline.consumers.modelops.retrain import Job, RetrainWorker
from driftline.consumers.roles.loop import Role
from driftline.consumers.topics import read_actions
from driftline.stream.clock import now_ms
from driftline.stream.events import Reject
from driftline.stream.messages import ActionRecord, Alert

log = logging.getLogger("driftline")

#: alert ids remembered for de-duplication
SEEN_LIMIT = 100_000
#: statuses that end a retrain
RETRAIN_DONE = ("promoted", "refused", "failed")
#: how often the idle worker re-reads the registry's champion (another process may move it)
CHAMPION_REFRESH_SECONDS = 2.0


class ActionsRole(Role):
    name = "actions"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.worker: RetrainWorker | None = None
        self._champion_checked = 0.0
        self._count_lock = threading.Lock()

    def topics(self) -> list[str]:
        return [self.cfg.topics.alerts]

    def open(self, stack: ExitStack) -> None:
        self.ops = ModelActions(self.cfg, self.outbox.producer, on_champion=self._note_champion, on_audit=self._counted)
        self._note_champion()
        worker = RetrainWorker(self.cfg, self.bootstrap_servers, self.ops)
        for job in self._rebuild(worker):
            worker.submit(job)
        if self.cfg.stream.label is not None:
            worker.submit(Job("deploy", "deploy"))
        worker.tick = self._tick
        self.worker = worker.start()
        stack.callback(worker.close)
        schedule = self.cfg.models.retrain.schedule
        if schedule is not None and self.cfg.stream.label is not None:
            self._start_schedule(stack, schedule)

    def _start_schedule(self, stack: ExitStack, schedule: Any) -> None:
        """Scheduled retrains (APScheduler); stopped, a running trigger waited for, before the worker."""
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(daemon=True, executors={"default": {"type": "threadpool", "max_workers": 1}})
        if schedule.cron:
            from apscheduler.triggers.cron import CronTrigger

            trigger: Any = CronTrigger.from_crontab(schedule.cron)
        else:
            from apscheduler.triggers.interval import IntervalTrigger

            trigger = IntervalTrigger(seconds=schedule.interval_seconds)
        scheduler.add_job(self._scheduled, trigger, max_instances=1, coalesce=True,
                          id=f"driftline-retrain-{self.cfg.stream.name}")
        scheduler.start()
        # the stack closes in reverse: the scheduler is shut down (and waited for) before the worker
        stack.callback(scheduler.shutdown, wait=True)

    def _rebuild(self, worker: RetrainWorker) -> list[Job]:
        """Handled alert ids, the last retrain request, and retrains started but never finished."""
        started: dict[str, ActionRecord] = {}
        finished: set[str] = set()
        records = read_actions(self.cfg, self.bootstrap_servers).records
        for r in records:
            if r.alert_id is None:
                continue
            self._remember(r.alert_id)
            if r.action == "retrain" and r.status == "started":
                started[r.alert_id] = r
                worker.last_request_ms = max(worker.last_request_ms or 0, r.ts)
            elif r.action == "retrain" and r.status in RETRAIN_DONE:
                finished.add(r.alert_id)  # the outcome may be written before the request's record
        jobs = []
        for alert_id, r in started.items():
            if alert_id not in finished and "alert" in r.scope:
                log.info("actions: resuming the unfinished retrain for alert %s", alert_id)
                jobs.append(Job("retrain", alert_id, Alert.model_validate(r.scope["alert"]), r.rule, r.scope.get("window")))
        return jobs

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        for tp, msgs in records.items():
            for m in msgs:
                try:
                    alert = Alert.from_json(m.value)
                except ValueError as exc:
                    self.outbox.dead_letter(tp.topic, Reject(tp.partition, m.offset, m.value, f"not an alert: {exc}"))
                    continue
                if alert.stream != self.cfg.stream.name:
                    continue
                if alert.alert_id in self._seen:
                    self.stats.reasons["redelivered alert: no second action"] += 1
                    continue
                self._remember(alert.alert_id)
                for record in self.act(alert):
                    self.outbox.action(record)
            self.stats.consumed += len(msgs)
        self.commit(records)

    def act(self, alert: Alert) -> list[ActionRecord]:
        """Carry out what the policies call for on ``alert``; the audit records."""
        out = []
        for action, rule in actions_for(self.cfg.policies, alert):
            try:
                if action == "quarantine":
                    out.append(quarantine_record(alert, rule))
                elif action == "rollback":
                    out.append(self.ops.rollback(alert, rule))
                elif action == "retrain":
                    assert self.worker is not None
                    window = self.cfg.policies[rule].window
                    record = self.worker.request(alert, rule, alert.alert_id, window)
                    scope = {**record.scope, "alert": alert.model_dump(mode="json"), "window": window}
                    out.append(record.model_copy(update={"scope": scope}))
            except Exception as exc:  # audited, never silent; the role goes on
                log.exception("actions: %s for alert %s failed", action, alert.alert_id)
                out.append(ActionRecord.new(action, alert.stream, "failed", alert_id=alert.alert_id, rule=rule,
                                            detail=f"{type(exc).__name__}: {exc}"))
        return out

    def _tick(self) -> None:
        """The retrain worker's idle hook: the champion refresh."""
        if time.monotonic() - self._champion_checked >= CHAMPION_REFRESH_SECONDS:
            self._note_champion()

    def _note_champion(self) -> None:
        """The registry's champion on the role's metrics and snapshots (``champion_*`` in ``stats.extra``).

        Called at start, after every model-change event about the champion, and every
        ``CHAMPION_REFRESH_SECONDS`` while the worker is idle (another process may move it).
        """
        self._champion_checked = time.monotonic()
        try:
            version, metrics = self.ops.champion()
        except Exception as exc:  # noqa: BLE001 - telemetry: a registry being written must not stop the role
            log.warning("actions: cannot read the champion from the registry: %r", exc)
            return
        name = next((k for k in metrics if k not in ("score", "n")), None)
        self.stats.extra.update(
            champion_version=version, champion_score=metrics.get("score"),
            champion_metric=name, champion_metric_value=metrics.get(name) if name else None,
        )

    def _scheduled(self) -> None:
        """A schedule's trigger (APScheduler's thread): a retrain, unless one is queued or running."""
        assert self.worker is not None
        key = f"schedule:{now_ms()}"
        record = self.worker.request(None, None, key)
        self.ops.audit(record)

    def _counted(self, record: ActionRecord) -> None:
        """Count a record written off the role's thread (retrain outcomes, schedule, quiet ends)."""
        with self._count_lock:
            self.stats.actions += 1
            self.stats.action_outcomes[(record.action, record.status)] += 1

    def _remember(self, alert_id: str) -> None:
        self._seen[alert_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)


def quarantine_record(alert: Alert, rule: int) -> ActionRecord:
    p, offset = alert.position.partition, alert.position.offset
    return ActionRecord.new(
        "quarantine", alert.stream, "started", alert_id=alert.alert_id, rule=rule,
        scope={"partition": p, "from_offset": offset, "from_ts": alert.position.ts, "detector": alert.detector},
        detail=(f"events of the stream from event time {alert.position.ts} on (the alert's event: partition {p}, "
                f"offset {offset}) are held back from training (copied to the quarantine topic) until released "
                "or purged"),
    )
