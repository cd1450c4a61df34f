"""Late labels on their own topic, in a deterministic order, on a real broker: two live runs of
the same events (three partitions) and labels (late, out of order), produced with different
interleavings, give the same concept alerts and hold the same events as a backtest of the
events and labels files (``driftline backtest --labels``)."""

from __future__ import annotations

import threading
import time
import zlib
from pathlib import Path

import orjson
import pytest
from roles_support import fresh_config, produce, run_until

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate, late_labels

pytestmark = pytest.mark.integration

N = 6000
CHANGE = 3000
PARTITIONS = 3


def stream() -> tuple[list[dict], list[dict]]:
    """Two thirds of the events labelled late (0-2 s after them, up to 200 events), the labels
    topic in the order they became known, out of the events' order."""
    events = list(generate(N, [Drift("concept drift", "concept_drift", None, CHANGE, "flip")], seed=5))
    labels = late_labels(events, 2 / 3, 2000, seed=5)
    return events, labels


def config(bootstrap: str) -> DriftlineConfig:
    return fresh_config(bootstrap, reference=1000, partitions=PARTITIONS,
                        policies=[{"when": {"kind": "concept_drift"}, "do": ["quarantine"]}])


def produce_events(bootstrap: str, cfg: DriftlineConfig, events: list[dict]) -> None:
    parts: dict[int, list[dict]] = {p: [] for p in range(PARTITIONS)}
    for e in events:
        parts[zlib.crc32(e["id"].encode()) % PARTITIONS].append(e)
    for p, evs in parts.items():
        produce(bootstrap, cfg.topics.events, evs, partition=p)


def live_run(bootstrap: str, events: list[dict], labels: list[dict], labels_first: bool) -> tuple[list[Alert], set]:
    """One live run: labels all before the events, or trickled in behind them."""
    cfg = config(bootstrap)
    if labels_first:
        produce(bootstrap, cfg.topics.labels, labels)
        produce_events(bootstrap, cfg, events)
        feeder = None
    else:
        def trickle() -> None:
            time.sleep(1.0)  # the learner has read events well ahead of their labels
            for start in range(0, len(labels), 500):
                produce(bootstrap, cfg.topics.labels, labels[start:start + 500])
                time.sleep(0.2)

        feeder = threading.Thread(target=trickle, daemon=True)
        produce_events(bootstrap, cfg, events)
        feeder.start()
    run_until(cfg, bootstrap, ["monitor", "learner"], lambda r: r.stats["learner"].extra.get("seen", 0) >= N,
              "the learner to score every event", timeout=120)
    if feeder is not None:
        feeder.join()
    alerts = [Alert.from_json(m.value) for m in read_topic(bootstrap, cfg.topics.alerts)]
    held = {(m.key or b"").decode() or orjson.loads(m.value)["id"] for m in read_topic(bootstrap, cfg.topics.quarantine)}
    return [a for a in alerts if a.kind == "concept_drift"], held


def test_two_live_runs_with_late_labels_give_the_backtest_concept_alerts(bootstrap_servers: str,
                                                                         tmp_path: Path) -> None:
    events, labels = stream()
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lab) + b"\n" for lab in labels))
    cfg = config(bootstrap_servers)
    result = backtest(cfg, tmp_path / "events.jsonl", labels=tmp_path / "labels.jsonl")
    expected = [a.alert_id for a in result.alerts if a.kind == "concept_drift"]
    first_drift = next(a for a in result.alerts if a.kind == "concept_drift" and a.severity == "drift")
    assert int(first_drift.position.event_id.split("-")[1]) >= CHANGE  # found after the change, not before
    assert result.quarantined > 0

    runs = [live_run(bootstrap_servers, events, labels, labels_first) for labels_first in (True, False)]
    for alerts, held in runs:
        assert sorted(a.alert_id for a in alerts) == sorted(expected)
        assert len(held) == result.quarantined
    assert runs[0][1] == runs[1][1]  # the same events held
