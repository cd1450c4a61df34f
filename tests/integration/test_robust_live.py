"""Issue 14 on a real broker: items 1 (a missing value, an unusable event), 6 (read-only
commands) and 7 (``driftline run`` when a role fails at start)."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
import yaml
from river import linear_model
from roles_support import fresh_config, produce, run_roles, wait_for, write_config

from driftline.consumers.cli.main import main
from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.consumers.roles.learner import LearnerRole
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.records import read_topic
from driftline.stream.synthetic import generate

pytestmark = pytest.mark.integration


class Refuses(linear_model.LogisticRegression):
    """A user's model that cannot take an event without ``age``."""

    def predict_proba_one(self, x: dict[str, Any], **kwargs: Any) -> dict[Any, float]:
        if "age" not in x:
            raise KeyError("age")
        return super().predict_proba_one(x, **kwargs)


def with_learner(cfg: DriftlineConfig, **learner: Any) -> DriftlineConfig:
    data = cfg.model_dump(mode="json", by_alias=True)
    data["learner"].update(learner)
    return DriftlineConfig.model_validate(data)


def dead_letters(bootstrap: str, cfg: DriftlineConfig) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in read_topic(bootstrap, cfg.topics.deadletter)]


def test_one_null_or_absent_value_stops_no_role(bootstrap_servers: str) -> None:
    cfg = fresh_config(bootstrap_servers, reference=500)
    events = list(generate(3000, [], seed=11))
    events[1000]["features"]["income"] = None
    del events[1500]["features"]["country"]
    produce(bootstrap_servers, cfg.topics.events, events)
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    try:
        wait_for(lambda: runner.stats["learner"].extra.get("seen", 0) >= 3000 or runner.errors,
                 what="the learner to score every event")
        assert runner.alive() and not runner.stop.is_set()
    finally:
        runner.shutdown()
    assert not runner.errors
    assert runner.stats["learner"].extra["seen"] == 3000 and runner.stats["learner"].extra["unusable"] == 0
    assert dead_letters(bootstrap_servers, cfg) == []


def test_an_event_the_model_cannot_use_is_dead_lettered_also_after_a_restart(bootstrap_servers: str,
                                                                               tmp_path) -> None:
    cfg = with_learner(fresh_config(bootstrap_servers, reference=500), model=f"{__name__}.Refuses", preprocessing=[])
    events = list(generate(3000, [], seed=12))
    del events[1000]["features"]["age"]
    late = events[2000].pop("label")  # this one's label comes on the labels topic
    del events[2000]["features"]["age"]
    produce(bootstrap_servers, cfg.topics.events, events)
    produce(bootstrap_servers, cfg.topics.labels, [{"id": events[2000]["id"], "label": late, "ts": events[2000]["ts"] + 500}])
    for attempt in range(2):  # and again after a restart: it is never lost, the roles never stop
        runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner"])
        try:
            if attempt == 0:
                wait_for(lambda: runner.stats["learner"].extra.get("unusable", 0) >= 2 or runner.errors,
                         what="the two unusable events")
                wait_for(lambda: runner.stats["learner"].extra.get("seen", 0) >= 2998 or runner.errors,
                         what="the learner to score the others")
            else:  # resumed past everything (nothing new to read): it runs, and has nothing to redo
                time.sleep(2)
                assert runner.alive() and not runner.stop.is_set()
        finally:
            runner.shutdown()
        assert not runner.errors
        if attempt == 0:
            assert runner.stats["learner"].extra["seen"] == 2998 and runner.stats["learner"].dead_letters == 2
        dead = [d for d in dead_letters(bootstrap_servers, cfg) if d["source"]["topic"] == cfg.topics.events]
        assert {d["source"]["offset"] for d in dead} == {1000, 2000}
        assert all("the model cannot use this event (KeyError: 'age')" in d["error"] for d in dead)
        late_one = next(d for d in dead if d["source"]["offset"] == 2000)  # joined with its late label
        assert orjson.loads(base64.b64decode(late_one["raw"]))["label"] == late

    path = tmp_path / "events.jsonl"  # backtest routes the inline-labelled one the same way
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    assert [r.offset for r in backtest(cfg, path).unusable] == [1000]


def _topics(bootstrap: str) -> set[str]:
    consumer = make_consumer(bootstrap, group_id=None)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def _config_on_new_topics(bootstrap: str, tmp_path, embedded: bool = False) -> tuple[DriftlineConfig, str]:
    cfg = fresh_config(bootstrap)
    data = cfg.model_dump(mode="json", by_alias=True)
    suffix = data["topics"]["events"].rsplit("-", 1)[1]
    data["topics"] = {k: f"never-{k}-{suffix}" for k in data["topics"]}  # none of them exists
    data["stats"]["topic"] = f"never-stats-{suffix}"
    if embedded:
        data["kafka"]["bootstrap_servers"] = "embedded"
        data["kafka"]["embedded_address"] = bootstrap.split(",")[0]
    cfg = DriftlineConfig.model_validate(data)
    return cfg, write_config(cfg, tmp_path / "cfg.yaml")


@pytest.mark.parametrize("embedded", [False, True], ids=["address", "embedded"])
def test_read_only_commands_create_no_topic(bootstrap_servers: str, tmp_path, capsys, embedded: bool) -> None:
    if embedded and "," in bootstrap_servers:
        pytest.skip("embedded names one address")
    cfg, path = _config_on_new_topics(bootstrap_servers, tmp_path, embedded)
    before = _topics(bootstrap_servers)
    assert main(["status", path]) == 0
    assert "are the roles running?" in capsys.readouterr().out
    assert main(["report", path, "--since", "1h", "--output", str(tmp_path / "r.html")]) == 0
    assert "0 alerts" in capsys.readouterr().out
    assert main(["quarantine", "list", path]) == 0
    assert "no active quarantine" in capsys.readouterr().out
    for op in ("release", "purge"):
        assert main(["quarantine", op, path]) == 1
        err = capsys.readouterr().err
        assert f"the topic {cfg.topics.actions!r} does not exist" in err and "driftline run" in err
    with pytest.raises(SystemExit):
        main(["report", path, "--since", "banana"])
    assert _topics(bootstrap_servers) == before


def test_run_with_a_role_failing_at_start_ends_at_once(bootstrap_servers: str, tmp_path, monkeypatch) -> None:
    cfg = fresh_config(bootstrap_servers)

    def fails(self: LearnerRole, stack: Any) -> None:
        raise RuntimeError("the learner cannot start")

    monkeypatch.setattr(LearnerRole, "open", fails)
    started = time.monotonic()
    runner = run_roles(cfg, bootstrap_servers, ["monitor", "learner", "actions"])
    assert time.monotonic() - started < 20
    runner.shutdown()
    assert runner.errors and "the learner cannot start" in repr(runner.errors[0])


def test_run_with_a_bad_client_key_is_one_line_at_once(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(bootstrap_servers)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["kafka"]["client"] = {"bogus_key": 1}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run([sys.executable, "-m", "driftline.consumers.cli.main", "run", str(path), "--role", "all"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "kafka.client" in proc.stderr and "'bogus_key'" in proc.stderr and "Traceback" not in proc.stderr
