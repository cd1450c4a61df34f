"""``driftline quarantine list|release|purge``: review quarantines through ``driftline-actions``.

Quarantines are selected by alert id, or by the time they started (``--since``/``--until``,
epoch ms or ISO-8601), or all. ``release`` lets their events be used again: the learner replays
the held events in their original order and retraining may use them; ``purge`` ends them and
marks the events held so far as never to be used. Each is one audit record per quarantine,
naming the partition, the offset range it covers and the condition that ended it
(``--reason command``, the default, or ``--reason rebaseline``: the data since the drift is
accepted as the new normal, so its held events are released to learning and retraining).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.checks import load_config
from driftline.consumers.errors import InputError
from driftline.consumers.topics import for_reading, held_events, read_actions, reading, require_topic
from driftline.stream.clock import now_ms
from driftline.stream.kafka.clients import make_producer
from driftline.stream.messages import ActionRecord
from driftline.stream.quarantines import fold_quarantines


def cmd_quarantine(args: argparse.Namespace) -> int:
    cfg = for_reading(load_config(args.config))
    parse_time(args.since), parse_time(args.until)  # a wrong argument is said before anything is touched
    if args.op == "list":
        return list_quarantines(cfg)
    return end(cfg, args.op, args.alert, args.since, args.until, condition=args.reason)


def held_offsets(cfg: DriftlineConfig, bootstrap: str) -> dict[str, list[int]]:
    """Source offsets of the events each quarantine (by alert id) has held so far."""
    return {alert_id: [m.offset for m in held] for alert_id, held in held_events(cfg, bootstrap).items()}


def parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise InputError(f"{value!r} is not a time", hint="give epoch milliseconds or ISO-8601 "
                                                          "(2026-01-31T12:00:00Z)") from None


def select(active: dict[str, ActionRecord], alert_id: str | None, since: int | None, until: int | None) -> list[ActionRecord]:
    if alert_id is not None:
        return [active[alert_id]] if alert_id in active else []
    return [r for r in active.values() if (since is None or r.ts >= since) and (until is None or r.ts <= until)]


def list_quarantines(cfg: DriftlineConfig) -> int:
    with reading(cfg) as bootstrap:
        active = fold_quarantines(read_actions(cfg, bootstrap)).active
        held = held_offsets(cfg, bootstrap)
    if not active:
        print("no active quarantine")
    for alert_id, r in active.items():
        n = len(held.get(alert_id, []))
        print(f"{alert_id}  partition {r.scope.get('partition')} from offset {r.scope.get('from_offset')}  "
              f"{n} events held  started {r.ts}  {r.detail}")
    return 0


#: why a quarantine is ended from the command line: the record's ``scope.condition``, and its words
CONDITIONS = {
    "command": "by command",
    "rebaseline": "on rebaseline (the data since the drift accepted as the new normal)",
}


def end(cfg: DriftlineConfig, op: str, alert_id: str | None, since: str | None = None, until: str | None = None,
        why: str | None = None, condition: str = "command") -> int:
    """Release or purge the selected quarantines; one audit record each.

    ``condition`` is what ended them, recorded as ``scope.condition``: ``command`` (an
    operator's decision) or ``rebaseline`` (the drifted data accepted as the new normal);
    the quiet-detector end is the actions role's, recorded as ``quiet``.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}: use one of {', '.join(CONDITIONS)}")
    why = why or CONDITIONS[condition]
    with reading(cfg) as bootstrap:
        require_topic(cfg, bootstrap, cfg.topics.actions)
        active = fold_quarantines(read_actions(cfg, bootstrap)).active
        chosen = select(active, alert_id, parse_time(since), parse_time(until))
        if not chosen:
            print("no active quarantine matches" + (f" alert {alert_id}" if alert_id else ""))
            return 1
        held = held_offsets(cfg, bootstrap)
        producer = make_producer(bootstrap, client=cfg.kafka.client)
        try:
            for q in chosen:
                record = end_record(cfg, op, q, held.get(q.alert_id or "", []), why, condition)
                producer.send(cfg.topics.actions, record.to_json(), key=cfg.stream.name.encode()).get(timeout=30)
                print(f"{record.status} {q.alert_id}: {record.detail}")
        finally:
            producer.close()
    return 0


def end_record(cfg: DriftlineConfig, op: str, q: ActionRecord, held: list[int], why: str,
               condition: str = "command") -> ActionRecord:
    now = now_ms()
    scope: dict[str, Any] = {"partition": q.scope.get("partition"), "from_offset": q.scope.get("from_offset"),
                             "to_offset": max(held) if held else None, "events": len(held), "condition": condition}
    if op == "release":
        status, detail = "released", f"{len(held)} held events released {why}: replayed to the learner in order, usable for retraining"
    else:
        status, detail = "purged", f"{len(held)} held events purged {why}: never to be used for training"
    return ActionRecord.new(op, cfg.stream.name, status, alert_id=q.alert_id, scope=scope, detail=detail,
                            id_extra=str(now), ts=now)


def release(cfg: DriftlineConfig, alert_id: str | None) -> int:
    """Release one quarantine (or all); kept for callers of the first version."""
    return end(cfg, "release", alert_id)
