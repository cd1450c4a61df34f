"""Helpers for the role tests: a config on fresh topics, producing, reading a topic whole."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.observe.telemetry import RoleTelemetry
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import topic_partitions
from driftline.stream.kafka.clients import make_producer
from driftline.stream.kafka.records import read_topic
from driftline.stream.kafka.topics import ensure_topics
from driftline.stream.synthetic import FEATURES


def fresh_config(
    bootstrap: str, reference: int = 2000, policies: list[dict] | None = None, partitions: int = 1, **stream: Any
) -> DriftlineConfig:
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{suffix}" for k in ("events", "labels", "alerts", "quarantine", "deadletter", "actions", "models",
                                                   "codes", "progress")}
    cfg = DriftlineConfig.model_validate(
        {
            "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000, "poll_timeout_ms": 100,
                      "group_prefix": f"t{suffix}", "partitions": partitions},
            "topics": topics,
            # a quiet partition stops holding the stream's judgement back after 0.3 s (tests end quickly)
            "stream": {"name": "test", "features": FEATURES, "idle_partition_ms": 300,
                       "label": {"field": "label", "type": "binary"},
                       "prediction": {"field": "prediction", "type": "binary"}, **stream},
            "reference": {"first_n": reference},
            "learner": {"preprocessing": ["river.preprocessing.StandardScaler"]},
            "policies": policies or [],
            # never the repository's driftline-state/: each test its own registry and checkpoints
            "state_dir": tempfile.mkdtemp(prefix="driftline-test-"),
        }
    )
    ensure_topics(bootstrap, topic_partitions(cfg))
    return cfg


def produce(bootstrap: str, topic: str, values: Iterable[bytes | dict], partition: int | None = None) -> int:
    producer = make_producer(bootstrap, linger_ms=10)
    n = 0
    for value in values:
        raw = value if isinstance(value, (bytes, type(None))) else orjson.dumps(value)
        producer.send(topic, raw, partition=partition)
        n += 1
    producer.flush()
    producer.close()
    return n


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_roles(cfg: DriftlineConfig, bootstrap: str, roles: list[str]) -> RoleRunner:
    return RoleRunner(cfg, bootstrap, roles, observer=RoleTelemetry).start()


def run_until(
    cfg: DriftlineConfig, bootstrap: str, roles: list[str], done: Callable[[RoleRunner], bool], what: str,
    timeout: float = 60.0,
) -> RoleRunner:
    """Run ``roles`` until ``done(runner)``, stop them, and check that none failed."""
    runner = run_roles(cfg, bootstrap, roles)
    try:
        wait_for(lambda: done(runner), timeout=timeout, what=what)
    finally:
        runner.shutdown()
    assert not runner.errors
    return runner


def judged_all(runner: RoleRunner, n: int) -> bool:
    """The runner's monitor has read ``n`` messages and its judge has judged every one it kept."""
    s = runner.stats
    if s["monitor"].consumed < n:
        return False
    judge = s["judge"]
    return judge.extra.get("buffered", 1) == 0 and judge.extra.get("judged", 0) + s["monitor"].dead_letters >= n


def learned_all(runner: RoleRunner, n: int) -> bool:
    """The runner's learner has read ``n`` messages and taken every step they allow (each event
    arrived, each labelled one learned): what it has read is all done."""
    learner = runner.stats["learner"]
    return learner.consumed >= n and learner.extra.get("due", 1) == 0


def frontier(bootstrap: str, cfg: DriftlineConfig) -> int:
    """How far the stream's judge has judged (event time), from the progress topic."""
    docs = [orjson.loads(m.value) for m in read_topic(bootstrap, cfg.topics.progress)]
    return max((d["frontier"] for d in docs if d.get("stream") == cfg.stream.name), default=-(2**62))


def monitor_all(cfg: DriftlineConfig, bootstrap: str, values: list[bytes]) -> RoleRunner:
    """Produce ``values`` to the events topic and run the monitor (and its judge) until every
    event is judged."""
    produce(bootstrap, cfg.topics.events, values)
    return run_until(cfg, bootstrap, ["monitor"], lambda r: judged_all(r, len(values)),
                     "the monitor to read and the judge to judge every event")


def write_config(cfg: DriftlineConfig, path: Any) -> str:
    """The configuration as a YAML file, for roles started as separate processes."""
    import yaml

    data = cfg.model_dump(mode="json", by_alias=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


class RoleProcess:
    """``driftline run CONFIG --role ROLE`` as a child process, killed or stopped by the test."""

    def __init__(self, config_path: str, role: str, log_path: Any):
        import subprocess
        import sys

        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftline.consumers.cli.main", "run", config_path, "--role", role],
            stdout=self.log, stderr=self.log,
        )

    def wait_running(self, timeout: float = 60.0) -> None:
        """Until the process says it is running (its roles started, its signal handlers set)."""
        wait_for(lambda: b"Ctrl-C to stop" in open(self.log_path, "rb").read(), timeout=timeout,
                 what=f"{self.log_path} to say the roles run")

    def kill(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def terminate(self, timeout: float = 20.0) -> int:
        import signal

        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


def committed(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    """The group's committed offset on a partition (0 when none)."""
    from kafka import TopicPartition

    from driftline.stream.kafka.clients import make_consumer

    consumer = make_consumer(bootstrap, group_id=group)
    try:
        return consumer.committed(TopicPartition(topic, partition)) or 0
    finally:
        consumer.close()
