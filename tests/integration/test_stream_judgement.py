"""One stream, one judgement, on a real broker: six partitions, two monitor instances (one
SIGKILLed and restarted mid-stream) give exactly one drift alert per detector of the shifted
feature, with the same ids as a backtest of the same events; and a drift that begins before any
one partition has seen ``first_n`` events is detected, since the reference is the stream's."""

from __future__ import annotations

import threading
import time
from collections import Counter

import orjson
import pytest
from roles_support import RoleProcess, fresh_config, frontier, produce, wait_for, write_config

from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

PARTITIONS = 6
N = 12000
REFERENCE = 2000
#: the shift begins when each partition has seen about 2500 / 6 events, far fewer than first_n
SHIFT = Drift("income mean shift", "data_drift", "income", 2500, "x1.5")


def _produce_round_robin(bootstrap: str, topic: str, events: list[dict], rate: float = 3000.0) -> threading.Thread:
    def run() -> None:
        step = 600
        for start in range(0, len(events), step):
            chunk = events[start:start + step]
            for p in range(PARTITIONS):
                produce(bootstrap, topic, chunk[p::PARTITIONS], partition=p)
            time.sleep(step / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_six_partitions_two_instances_one_killed_give_the_backtest_alerts(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(bootstrap_servers, reference=REFERENCE, partitions=PARTITIONS)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["checkpoint"] = {"store": "kafka", "every_seconds": 0.3, "every_events": 1000}
    data["kafka"]["max_poll_records"] = 300
    cfg = type(cfg).model_validate(data)
    events = list(generate(N, [SHIFT], seed=61))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    expected = backtest(cfg, path).alerts
    config_path = write_config(cfg, tmp_path / "driftline.yaml")

    first = RoleProcess(config_path, "monitor", tmp_path / "first.log")
    second = RoleProcess(config_path, "monitor", tmp_path / "second.log")
    producer = _produce_round_robin(bootstrap_servers, cfg.topics.events, events)
    last_ts = events[-1]["ts"]
    try:
        wait_for(lambda: frontier(bootstrap_servers, cfg) > events[N // 3]["ts"], timeout=90,
                 what="a third of the stream judged")
        first.kill()  # mid-stream: its partitions (or the judge) move to the other instance
        first = RoleProcess(config_path, "monitor", tmp_path / "first-again.log")
        first.wait_running()
        producer.join()
        wait_for(lambda: frontier(bootstrap_servers, cfg) > last_ts, timeout=120, what="the whole stream judged")
    finally:
        codes = (first.terminate(), second.terminate())  # both stopped, whatever happened
    assert codes == (0, 0)

    live = {a.alert_id: a for a in (Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts))}
    assert set(live) == {a.alert_id for a in expected}
    income = Counter(a.detector for a in live.values() if a.feature == "income" and a.severity == "drift")
    assert income and all(n == 1 for n in income.values()), income
    # detected although no partition had seen first_n events when the shift began
    first_income = min(a.position.offset * PARTITIONS + a.position.partition
                       for a in live.values() if a.feature == "income" and a.severity == "drift")
    assert SHIFT.at <= first_income < SHIFT.at + 1500
    # one reference for the stream: the first first_n events of the stream, in event-time order
    assert all(a.window.reference_n == REFERENCE for a in live.values() if a.detector.startswith("ks-"))


def test_a_few_events_after_a_quiet_spell_are_judged(bootstrap_servers: str) -> None:
    """The stream goes quiet (every partition passed over, everything judged), then a handful
    of events come: they are judged too once the partitions are quiet again, none left waiting."""
    from roles_support import judged_all, run_roles

    cfg = fresh_config(bootstrap_servers, partitions=3)
    events = list(generate(3000, [], seed=31))
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor"])
    try:
        wait_for(lambda: judged_all(runner, 3000), timeout=60, what="the first events judged")
        time.sleep(3)  # a quiet spell: heartbeats only
        later = list(generate(10, [], seed=32, start_ts=events[-1]["ts"] + 60_000))
        for i, e in enumerate(later):
            e["id"] = f"later-{i}"
        produce(bootstrap_servers, cfg.topics.events, later)
        wait_for(lambda: judged_all(runner, 3010), timeout=30, what="the ten later events judged")
    finally:
        runner.shutdown()
    assert not runner.errors
    assert runner.stats["judge"].extra["judged"] == 3010
