"""``driftline quarantine list|release``: review quarantines through ``driftline-actions``."""

from __future__ import annotations

import time

from driftline.consumers.config import DriftlineConfig
from driftline.consumers.runner import connected
from driftline.stream.kafka_io import make_producer, read_topic
from driftline.stream.messages import ActionRecord, action_id


def read_actions(cfg: DriftlineConfig, bootstrap: str) -> list[ActionRecord]:
    out = []
    for m in read_topic(bootstrap, cfg.topics.actions, client=cfg.kafka.client):
        try:
            record = ActionRecord.from_json(m.value)
        except ValueError:
            continue  # not an action record: nothing of ours
        if record.stream == cfg.stream.name:
            out.append(record)
    return out


def active_quarantines(records: list[ActionRecord]) -> dict[str, ActionRecord]:
    active: dict[str, ActionRecord] = {}
    for r in records:
        if r.action == "quarantine" and r.status == "started" and r.alert_id:
            active[r.alert_id] = r
        elif r.action == "release":
            if r.alert_id is None:
                active.clear()
            else:
                active.pop(r.alert_id, None)
    return active


def list_quarantines(cfg: DriftlineConfig) -> int:
    with connected(cfg) as bootstrap:
        active = active_quarantines(read_actions(cfg, bootstrap))
    if not active:
        print("no active quarantine")
    for alert_id, r in active.items():
        print(f"{alert_id}  partition {r.scope.get('partition')} from offset {r.scope.get('from_offset')}  {r.detail}")
    return 0


def release(cfg: DriftlineConfig, alert_id: str | None) -> int:
    with connected(cfg) as bootstrap:
        active = active_quarantines(read_actions(cfg, bootstrap))
        if alert_id is not None and alert_id not in active:
            print(f"no active quarantine for alert {alert_id}")
            return 1
        now = int(time.time() * 1000)
        record = ActionRecord(
            action_id=action_id(alert_id, "release", str(now)), action="release", stream=cfg.stream.name,
            alert_id=alert_id, status="released", detail="released by command", ts=now,
        )
        producer = make_producer(bootstrap, client=cfg.kafka.client)
        producer.send(cfg.topics.actions, record.to_json(), key=cfg.stream.name.encode()).get(timeout=30)
        producer.close()
    print(f"released {'all quarantines' if alert_id is None else alert_id}")
    return 0
