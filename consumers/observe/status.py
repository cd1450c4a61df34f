"""``driftline status CONFIG``: a terminal view of the running system, from its topics.

Each role's lag and events/s come from its latest snapshots on the stats topic (so every
instance, on any machine, shows up); quarantines from the action records; the last alerts
from the alerts topic; the champion model's version and held-out metric from the actions role's
snapshot (it reads the registry), the online learner's rolling metric from the learner's.
``--watch`` redraws it every few seconds until Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import IO, Any

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.observe.topicreads import (
    TopicReader,
    actions_since,
    alerts_since,
    snapshots,
)
from driftline.stream import clock
from driftline.stream.quarantines import fold_quarantines

#: snapshots older than this mark an instance as gone
STALE_SECONDS = 120
LAST_ALERTS = 8


def gather(cfg: DriftlineConfig, bootstrap: str, now_ms: int | None = None) -> dict[str, Any]:
    """Everything the view shows, as plain data (the tests read it)."""
    now = now_ms if now_ms is not None else clock.now_ms()
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
    open_q = fold_quarantines(actions).active  # ended by release or purge, of one or of all
    learner = _latest(roles, "learner")
    judge = _latest(roles, "judge")
    actions_role = _latest(roles, "actions")
    extra = actions_role["extra"] if actions_role else {}
    return {"roles": roles, "quarantines": list(open_q.values()), "alerts": alerts,
            "champion": extra.get("champion_version"), "champion_metric": extra.get("champion_metric"),
            "champion_metric_value": extra.get("champion_metric_value"),
            "metric": (learner["extra"] if learner else {}).get("metric"),
            "performance": _performance(judge["extra"] if judge else {})}


def _performance(extra: dict[str, Any]) -> dict[str, Any]:
    """The judge's latest estimated and realised metrics (its ``estimated_<m>``, ``realised_<m>``)."""
    out: dict[str, Any] = {"metric": extra.get("performance_metric"), "off": extra.get("performance_off")}
    for part in ("estimated", "realised", "estimation_error"):
        out[part] = {k[len(part) + 1:]: v for k, v in extra.items()
                     if k.startswith(f"{part}_") and k != f"{part}_window" and isinstance(v, (int, float))}
        # the error is the realised window's: its labelled events, estimated and realised
        out[f"{part}_window"] = extra.get("realised_window" if part == "estimation_error" else f"{part}_window")
    return out


def _latest(roles: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The freshest live instance of role ``name``, if any."""
    live = [r for r in roles if r["role"] == name and r["age"] < STALE_SECONDS]
    return min(live, key=lambda r: r["age"]) if live else None


def render(cfg: DriftlineConfig, view: dict[str, Any]) -> str:
    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    lines = [f"driftline status: stream {cfg.stream.name!r}   {when(clock.now_ms())} UTC", ""]
    lines.append(f"{'role':<9} {'instance':<32} {'lag':>9} {'events/s':>10} {'consumed':>11}  last seen")
    for r in view["roles"]:
        gone = "  (gone?)" if r["age"] > STALE_SECONDS else ""
        lines.append(f"{r['role']:<9} {r['instance'][-32:]:<32} {r['lag']:>9,} {r['rate']:>10,.0f} "
                     f"{r['consumed']:>11,}  {r['age']:.0f} s ago{gone}")
    if not view["roles"]:
        lines.append(f"  no snapshots on {cfg.stats.topic!r} in the last 15 minutes: are the roles running?")
    lines += ["", f"champion model: {_champion(view)}   online learner's rolling metric: {_number(view['metric'])}"]
    lines += [*_performance_lines(view.get("performance") or {}), ""]
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


def _performance_lines(perf: dict[str, Any]) -> list[str]:
    """``deployed model, estimated (window 41): accuracy 0.812 ...`` and the realised line."""
    if not perf.get("metric"):
        return []
    if perf.get("off"):
        return [f"deployed model's performance: not estimated ({perf['off']})"]
    lines = []
    for part, what in (("estimated", "estimated without labels"), ("realised", "realised"),
                       ("estimation_error", "estimation error")):
        values = perf.get(part) or {}
        if values:
            shown = "  ".join(f"{k} {_number(v)}" for k, v in values.items())
            lines.append(f"deployed model, {what} (window {perf.get(f'{part}_window')}): {shown}")
    return lines or [f"deployed model's {perf['metric']}: no window closed yet"]


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _champion(view: dict[str, Any]) -> str:
    """``v3 (held-out accuracy 0.874)``; the actions role's latest snapshot says which."""
    if view["champion"] is None:
        return "none registered (or no actions role running)"
    name = view.get("champion_metric")
    return f"v{view['champion']}" + (f" (held-out {name} {_number(view.get('champion_metric_value'))})" if name else "")


def show_status(cfg: DriftlineConfig, bootstrap: str, watch: float | None = None, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
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
