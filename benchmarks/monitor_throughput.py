"""Live monitor throughput on the embedded broker, next to a bare consumer that decodes each message.

For each case (5 features as JSON, 22 features as JSON, 5 features as Avro in the Confluent
wire format) N events are produced once to a topic of their own; then, in the same run and
alternating, the topic is read by a bare kafka-python consumer that decodes every message
(``orjson.loads``, or fastavro's ``schemaless_reader`` for Avro: the honest baseline, what
reading and decoding alone costs) and by the monitor role (parse, validate, intake, the
compact codes for its judge, dead letters, commits, checkpoints), once with the stream's judge
beside it in the same process (as ``driftline run`` runs them: the judge's detectors share the
process) and once alone. For the labelled cases (labels inline) the learner role reads the
same topic too (join, test-then-train in mini-batches, the concept detectors, commits,
checkpoints; not waiting for a judge's frontier, so its own cost). Printed: a table of
events/s of each and their ratios (medians over the rounds).

    python benchmarks/monitor_throughput.py --events 200000 --rounds 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import orjson
from kafka import TopicPartition

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import topic_configs, topic_partitions
from driftline.stream.checkpoint import STATE_KEY_ENV
from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.shape.avro import encode
from driftline.stream.synthetic import FEATURES, default_drifts, generate

#: the roles sign their checkpoints on Kafka: the benchmark's own key unless one is set
os.environ.setdefault(STATE_KEY_ENV, "driftline-benchmark-key-0123456789")


WIDE = {f"x{j}": "numeric" for j in range(20)} | {"c0": "categorical", "c1": "categorical"}
AVRO_SCHEMA = {"type": "record", "name": "Event", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": "long"},
    {"name": "features", "type": {"type": "record", "name": "Features", "fields": [
        {"name": f, "type": ["null", "double" if t == "numeric" else "string"]} for f, t in FEATURES.items()]}},
    {"name": "prediction", "type": "int"}, {"name": "label", "type": "int"}]}


def wide_events(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    num = rng.normal(size=(n, 20)).round(4)
    cats = rng.choice(np.array(["DE", "FR", "ES", "IT", "PL"]), size=(n, 2))
    return [{"id": f"e{i}", "ts": 1_767_225_600_000 + i, "features": {f"x{j}": float(num[i, j]) for j in range(20)}
             | {"c0": str(cats[i, 0]), "c1": str(cats[i, 1])}} for i in range(n)]


def config(bootstrap: str, case: str, round_no: int, features: dict[str, str], labelled: bool,
           avro: dict | None) -> DriftlineConfig:
    stream: dict[str, Any] = {"name": f"bench-{case}", "features": features}
    if labelled:
        stream |= {"label": {"field": "label", "type": "binary"}, "prediction": {"field": "prediction", "type": "binary"}}
    if avro:
        stream |= {"format": "avro", "avro": avro}
    return DriftlineConfig.model_validate({
        "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000, "group_prefix": f"bench{round_no}"},
        # each case and round its own topics (the events, the monitor's codes, the judge's progress)
        "topics": {"events": f"events-{case}", "codes": f"driftline-codes-{case}-{round_no}",
                   "progress": f"driftline-progress-{case}-{round_no}", "deadletter": f"deadletter-{case}"},
        "stream": stream,
        "reference": {"first_n": 10000},
        # the learner's own cost: it does not wait for a judge's frontier (none runs beside it)
        "learner": {"wait_for_monitor": False, "preprocessing": ["river.preprocessing.StandardScaler"]},
    })


def raw_read(bootstrap: str, topic: str, n: int, decode: Callable[[bytes], Any]) -> float:
    """events/s of a bare consumer that decodes every message."""
    consumer = make_consumer(bootstrap, group_id=None)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    seen = 0
    started = time.perf_counter()
    while seen < n:
        for msgs in consumer.poll(timeout_ms=500, max_records=5000).values():
            for m in msgs:
                decode(m.value)
            seen += len(msgs)
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


def monitor_read(cfg: DriftlineConfig, bootstrap: str, n: int, judge: bool = True, role: str = "monitor") -> float:
    """events/s of the monitor role (or ``role``), from its first consumed batch to the last;
    ``judge``: with the stream's judge beside it in this process, as ``driftline run`` runs it
    (without: the monitor's own cost, its codes left on the topic unjudged)."""
    runner = RoleRunner(cfg, bootstrap, [role])
    if not judge:
        runner.roles = [r for r in runner.roles if r.name == role]
    runner.start()
    stats = runner.stats[role]
    while stats.consumed == 0:
        time.sleep(0.01)
    first = time.perf_counter()
    start_count = stats.consumed
    while stats.consumed < n:
        time.sleep(0.01)
    elapsed = time.perf_counter() - first
    runner.shutdown()
    return (n - start_count) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cases", default="json5,json22,avro5", help="comma-separated: json5, json22, avro5")
    args = parser.parse_args()
    n = args.events
    avsc = Path(tempfile.mkdtemp()) / "event.avsc"
    avsc.write_text(json.dumps(AVRO_SCHEMA))
    parsed = fastavro.parse_schema(AVRO_SCHEMA)

    def avro_decode(raw: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(raw[5:]), parsed)

    narrow = list(generate(n, default_drifts(n)))
    cases = {
        "json5": ("JSON, 5 features", FEATURES, True, None, lambda: [orjson.dumps(e) for e in narrow], orjson.loads,
                  "orjson.loads"),
        "json22": ("JSON, 22 features", WIDE, False, None, lambda: [orjson.dumps(e) for e in wide_events(n)],
                   orjson.loads, "orjson.loads"),
        "avro5": ("Avro, 5 features", FEATURES, True, {"schemas": {1: str(avsc)}},
                  lambda: [encode(AVRO_SCHEMA, 1, e) for e in narrow], avro_decode, "fastavro"),
    }
    rows = []
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        for case in args.cases.split(","):
            title, features, labelled, avro, values, decode, decoder = cases[case]
            cfg = config(bootstrap, case, 0, features, labelled, avro)
            ensure_topics(bootstrap, topic_partitions(cfg), configs=topic_configs(cfg))
            producer = make_producer(bootstrap, linger_ms=20)
            for value in values():
                producer.send(cfg.topics.events, value)
            producer.flush()
            producer.close()
            raw, monitor, alone, learner = [], [], [], []
            for r in range(args.rounds):
                raw.append(raw_read(bootstrap, cfg.topics.events, n, decode))
                monitor.append(monitor_read(config(bootstrap, case, 3 * r + 1, features, labelled, avro), bootstrap, n))
                alone.append(monitor_read(config(bootstrap, case, 3 * r + 2, features, labelled, avro), bootstrap, n,
                                          judge=False))
                if labelled:
                    learner.append(monitor_read(config(bootstrap, case, 3 * r + 3, features, labelled, avro),
                                                bootstrap, n, judge=False, role="learner"))
            rows.append((title, decoder, statistics.median(raw), statistics.median(monitor), statistics.median(alone),
                         statistics.median(learner) if learner else None))
    print(f"events: {n:,} per case, rounds: {args.rounds} (medians), embedded broker")
    print("| case | bare consumer + decode | monitor role (with its judge) | ratio | monitor alone (judge not run) "
          "| ratio | learner role (labels inline) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for title, decoder, r, m, a, lr in rows:
        learned = f"{lr:,.0f} events/s | {lr / r:.2f}" if lr is not None else "(no label) | "
        print(f"| {title} | {r:,.0f} events/s ({decoder}) | {m:,.0f} events/s | {m / r:.2f} | {a:,.0f} events/s "
              f"| {a / r:.2f} | {learned} |")


if __name__ == "__main__":
    main()
