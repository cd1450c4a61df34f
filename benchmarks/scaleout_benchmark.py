"""One judgement per stream, measured: scale-out of monitor instances, the judge's cost, delays.

Three figures, side by side in one run (this machine is shared and noisy: read ratios):

1. Scale-out. A 6-partition topic of N events on the embedded broker, judged by 1, 2 and 3
   monitor instances (separate ``driftline run --role monitor`` processes; one of them is the
   stream's judge). events/s is measured from the first judged event to the last (the judge's
   frontier on the progress topic, read as it comes by one consumer), so the first consumer-group
   join is left out (not a later instance's rebalance, nor the idle wait at the end: the last
   events are judged once every partition is quiet for ``idle_partition_ms``); with the CPU the
   instances and the broker spent per judged event meanwhile, which says whether the cores or
   the waits set the rate.
2. The judge's cost per event, in process: decoding the instances' codes, the merge behind the
   watermark and every detector of ``detectors: auto``, against the raw cost of reading the
   input (``orjson.loads`` of the same events) and against the instances' cost (parsing).
3. Detection delay in stream events for P = 1, 3 and 12 partitions (events round-robin over
   the partitions, judged as the live roles judge them).

    python benchmarks/scaleout_benchmark.py --events 120000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import judge_partitions
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.merge import StreamMerge
from driftline.consumers.core.plan import StreamPlan, monitor_plan
from driftline.consumers.topics import topic_configs, topic_partitions
from driftline.stream.checkpoint import STATE_KEY_ENV
from driftline.stream.codes import decode, encode
from driftline.stream.events import parse_events
from driftline.stream.kafka.broker import EmbeddedBroker
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.records import partitions_of
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.synthetic import FEATURES, Drift, generate

#: the roles sign their checkpoints on Kafka: the benchmark's own key unless one is set
os.environ.setdefault(STATE_KEY_ENV, "driftline-benchmark-key-0123456789")

PARTITIONS = 6
SHIFT = Drift("income mean shift", "data_drift", "income", 40_000, "x1.5")


def config(bootstrap: str, partitions: int, first_n: int = 10_000) -> DriftlineConfig:
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{suffix}" for k in ("events", "labels", "alerts", "quarantine", "deadletter", "actions",
                                            "models", "checkpoints", "codes", "progress")}
    return DriftlineConfig.model_validate({
        "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000, "group_prefix": f"b{suffix}",
                  "partitions": partitions},
        "topics": topics,
        "stream": {"name": "bench", "features": FEATURES, "idle_partition_ms": 1000,
                   "label": {"field": "label", "type": "binary"}, "prediction": {"field": "prediction", "type": "binary"}},
        "reference": {"first_n": first_n},
        "stats": {"enabled": False},
        "state_dir": tempfile.mkdtemp(prefix="driftline-bench-"),
    })


class FrontierWatch:
    """The judge's frontier as the progress topic tells it, read as it comes by one consumer
    (a consumer made per look would cost the machine's cores and blur the times)."""

    def __init__(self, bootstrap: str, cfg: DriftlineConfig):
        self.stream = cfg.stream.name
        self.frontier = -(2**62)
        self.consumer = make_consumer(bootstrap, group_id=None, fetch_max_wait_ms=20)
        parts = partitions_of(self.consumer, cfg.topics.progress)
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)

    def past(self, ts: int) -> float:
        """Wait until the frontier is past ``ts``; the ``perf_counter`` time it was read."""
        while self.frontier <= ts:
            for msgs in self.consumer.poll(timeout_ms=20).values():
                for m in msgs:
                    doc = orjson.loads(m.value)
                    if doc.get("stream") == self.stream:
                        self.frontier = max(self.frontier, int(doc["frontier"]))
        return time.perf_counter()

    def close(self) -> None:
        self.consumer.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process so far (Linux ``/proc``), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One scale-out run: events/s first judged event to last, and the CPU the instances and
    the broker spent per judged event meanwhile."""

    rate: float
    instances_cpu: float
    broker_cpu: float


def scale_out(bootstrap: str, broker_pid: int | None, events: list[dict], instances: int, workdir: Path) -> Run:
    cfg = config(bootstrap, PARTITIONS)
    ensure_topics(bootstrap, topic_partitions(cfg), configs=topic_configs(cfg))
    producer = make_producer(bootstrap, linger_ms=20, batch_size=1 << 20)
    for i, e in enumerate(events):
        producer.send(cfg.topics.events, orjson.dumps(e), partition=i % PARTITIONS)
    producer.flush()
    producer.close()
    path = workdir / f"cfg-{instances}.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", by_alias=True), sort_keys=False))
    watch = FrontierWatch(bootstrap, cfg)
    procs = [subprocess.Popen([sys.executable, "-m", "driftline.consumers.cli.main", "run", str(path), "--role",
                               "monitor"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(instances)]

    def cpu() -> tuple[float, float]:
        return sum(cpu_seconds(p.pid) for p in procs), cpu_seconds(broker_pid) if broker_pid else 0.0

    try:
        started, cpu_before = watch.past(events[0]["ts"]), cpu()
        judged_from = watch.frontier
        ended, cpu_after = watch.past(events[-1]["ts"]), cpu()
    finally:
        watch.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    judged = max(1, sum(1 for e in events if e["ts"] >= judged_from))
    return Run(judged / (ended - started), (cpu_after[0] - cpu_before[0]) / judged,
               (cpu_after[1] - cpu_before[1]) / judged)


def judge_cost(events: list[dict]) -> tuple[float, float, float, float]:
    """Seconds per event: orjson.loads alone, the instances' parse + intake, the judge, and a
    second judge in the same process (the Bernoulli charts' thresholds, one ARL calibration per
    reference rate, then cached: what remains is the cost per event)."""
    cfg = config("embedded", PARTITIONS)
    raws = [orjson.dumps(e) for e in events]
    t = time.perf_counter()
    for r in raws:
        orjson.loads(r)
    loads = (time.perf_counter() - t) / len(raws)
    schema = stream_schema(cfg)
    intakes = {p: PartitionIntake(p, 10_000, cfg.stream.allowed_lateness_ms) for p in range(PARTITIONS)}
    wire: list[bytes] = []
    chunk = 5000
    t = time.perf_counter()
    for start in range(0, len(raws), chunk):
        for p in range(PARTITIONS):
            part = raws[start + p:start + chunk:PARTITIONS]
            offsets = list(range((start + p) // PARTITIONS, (start + p) // PARTITIONS + len(part)))
            batch, rejects = parse_events(schema, p, offsets, part)
            wire.append(encode(intakes[p].admit(batch, rejects)[2]))
    instances = (time.perf_counter() - t) / len(raws)
    plan = monitor_plan(cfg)
    judge = judge_pass(plan, cfg, wire) / len(raws)
    again = judge_pass(plan, cfg, wire) / len(raws)  # the detectors' thresholds calibrated once already
    return loads, instances, judge, again


def judge_pass(plan: StreamPlan, cfg: DriftlineConfig, wire: list[bytes]) -> float:
    """Seconds a fresh judge takes over the instances' codes ``wire``: decode, merge, detect."""
    engine = DriftEngine(plan)
    merge = StreamMerge(range(PARTITIONS), cfg.stream.allowed_lateness_ms, idle_ms=float("inf"))
    t = time.perf_counter()
    for i, w in enumerate(wire):
        merge.add(decode(w), 0.0)
        if i % PARTITIONS == PARTITIONS - 1:
            released = merge.release(0.0)
            if not released.empty:
                engine.process(released.batch, released.messages)  # type: ignore[arg-type]
    released = merge.release(0.0, flush=True)
    if not released.empty:
        engine.process(released.batch, released.messages)  # type: ignore[arg-type]
    return time.perf_counter() - t


def delays(events: list[dict]) -> dict[int, int | None]:
    out: dict[int, int | None] = {}
    raws = [orjson.dumps(e) for e in events]
    for p in (1, 3, 12):
        cfg = config("embedded", p)
        streams = {q: raws[q::p] for q in range(p)}
        alerts = [a for a in judge_partitions(cfg, streams) if a.feature == "income" and a.severity == "drift"]
        at = [a.position.offset * p + a.position.partition for a in alerts]
        out[p] = (min(at) - SHIFT.at) if at else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=120_000)
    args = parser.parse_args()
    events = list(generate(args.events, [SHIFT], seed=5))

    loads, instances, judge, again = judge_cost(events)
    print(f"cost per event (in process, {len(events)} events, {len(FEATURES)} features):")
    print(f"  orjson.loads alone          {loads * 1e6:8.2f} us")
    print(f"  instance: parse + intake    {instances * 1e6:8.2f} us   ({instances / loads:.1f}x orjson)")
    print(f"  judge: decode, merge, detect {judge * 1e6:7.2f} us   ({judge / loads:.1f}x orjson, "
          f"{judge / instances:.2f}x an instance's cost)")
    print(f"  judge again, thresholds kept {again * 1e6:5.2f} us   ({again / loads:.1f}x orjson, "
          f"{again / instances:.2f}x an instance's cost)")
    print("detection delay of the income shift in stream events, by partition count:")
    d = delays(events)
    for p, delay in d.items():
        print(f"  P = {p:>2}: {delay}")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        runs = {k: scale_out(broker.bootstrap_servers, broker.pid, events, k, Path(tmp)) for k in (1, 2, 3)}
    print(f"scale-out over {PARTITIONS} partitions (first judged event to last):")
    for k, run in runs.items():
        print(f"  {k} monitor instance(s): {run.rate:10,.0f} events/s  ({run.rate / runs[1].rate:.2f}x one)")
    cores = os.cpu_count() or 1
    print(f"CPU per judged event meanwhile ({cores} cores, shared with the broker, this script and what else runs):")
    for k, run in runs.items():
        busy = (run.instances_cpu + run.broker_cpu) * run.rate
        print(f"  {k} monitor instance(s): instances {run.instances_cpu * 1e6:5.1f} us, broker "
              f"{run.broker_cpu * 1e6:4.1f} us; {busy:.2f} of {cores} cores busy")

if __name__ == "__main__":
    main()
