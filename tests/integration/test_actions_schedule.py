"""Scheduled retrains (APScheduler) on a real broker: audited outcomes, one at a time, clean stop."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from typing import Any

import pytest
from roles_support import fresh_config, produce, run_roles, wait_for

from driftline.consumers.config.model import ModelsConfig
from driftline.consumers.modelops.operations import open_registry
from driftline.learners.batch import train_river
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import ActionRecord, ModelEvent
from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

#: longer than the schedule's interval: triggers come while a retrain runs
TRAIN_SECONDS = 1.2
INTERVAL_SECONDS = 0.4
#: threads the schedule and the worker start; none may outlive the role
OWN_THREADS = ("APScheduler", "driftline-retrain", "ThreadPoolExecutor")


def slow_trainer(X: Any, y: Any, **params: Any) -> Any:
    """The default trainer, made slower than the schedule's interval."""
    time.sleep(TRAIN_SECONDS)
    return train_river(X, y, **params)


def _records(bootstrap: str, topic: str) -> list[ActionRecord]:
    return [ActionRecord.from_json(m.value) for m in read_topic(bootstrap, topic)]


def test_an_interval_schedule_retrains_one_at_a_time_and_stops_with_the_role(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(bootstrap_servers)
    models = ModelsConfig.model_validate({
        "batch": {"trainer": f"{__name__}:slow_trainer"},
        "retrain": {"window": 1500, "holdout": 0.3, "margin": 0.02, "schedule": {"interval_seconds": INTERVAL_SECONDS}},
    })
    cfg = cfg.model_copy(update={"models": models, "state_dir": str(tmp_path / "state")})
    # the concept flips at 2500: the champion trained on the reference (the first 2000) is stale
    events = list(generate(4000, [Drift("concept drift", "concept_drift", None, 2500, "flip")], seed=21))
    produce(bootstrap_servers, cfg.topics.events, events)
    before = {t.ident for t in threading.enumerate()}

    def outcomes() -> list[ActionRecord]:
        return [r for r in _records(bootstrap_servers, cfg.topics.actions)
                if r.action == "retrain" and r.status in ("promoted", "refused", "failed")]

    runner = run_roles(cfg, bootstrap_servers, ["actions"])  # no alert needed: the schedule asks
    try:
        wait_for(lambda: len(outcomes()) >= 2, timeout=60, what="two scheduled retrains' outcomes")
    finally:
        runner.shutdown()
    assert not runner.errors
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith(OWN_THREADS)]
    assert left == [], f"threads left running after the role stopped: {left}"

    records = [r for r in _records(bootstrap_servers, cfg.topics.actions) if r.action == "retrain"]
    assert all(r.alert_id is None and r.scope["source"] == "schedule" for r in records)
    done = [r for r in records if r.status in ("promoted", "refused", "failed")]
    # the first retrain (on the flipped concept) beats the stale champion; the second, on the
    # same latest window, cannot beat the first by the margin
    assert [r.status for r in done[:2]] == ["promoted", "refused"], [r.detail for r in done]
    for r in done[:2]:
        new, old = r.scope["challenger_metrics"], r.scope["champion_metrics"]
        assert {"accuracy", "score", "n"} <= set(new) and {"accuracy", "score", "n"} <= set(old)
        assert new["n"] == old["n"] == r.scope["holdout_rows"] == 450 and r.scope["train_rows"] == 1050
    promoted, refused = done[0], done[1]
    assert promoted.scope["champion"] == 1 and promoted.scope["challenger_metrics"]["score"] >= \
        promoted.scope["champion_metrics"]["score"] + 0.02
    assert refused.scope["champion"] == promoted.scope["challenger"]
    # one at a time: each retrain started after the previous one's outcome was recorded ...
    spans = sorted((r.scope["started_ms"], r.ts) for r in done)
    assert all(start >= prev_end for (_, prev_end), (start, _) in pairwise(spans)), spans
    # ... and the triggers that came meanwhile were skipped, saying why
    skipped = [r for r in records if r.status == "skipped"]
    assert skipped and all("already running or queued" in r.detail for r in skipped)
    assert len([r for r in records if r.status == "started"]) in (len(done), len(done) + 1)  # + one cut short

    registry = open_registry(cfg)
    assert registry.alias("champion") == promoted.scope["challenger"]
    assert registry.get(promoted.scope["challenger"]).created_by["kind"] == "schedule"
    events_out = [ModelEvent.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.models)]
    assert ("promoted", promoted.scope["challenger"]) in [(e.event, e.version) for e in events_out]
    assert ("refused", refused.scope["challenger"]) in [(e.event, e.version) for e in events_out]
