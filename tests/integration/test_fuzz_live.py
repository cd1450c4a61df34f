"""Fuzz, live: hostile messages and random configurations through the monitor and learner
roles on a real broker (a handful of seeded examples, not shrunk: a failure shows the example as
drawn); the unit part is
``tests/unit/test_fuzz.py``.

No role fails; every message is judged or dead-lettered by the monitor; the learner routes the
events it cannot use; and the live alerts and dead letters are exactly backtest's alerts,
rejects and unusable events over the same messages.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from fuzz_support import configs, streams
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from roles_support import fresh_config, learned_all, produce, run_roles, wait_for

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert

pytestmark = pytest.mark.integration


def on_fresh_topics(cfg: DriftlineConfig, bootstrap: str) -> DriftlineConfig:
    """``cfg``'s stream and learner on new topics of the test broker, with the tests' timeouts."""
    fresh = fresh_config(bootstrap).model_dump(mode="json", by_alias=True)
    data = cfg.model_dump(mode="json", by_alias=True)
    for key in ("kafka", "topics", "state_dir"):
        data[key] = fresh[key]
    return DriftlineConfig.model_validate(data)


@settings(max_examples=5, derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_live_roles_take_hostile_messages_and_agree_with_backtest(bootstrap_servers: str, data: Any) -> None:
    cfg = on_fresh_topics(data.draw(configs()), bootstrap_servers)
    messages, _ = data.draw(streams(cfg, max_events=150, min_events=50))
    messages = [m for m in messages if b"\n" not in m and b"\r" not in m]  # a file line is one message
    produce(bootstrap_servers, cfg.topics.events, messages)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner"])
    try:
        wait_for(lambda: (runner.stats["monitor"].consumed >= len(messages)
                          and learned_all(runner, len(messages))) or bool(runner.errors),
                 what="both roles to read every message, the learner to take every step")
    finally:
        runner.shutdown()
    assert not runner.errors and runner.stats["monitor"].consumed == len(messages)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"".join(m + b"\n" for m in messages))
        result = backtest(cfg, path)

    live = sorted((a.position.offset, a.detector, a.alert_id)
                  for a in (Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)))
    assert live == sorted((a.position.offset, a.detector, a.alert_id) for a in result.alerts)
    dead = [orjson.loads(m.value) for m in read_topic(bootstrap_servers, cfg.topics.deadletter)]
    assert sorted((d["source"]["offset"], d["error"]) for d in dead) == \
        sorted((r.offset, r.error) for r in result.rejects + result.unusable)
    assert runner.stats["monitor"].dead_letters == len(result.rejects)
    assert runner.stats["learner"].dead_letters == len(result.unusable)
    judged = runner.stats["learner"].extra
    core = result.learner
    assert core is not None
    assert judged.get("seen", 0) == core.learner.seen and judged.get("unusable", 0) == core.unusable
