"""Fuzz: random configurations, messages, values and label arrivals through parsing, the
monitor's engine, the learner's core and backtest (seeded, with a fixed budget of examples).

Nothing may raise; every message is judged or dead-lettered (exactly one), every field the
schema does not declare is counted, every labelled event is scored, routed as unusable, waiting
or expired, every label used, waiting or dead-lettered; and the same messages give the same
alerts and rejects however they are cut into polls, across a checkpoint, live or in backtest. The live part, on a
real broker, is ``tests/integration/test_fuzz_live.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from fuzz_support import (
    assert_learner_accounts,
    chunked,
    configs,
    hostile_values,
    learner_run,
    monitor_run,
    streams,
    undeclared,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import parse_config
from driftline.consumers.core.plan import monitor_plan
from driftline.consumers.errors import ConfigError

#: seeded and bounded: the whole file runs in well under a minute on one core
FUZZ = settings(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                       HealthCheck.data_too_large])


def ordered(alerts: Any) -> list[tuple[int, str, str]]:
    """Alerts by position, then detector (backtest orders alerts of one offset by detector)."""
    return sorted((a.position.offset, a.detector, a.alert_id) for a in alerts)


def file_lines(messages: list[bytes]) -> list[bytes]:
    """The messages a JSONL file can hold as they are (one line each: no line breaks inside)."""
    return [m for m in messages if b"\n" not in m and b"\r" not in m]


@settings(FUZZ, max_examples=60)
@given(st.data())
def test_monitor_accounts_for_every_message_and_backtest_agrees(data: Any) -> None:
    cfg: DriftlineConfig = data.draw(configs())
    messages, _ = data.draw(streams(cfg))
    messages = file_lines(messages)
    polls = chunked(data.draw, messages)
    run = monitor_run(cfg, polls)

    dead = [r.offset for r in run.dead]
    assert sorted(run.judged + dead) == list(range(len(messages)))  # each message in exactly one place
    assert all(r.error for r in run.dead)
    assert run.undeclared == undeclared(stream_schema(cfg), messages)

    whole = monitor_run(cfg, [messages] if messages else [])  # one poll or many: the same judgement
    restarted = monitor_run(cfg, polls, restart_at=data.draw(st.integers(0, max(len(polls) - 1, 0))))
    assert [a.alert_id for a in restarted.alerts] == [a.alert_id for a in run.alerts]  # a checkpoint keeps it all
    assert [a.alert_id for a in whole.alerts] == [a.alert_id for a in run.alerts]
    assert sorted((r.offset, r.error) for r in whole.dead) == sorted((r.offset, r.error) for r in run.dead)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"".join(m + b"\n" for m in messages))
        result = backtest(cfg, path, chunk_size=data.draw(st.integers(1, 200)))
    assert result.events == len(run.judged)
    assert sorted((r.offset, r.error) for r in result.rejects) == sorted((r.offset, r.error) for r in run.dead)
    monitor_detectors = {p.name for p in monitor_plan(cfg).planned}
    assert ordered(a for a in result.alerts if a.detector in monitor_detectors) == ordered(run.alerts)
    core = result.learner
    if core is not None:  # no label messages in a file: every event is scored, unusable, waiting or expired
        assert core.learner.seen + len(result.unusable) + core.pending + core.expired_events == result.events


@settings(FUZZ, max_examples=100)
@given(st.data())
def test_learner_accounts_for_every_event_and_label_in_any_arrival_order(data: Any) -> None:
    cfg: DriftlineConfig = data.draw(configs())
    messages, labels = data.draw(streams(cfg))
    event_polls = [("events", p) for p in chunked(data.draw, messages)]
    label_polls = [("labels", p) for p in chunked(data.draw, labels)]
    steps: list[tuple[str, list[bytes]]] = []
    while event_polls or label_polls:  # the two topics' polls interleaved at random, each in its order
        source = event_polls if not label_polls or (event_polls and data.draw(st.booleans())) else label_polls
        steps.append(source.pop(0))
    run = learner_run(cfg, steps)
    assert_learner_accounts(run)
    assert run.admitted + run.duplicates + run.invalid == len(messages)
    assert run.labels_valid + len(run.labels_dead) == len(labels)
    for reject in run.unusable:
        assert "cannot" in reject.error and reject.raw


BASE = {
    "kafka": {"bootstrap_servers": "embedded", "partitions": 1},
    "stream": {"name": "s", "features": {"a": "numeric", "c": "categorical"}, "label": {"field": "y", "type": "binary"},
               "dedupe_window": 10},
    "reference": {"first_n": 100},
    "false_alarms": {"drift": "1 per 1000000 events", "warning": "1 per 10000 events"},
    "learner": {"metric_window": 100, "max_pending": 10},
    "detectors": "auto",
    "policies": [{"when": {"kind": "data_drift"}, "do": ["quarantine"]}],
    "metrics": {"port": 9400},
}
KEYS = [("kafka", "partitions"), ("kafka", "bootstrap_servers"), ("kafka", "client"), ("stream", "name"),
        ("stream", "features"), ("stream", "label"), ("stream", "dedupe_window"), ("reference", "first_n"),
        ("false_alarms", "drift"), ("false_alarms", "warning"), ("learner", "metric_window"),
        ("learner", "max_pending"), ("detectors",), ("policies",), ("metrics", "port"), ("stream", "prediction")]


@settings(FUZZ, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(hostile_values(), st.sampled_from(
    [[], {}, "auto", "1 per 10 events", {"a": "numeric"}, {"field": "y"}, [{"name": "x", "method": "ks"}]]))),
    min_size=1, max_size=3))
def test_any_configuration_value_is_accepted_or_one_config_error(changes: list[tuple[tuple[str, ...], Any]]) -> None:
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        cfg = parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(message for _, _, message in exc.problems)
        return
    assert isinstance(cfg, DriftlineConfig)
    monitor_plan(cfg)  # a configuration that validates also builds
