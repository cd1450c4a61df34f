"""``driftline demo``: the whole system on a private embedded broker, with known drifts.

Starts a broker, streams synthetic events (drifts injected at known points, a few malformed
messages, some labels arriving late on the labels topic), runs the monitor, learner and
actions roles, shows progress, and ends with what was detected, when, and what was done.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from driftline.consumers.cli.models import model_summary, wait_for_models
from driftline.consumers.cli.output import check_output
from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.errors import RoleFailed
from driftline.consumers.observe.report.live import live_report
from driftline.consumers.observe.report.page import write_report
from driftline.consumers.observe.telemetry import RoleTelemetry
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import read_actions, read_alerts, topic_partitions
from driftline.stream.checkpoint import STATE_KEY_ENV
from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.clients import make_producer
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.messages import ActionRecord, Alert
from driftline.stream.synthetic import FEATURES, Drift, default_drifts, generate

#: where the demo writes its HTML report unless told otherwise
DEFAULT_REPORT = Path(tempfile.gettempdir()) / "driftline-demo-report.html"
#: the most events the demo's reference takes (a fifth of them below that)
REFERENCE = 5000
MALFORMED = [b"{not json", b"\xff\xfe\x00", b'{"id": "bad-1", "ts": 1, "features": {"income": "high"}}']


def cmd_demo(args: argparse.Namespace) -> int:
    if args.report:
        check_output(args.report, "--report")
    run_demo(events=args.events, rate=args.rate, report=args.report or DEFAULT_REPORT)
    return 0


def demo_config(bootstrap: str = "embedded", reference: int = 5000) -> DriftlineConfig:
    return DriftlineConfig.model_validate(
        {
            # the embedded broker's group join waits about half the session: the roles consume within 2 s
            "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 3000, "poll_timeout_ms": 200},
            "stream": {
                "name": "demo",
                "features": FEATURES,
                "label": {"field": "label", "type": "binary"},
                "prediction": {"field": "prediction", "type": "binary"},
            },
            "reference": {"first_n": reference},
            "state_dir": tempfile.mkdtemp(prefix="driftline-demo-"),
            "models": {"quarantine_quiet_events": 6000, "retrain": {"window": 4000, "wait_seconds": 30,
                                                                  # the demo runs a day's stream in seconds
                                                                  "debounce_seconds": 3}},
            "stats": {"every_seconds": 1.0, "every_events": 5000},
            "learner": {"model": "river.linear_model.LogisticRegression",
                        "preprocessing": ["river.preprocessing.StandardScaler"]},
            "policies": [
                {"when": {"kind": "data_drift", "severity": "drift", "feature": "income"}, "do": ["quarantine"]},
                {"when": {"kind": "concept_drift", "severity": "drift"}, "do": ["rollback", "retrain"]},
            ],
        }
    )


@dataclass
class DemoResult:
    events: int
    seconds: float
    alerts: list[Alert] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    quarantined: int = 0
    dead_letters: int = 0
    monitor_rate: float = 0.0

    def detection(self, drift: Drift) -> Alert | None:
        for alert in sorted(self.alerts, key=lambda a: a.position.offset):
            if (
                alert.severity == "drift"
                and alert.kind == drift.kind
                and (drift.feature is None or alert.feature == drift.feature)
                and alert.position.offset >= drift.at
            ):
                return alert
        return None


def run_demo(
    events: int = 60_000, rate: float = 6000.0, out: IO[str] = sys.stdout, late_label_share: float = 0.2,
    report: str | Path | None = DEFAULT_REPORT,
) -> DemoResult:
    started = time.monotonic()
    drifts = default_drifts(events)
    say: Callable[[str], None] = lambda text: print(text, file=out, flush=True)  # noqa: E731
    say(f"driftline demo: {events} synthetic events, drifts injected at " + ", ".join(f"{d.name} @ {d.at}" for d in drifts))
    # the demo's checkpoints live on its own throw-away broker: a key of its own signs them
    os.environ.setdefault(STATE_KEY_ENV, secrets.token_hex(32))
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        say(f"embedded broker on {bootstrap}")
        cfg = demo_config(bootstrap, reference=min(REFERENCE, events // 5))
        ensure_topics(bootstrap, topic_partitions(cfg))
        runner = RoleRunner(cfg, bootstrap, ["monitor", "learner", "actions"], observer=RoleTelemetry).start()
        try:
            produced = _produce(cfg, bootstrap, events, drifts, rate, late_label_share, runner, say)
            _wait_caught_up(runner, produced, say)
            wait_for_models(runner)
        finally:
            runner.shutdown()
        if runner.errors:
            raise RoleFailed(f"a role failed: {runner.errors[0]!r}")
        result = DemoResult(events=events, seconds=time.monotonic() - started, drifts=drifts)
        result.alerts = read_alerts(cfg, bootstrap).records
        result.actions = read_actions(cfg, bootstrap).records
        stats = runner.stats
        result.quarantined = stats["learner"].quarantined
        result.dead_letters = stats["monitor"].dead_letters
        result.monitor_rate = stats["monitor"].rate
        _summary(result, stats, say)
        for line in model_summary(cfg, result.actions):
            say(line)
        if report is not None:
            path = write_report(live_report(cfg, bootstrap, time.monotonic() - started + 60), report)
            say(f"  report: {path.resolve()} (open it in a browser)")
    return result


def _produce(cfg: DriftlineConfig, bootstrap: str, n: int, drifts: list[Drift], rate: float, late: float,
             runner: RoleRunner, say: Callable[[str], None]) -> int:
    producer = make_producer(bootstrap, linger_ms=20)
    t0 = time.monotonic()
    last = t0
    late_labels: list[tuple[int, str, int]] = []  # (sent after event, id, label)
    sent = 0
    ts = 0
    try:
        for i, event in enumerate(generate(n, drifts)):
            if i % 997 == 500 and i // 997 < len(MALFORMED):
                producer.send(cfg.topics.events, MALFORMED[i // 997])
                sent += 1
            if (i * 7919) % 100 < late * 100:
                late_labels.append((i + 50, event["id"], event.pop("label")))
            producer.send(cfg.topics.events, orjson.dumps(event), key=event["id"].encode())
            sent += 1
            ts = event["ts"]
            while late_labels and late_labels[0][0] <= i:  # a label's ts: when it became known
                _, event_id, label = late_labels.pop(0)
                producer.send(cfg.topics.labels, orjson.dumps({"id": event_id, "label": label, "ts": ts}))
            if i % 500 == 0:
                ahead = i / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
                if time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    _progress(runner, i, say)
                if runner.stop.is_set():
                    break
        for _, event_id, label in late_labels:
            producer.send(cfg.topics.labels, orjson.dumps({"id": event_id, "label": label, "ts": ts}))
        producer.flush()
    finally:
        producer.close()
    return sent


def _progress(runner: RoleRunner, produced: int, say: Callable[[str], None]) -> None:
    s = runner.stats
    m, j, l, a = s["monitor"], s["judge"], s["learner"], s["actions"]
    metric = l.extra.get("metric")
    say(
        f"  produced {produced:>6} | monitor {m.consumed:>6} ({m.rate:,.0f} ev/s) | "
        f"learner {l.consumed:>6} acc {metric if metric is None else round(metric, 3)} | "
        f"judged {j.extra.get('judged', 0):>6} | alerts {j.alerts + l.alerts:>3} | quarantined {l.quarantined:>6} | actions {a.actions:>2}"
    )


def _wait_caught_up(runner: RoleRunner, produced: int, say: Callable[[str], None], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = 0.0
    while time.monotonic() < deadline and not runner.stop.is_set():
        s = runner.stats
        alerts = s["judge"].alerts + s["learner"].alerts
        valid = produced - s["monitor"].dead_letters
        if s["monitor"].consumed >= produced and s["learner"].extra.get("seen", 0) >= valid \
                and s["actions"].consumed >= alerts:
            _progress(runner, produced, say)
            return
        if time.monotonic() - last >= 1.0:
            last = time.monotonic()
            _progress(runner, produced, say)
        time.sleep(0.1)
    say("  (stopped waiting for the roles to catch up)")


def _summary(result: DemoResult, stats: dict[str, Any], say: Callable[[str], None]) -> None:
    by_alert: dict[str, list[ActionRecord]] = {}
    for record in result.actions:
        by_alert.setdefault(record.alert_id or "", []).append(record)
    say("")
    say(f"summary ({result.events} events in {result.seconds:.1f} s; monitor {result.monitor_rate:,.0f} events/s)")
    for drift in result.drifts:
        alert = result.detection(drift)
        if alert is None:
            say(f"  MISSED   {drift.name:<18} injected @ {drift.at:>6} ({drift.what})")
            continue
        delay = alert.position.offset - drift.at
        acts = ", ".join(f"{r.action}: {r.status}" for r in by_alert.get(alert.alert_id, [])) or "no action (no policy)"
        say(
            f"  DETECTED {drift.name:<18} injected @ {drift.at:>6}, alerted @ {alert.position.offset:>6} "
            f"(delay {delay} events) by {alert.detector}; actions: {acts}"
        )
    kinds: dict[str, int] = {}
    for alert in result.alerts:
        kinds[f"{alert.kind}/{alert.severity}"] = kinds.get(f"{alert.kind}/{alert.severity}", 0) + 1
    say("  all alerts: " + (", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())) or "none"))
    learner = stats["learner"]
    say(
        f"  learner: {learner.extra.get('seen', 0)} labelled events scored, {learner.extra.get('trained', 0)} trained on, "
        f"rolling accuracy {learner.extra.get('metric')}; {result.quarantined} events quarantined; "
        f"{result.dead_letters} malformed messages dead-lettered"
    )
