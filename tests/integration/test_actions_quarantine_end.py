"""A quarantine ends on its condition (quiet detector, rebaseline, command), once, never silently."""

from __future__ import annotations

import time

import orjson
import pytest
from roles_support import committed, fresh_config, produce, run_roles, wait_for, write_config

from driftline.consumers.cli.main import main
from driftline.consumers.config.model import DriftlineConfig, ModelsConfig
from driftline.consumers.roles.loop import group_id
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import ActionRecord
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

SHIFT_AT = 3000
QUARANTINE = [{"when": {"kind": "data_drift", "detector": "ks-income"}, "do": ["quarantine"]}]


def _config(bootstrap: str, tmp_path, quiet: int) -> DriftlineConfig:
    cfg = fresh_config(bootstrap, policies=QUARANTINE)
    models = ModelsConfig.model_validate({"quarantine_quiet_events": quiet})
    return cfg.model_copy(update={"models": models, "state_dir": str(tmp_path / "state")})


def _records(bootstrap: str, cfg: DriftlineConfig, action: str) -> list[ActionRecord]:
    return [r for r in (ActionRecord.from_json(m.value) for m in read_topic(bootstrap, cfg.topics.actions))
            if r.action == action]


def test_a_quarantine_ends_once_its_detector_has_been_quiet(bootstrap_servers: str, tmp_path) -> None:
    cfg = _config(bootstrap_servers, tmp_path, quiet=500)
    events = list(generate(5000, [Drift("income mean shift", "data_drift", "income", SHIFT_AT, "x1.5")], seed=5))
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: bool(_records(bootstrap_servers, cfg, "release")), what="the quiet end")
        # the learner holds and releases on the alert itself; the actions role records the quarantine on its own time
        wait_for(lambda: bool(_records(bootstrap_servers, cfg, "quarantine")), what="the quarantine's record")
        # the learner reads action records between polls, also when nothing new comes
        wait_for(lambda: runner.stats["learner"].extra.get("replayed", 0) > 0, what="the replay of the held events")
    finally:
        runner.shutdown()
    assert not runner.errors
    (quarantine,) = _records(bootstrap_servers, cfg, "quarantine")
    (release,) = _records(bootstrap_servers, cfg, "release")
    assert release.alert_id == quarantine.alert_id and release.status == "released"
    assert release.scope["condition"] == "quiet" and "quiet for 500 events" in release.detail
    # two roles' wall clocks do not order them; the event times do
    assert release.scope["from_ts"] == quarantine.scope["from_ts"] < release.scope["until_ts"]


def test_a_rebaseline_by_command_ends_it_and_the_quiet_check_then_ends_nothing(bootstrap_servers: str, tmp_path) -> None:
    cfg = _config(bootstrap_servers, tmp_path, quiet=3500)  # due only once the second batch is judged
    first = list(generate(4000, [Drift("income mean shift", "data_drift", "income", SHIFT_AT, "x1.5")], seed=5))
    produce(bootstrap_servers, cfg.topics.events, first)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: bool(_records(bootstrap_servers, cfg, "quarantine")), what="the quarantine")
        (quarantine,) = _records(bootstrap_servers, cfg, "quarantine")
        config = write_config(cfg, tmp_path / "driftline.yaml")
        assert main(["quarantine", "release", config, "--reason", "rebaseline"]) == 0
        # more of the new normal (still shifted, new ids): the detector stays quiet past the quiet time
        more = list(generate(3000, [Drift("income mean shift", "data_drift", "income", 0, "x1.5")], seed=6,
                             start_ts=first[-1]["ts"] + 10))
        for i, e in enumerate(more):
            e["id"] = f"later-{i}"
        produce(bootstrap_servers, cfg.topics.events, more)
        learner = group_id(cfg, "learner")
        wait_for(lambda: committed(bootstrap_servers, learner, cfg.topics.events) >= len(first) + len(more),
                 what="the learner to judge every event")
        time.sleep(2.5)  # the quiet check runs every second while the worker is idle
    finally:
        runner.shutdown()
    assert not runner.errors
    releases = _records(bootstrap_servers, cfg, "release")
    assert [(r.alert_id, r.scope["condition"]) for r in releases] == [(quarantine.alert_id, "rebaseline")]
    assert "on rebaseline" in releases[0].detail


def test_held_events_keyed_and_timed_by_their_records_are_replayed_whole(bootstrap_servers: str, tmp_path) -> None:
    """Ids in the message keys, event times in the records: the quarantine's copies keep both,
    so the replay reads every held event back (none turned away for a missing id or time)."""
    from driftline.stream.kafka.clients import make_producer

    cfg = _config(bootstrap_servers, tmp_path, quiet=500)
    stream = cfg.stream.model_copy(update={"id_source": "key", "timestamp_source": "record"})
    cfg = cfg.model_copy(update={"stream": stream})
    events = list(generate(5000, [Drift("income mean shift", "data_drift", "income", SHIFT_AT, "x1.5")], seed=5))
    producer = make_producer(bootstrap_servers, linger_ms=10)
    for e in events:
        body = {k: v for k, v in e.items() if k not in ("id", "ts")}
        producer.send(cfg.topics.events, orjson.dumps(body), key=e["id"].encode(), timestamp_ms=e["ts"])
    producer.flush()
    producer.close()
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: runner.stats["learner"].extra.get("replayed", 0) > 0, what="the replay of the held events")
        wait_for(lambda: runner.stats["learner"].extra.get("due", 1) == 0
                 and runner.stats["learner"].consumed >= len(events), what="the learner to take every step")
    finally:
        runner.shutdown()
    assert not runner.errors
    learner = runner.stats["learner"]
    assert learner.quarantined >= 500 and learner.extra["replayed"] >= learner.quarantined - 1  # the last: at its step
    # every event learned, the held ones once released (the last few waiting in the mini-batch)
    assert learner.extra["trained"] + learner.extra["minibatch_pending"] == len(events)
