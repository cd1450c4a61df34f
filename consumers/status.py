"""``driftline status CONFIG``: a terminal view of the running system, from its topics.

Each role's lag and events/s come from its latest snapshots on the stats topic (so every
instance, on any machine, shows up); quarantines from the action records; the last alerts
from the alerts topic; the champion model's version and metric from the learner's snapshot.
``--watch`` redraws it every few seconds until Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import IO, Any

from driftline.consumers.config import DriftlineConfig
from driftline.consumers.report_live import TopicReader, actions_since, alerts_since, snapshots

#: snapshots older than this mark an instance as gone
STALE_SECONDS = 120
LAST_ALERTS = 8


def gather(cfg: DriftlineConfig, bootstrap: str, now_ms: int | None = None) -> dict[str, Any]:
    """Everything the view shows, as plain data (the tests read it)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    with TopicReader(bootstrap, cfg.kafka.client) as reader:
        docs = snapshots(reader, cfg, now - 15 * 60 * 1000)
        alerts = alerts_since(reader, cfg, 0, last=LAST_ALERTS)[-LAST_ALERTS:]
        actions = actions_since(reader, cfg, 0)
    by_instance: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for doc in docs:
        by_instance.setdefault((doc["role"], str(doc.get("instance"))), []).append(doc)
    roles = []
    for (role, instance), seq in sorted(by_instance.items()):
        last = seq[-1]
        rate = last.get("rate", 0.0)
        if len(seq) > 1 and last["ts"] > seq[-2]["ts"]:
            rate = (last["counters"]["consumed"] - seq[-2]["counters"]["consumed"]) / ((last["ts"] - seq[-2]["ts"]) / 1000)
        roles.append({"role": role, "instance": instance, "lag": sum((last.get("lag") or {}).values()),
                      "rate": max(0.0, rate), "consumed": last["counters"]["consumed"],
                      "age": (now - last["ts"]) / 1000, "extra": last.get("extra") or {}})
    open_q: dict[str, Any] = {}
    for record in actions:
        if record.action == "quarantine" and record.status == "started" and record.alert_id:
            open_q[record.alert_id] = record
        elif record.action == "release" and record.alert_id:
            open_q.pop(record.alert_id, None)
    learner = next((r for r in reversed(roles) if r["role"] == "learner" and r["age"] < STALE_SECONDS), None)
    extra = learner["extra"] if learner else {}
    return {"roles": roles, "quarantines": list(open_q.values()), "alerts": alerts,
            "champion": extra.get("champion_version"), "metric": extra.get("metric")}


def render(cfg: DriftlineConfig, view: dict[str, Any]) -> str:
    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    lines = [f"driftline status: stream {cfg.stream.name!r}   {when(int(time.time() * 1000))} UTC", ""]
    lines.append(f"{'role':<9} {'instance':<32} {'lag':>9} {'events/s':>10} {'consumed':>11}  last seen")
    for r in view["roles"]:
        gone = "  (gone?)" if r["age"] > STALE_SECONDS else ""
        lines.append(f"{r['role']:<9} {r['instance'][-32:]:<32} {r['lag']:>9,} {r['rate']:>10,.0f} "
                     f"{r['consumed']:>11,}  {r['age']:.0f} s ago{gone}")
    if not view["roles"]:
        lines.append(f"  no snapshots on {cfg.stats.topic!r} in the last 15 minutes: are the roles running?")
    metric = view["metric"]
    lines += ["", f"champion model: {view['champion'] if view['champion'] is not None else '(online learner)'}"
                  f"   rolling metric: {'n/a' if metric is None else f'{metric:.3f}'}", ""]
    lines.append(f"active quarantines: {len(view['quarantines'])}")
    for q in view["quarantines"]:
        lines.append(f"  {q.alert_id[:12]}  partition {q.scope.get('partition')} from offset "
                     f"{q.scope.get('from_offset')}  since {when(q.ts)}")
    lines += ["", "last alerts:"]
    for a in reversed(view["alerts"]):
        lines.append(f"  {when(a.detected_at)}  {a.severity:<7} {a.kind:<16} {a.feature or '-':<12} "
                     f"{a.detector:<16} p{a.position.partition}@{a.position.offset}")
    if not view["alerts"]:
        lines.append("  none")
    return "\n".join(lines)


def show_status(cfg: DriftlineConfig, bootstrap: str, watch: float | None = None, out: IO[str] = sys.stdout) -> int:
    while True:
        text = render(cfg, gather(cfg, bootstrap))
        if watch is None:
            print(text, file=out)
            return 0
        print("\033[2J\033[H" + text, file=out, flush=True)  # clear the screen, then draw
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return 0
