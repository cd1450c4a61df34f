"""The actions role: reads ``drift-alerts`` and applies the configured policies.

Each action is taken once per alert id (a redelivered alert is recognised and skipped) and
written to ``driftline-actions`` as an audit record naming the alert, the rule and the outcome.
``quarantine`` is enforced by the learner (it holds the events from the alert's position on);
``rollback`` and ``retrain`` are recorded as ``not_implemented`` placeholders for now.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from kafka import TopicPartition

from driftline.consumers.policies import actions_for
from driftline.consumers.service import Role
from driftline.stream.events import Reject
from driftline.stream.messages import ActionRecord, Alert, action_id

#: alert ids remembered for de-duplication
SEEN_LIMIT = 100_000


class ActionsRole(Role):
    name = "actions"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def topics(self) -> list[str]:
        return [self.cfg.topics.alerts]

    def handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        for tp, msgs in records.items():
            for m in msgs:
                try:
                    alert = Alert.from_json(m.value)
                except ValueError as exc:
                    self.outbox.dead_letter(tp.topic, Reject(tp.partition, m.offset, m.value, f"not an alert: {exc}"))
                    continue
                if alert.stream == self.cfg.stream.name and alert.alert_id not in self._seen:
                    self._remember(alert.alert_id)
                    for record in decide(self.cfg.policies, alert):
                        self.outbox.action(record)
            self.stats.consumed += len(msgs)
        self.commit(records)

    def _remember(self, alert_id: str) -> None:
        self._seen[alert_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)


def decide(policies: Any, alert: Alert) -> list[ActionRecord]:
    """The audit records of the actions the policies call for on ``alert``."""
    out = []
    now = int(time.time() * 1000)
    for action, rule in actions_for(policies, alert):
        if action == "quarantine":
            status, scope = "started", {
                "partition": alert.position.partition,
                "from_offset": alert.position.offset,
            }
            detail = (
                f"events of partition {alert.position.partition} from offset {alert.position.offset} on "
                "are held back from training (copied to the quarantine topic) until released"
            )
        else:
            status, scope = "not_implemented", {}
            detail = f"{action} is a placeholder in this version: recorded, not carried out"
        out.append(
            ActionRecord(
                action_id=action_id(alert.alert_id, action),
                action=action,  # type: ignore[arg-type]
                stream=alert.stream,
                alert_id=alert.alert_id,
                rule=rule,
                status=status,  # type: ignore[arg-type]
                scope=scope,
                detail=detail,
                ts=now,
            )
        )
    return out
