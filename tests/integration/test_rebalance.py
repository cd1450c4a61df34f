"""Rebalance on a real broker: two monitors share a group over three partitions; one stops
mid-stream and the other takes its partitions over from their checkpoints. The alerts are
those of a single uninterrupted monitor."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from roles_support import committed, fresh_config, frontier, produce, run_roles, wait_for

from driftline.consumers.core.backtest import judge_partitions
from driftline.consumers.roles.loop import group_id
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

PARTITIONS = 3
N = 9000
SHIFTS = [Drift("income mean shift", "data_drift", "income", 4500, "x1.5")]


def expected_alert_ids(cfg, streams: dict[int, list[bytes]]) -> set[str]:
    """The stream's alerts judged offline, as the monitor and its judge judge it."""
    return {a.alert_id for a in judge_partitions(cfg, streams)}


def _stream(p: int) -> list[bytes]:
    events = list(generate(N, SHIFTS, seed=40 + p))
    for e in events:  # ids are unique in a stream: each partition's events their own
        e["id"] = f"p{p}-{e['id']}"
    return [orjson.dumps(e) for e in events]


def test_a_stopped_instance_hands_its_partitions_over_by_checkpoint(bootstrap_servers: str) -> None:
    # the producer pauses between rounds, and a loaded machine may stall it: a partition passed
    # over as idle in such a pause would make its next events late (a timing effect, said in
    # the merge), so here a partition counts as idle only after 3 s of quiet
    cfg = fresh_config(bootstrap_servers, partitions=PARTITIONS, idle_partition_ms=3000)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["checkpoint"] = {"store": "kafka", "every_seconds": 0.5, "every_events": 1000}
    data["kafka"]["max_poll_records"] = 500
    cfg = type(cfg).model_validate(data)
    streams = {p: _stream(p) for p in range(PARTITIONS)}

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
        last_ts = max(orjson.loads(raws[-1])["ts"] for raws in streams.values())
        wait_for(lambda: frontier(bootstrap_servers, cfg) > last_ts, timeout=60, what="the judge to judge it all")
    finally:
        producer.join()
        second.shutdown()
    assert not second.errors
    judges = [r.stats["judge"].extra for r in (first, second)]
    assert all(j.get("late", 0) == 0 for j in judges), judges  # nothing came behind the judgement

    live = {Alert.from_json(m.value).alert_id for m in read_topic(bootstrap_servers, cfg.topics.alerts)}
    expected = expected_alert_ids(cfg, streams)
    assert expected  # the income shift, seen once for the stream
    assert live == expected
    # the second instance resumed the first one's partitions from their checkpoints, not from scratch
    assert second.stats["monitor"].consumed < PARTITIONS * N
