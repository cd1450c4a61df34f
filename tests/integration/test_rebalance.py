"""Rebalance on a real broker: two monitors share a group over three partitions; one stops
mid-stream and the other takes its partitions over from their checkpoints. The alerts are
those of a single uninterrupted monitor."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from roles_support import committed, fresh_config, produce, run_roles, wait_for

from driftline.consumers.config.model import stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.plan import monitor_plan
from driftline.consumers.roles.loop import group_id
from driftline.stream.events import parse_events
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

PARTITIONS = 3
N = 9000
SHIFTS = [Drift("income mean shift", "data_drift", "income", 4500, "x1.5")]


def expected_alert_ids(cfg, streams: dict[int, list[bytes]]) -> set[str]:
    ids = set()
    for partition, raws in streams.items():
        engine = DriftEngine(monitor_plan(cfg), partition)
        batch, _ = parse_events(stream_schema(cfg), partition, list(range(len(raws))), raws)
        batch, _ = engine.admit(batch)
        ids |= {a.alert_id for a in engine.process(batch)}
    return ids


def test_a_stopped_instance_hands_its_partitions_over_by_checkpoint(bootstrap_servers: str) -> None:
    cfg = fresh_config(bootstrap_servers, partitions=PARTITIONS)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["checkpoint"] = {"store": "kafka", "every_seconds": 0.5, "every_events": 1000}
    data["kafka"]["max_poll_records"] = 500
    cfg = type(cfg).model_validate(data)
    streams = {p: [orjson.dumps(e) for e in generate(N, SHIFTS, seed=40 + p)] for p in range(PARTITIONS)}

    def produce_slowly() -> None:
        for start in range(0, N, 500):
            for p, raws in streams.items():
                produce(bootstrap_servers, cfg.topics.events, raws[start : start + 500], partition=p)
            time.sleep(0.2)

    first = run_roles(cfg, bootstrap_servers, ["monitor"])
    second = run_roles(cfg, bootstrap_servers, ["monitor"])
    producer = threading.Thread(target=produce_slowly, daemon=True)
    producer.start()
    monitor_group = group_id(cfg, "monitor")

    def progress() -> list[int]:
        return [committed(bootstrap_servers, monitor_group, cfg.topics.events, p) for p in range(PARTITIONS)]

    try:
        wait_for(lambda: first.stats["monitor"].consumed > 0 and second.stats["monitor"].consumed > 0,
                 timeout=60, what="both instances to own partitions")
        wait_for(lambda: min(progress()) >= N // 3, timeout=60, what="a third of the stream")
        first.shutdown()  # mid-stream: its partitions move to the second instance
        assert not first.errors
        wait_for(lambda: progress() == [N] * PARTITIONS, timeout=90, what="the second instance to finish")
    finally:
        producer.join()
        second.shutdown()
    assert not second.errors

    live = {Alert.from_json(m.value).alert_id for m in read_topic(bootstrap_servers, cfg.topics.alerts)}
    expected = expected_alert_ids(cfg, streams)
    assert len(expected) >= PARTITIONS  # one income drift per partition at least
    assert live == expected
    # the second instance resumed the first one's partitions from their checkpoints, not from scratch
    assert second.stats["monitor"].consumed < PARTITIONS * N
