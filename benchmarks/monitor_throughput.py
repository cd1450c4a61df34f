"""Live monitor throughput on the embedded broker, next to the raw cost of reading the topic.

Produces N synthetic events (5 features, label, prediction) once, then in the same run reads
the topic with a bare kafka-python consumer (the reference: what reading alone costs) and with
the monitor role (parse, validate, every detector of ``detectors: auto``, alerts, commits,
checkpoints), alternating, and prints events/s of each and their ratio.

    python benchmarks/monitor_throughput.py --events 200000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import orjson

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import topic_configs, topic_partitions
from driftline.stream.checkpoint import STATE_KEY_ENV
from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.synthetic import FEATURES, default_drifts, generate

#: the roles sign their checkpoints on Kafka: the benchmark's own key unless one is set
os.environ.setdefault(STATE_KEY_ENV, "driftline-benchmark-key-0123456789")


def config(bootstrap: str, round_no: int) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000, "group_prefix": f"bench{round_no}"},
        # each round its own judge's topics (the monitor's codes and the judge's progress)
        "topics": {"codes": f"driftline-codes-{round_no}", "progress": f"driftline-progress-{round_no}"},
        "stream": {"name": "bench", "features": FEATURES, "label": {"field": "label", "type": "binary"},
                   "prediction": {"field": "prediction", "type": "binary"}},
        "reference": {"first_n": 10000},
    })


def raw_read(bootstrap: str, topic: str, n: int) -> float:
    consumer = make_consumer(bootstrap, group_id=None)
    from kafka import TopicPartition

    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    seen = 0
    started = time.perf_counter()
    while seen < n:
        for msgs in consumer.poll(timeout_ms=500, max_records=5000).values():
            seen += len(msgs)
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


def monitor_read(cfg: DriftlineConfig, bootstrap: str, n: int) -> float:
    runner = RoleRunner(cfg, bootstrap, ["monitor"]).start()
    stats = runner.stats["monitor"]
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
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        cfg = config(bootstrap, 0)
        ensure_topics(bootstrap, topic_partitions(cfg), configs=topic_configs(cfg))
        producer = make_producer(bootstrap, linger_ms=20)
        for event in generate(args.events, default_drifts(args.events)):
            producer.send(cfg.topics.events, orjson.dumps(event))
        producer.flush()
        producer.close()
        raw, monitor = [], []
        for r in range(args.rounds):
            raw.append(raw_read(bootstrap, cfg.topics.events, args.events))
            monitor.append(monitor_read(config(bootstrap, r + 1), bootstrap, args.events))
        r, m = statistics.median(raw), statistics.median(monitor)
        print(f"events: {args.events}, rounds: {args.rounds} (medians)")
        print(f"  raw read (bare consumer):     {r:>10,.0f} events/s")
        print(f"  monitor role (auto, 5 feat.): {m:>10,.0f} events/s")
        print(f"  monitor / raw read:           {m / r:>10.2f}")


if __name__ == "__main__":
    main()
