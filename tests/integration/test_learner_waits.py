"""The learner waits for the judge, on a real broker, and loses nothing by it: with no judge it
reads only so far ahead, then waits; once a monitor (and its judge) runs, it learns every event,
none late, the same as when both run from the start."""

from __future__ import annotations

import time

import pytest
from roles_support import fresh_config, learned_all, produce, run_roles, run_until, wait_for

from driftline.consumers.roles import learner as learner_role
from driftline.stream.synthetic import generate

pytestmark = pytest.mark.integration

N = 12_000
PARTITIONS = 3


def test_a_learner_far_ahead_of_the_judge_waits_and_then_learns_every_event(bootstrap_servers: str,
                                                                           monkeypatch) -> None:
    monkeypatch.setattr(learner_role, "READ_AHEAD", 500)  # it waits after its first poll, not after 20,000
    cfg = fresh_config(bootstrap_servers, reference=1000, partitions=PARTITIONS)
    events = list(generate(N, [], seed=21))
    for p in range(PARTITIONS):
        produce(bootstrap_servers, cfg.topics.events, events[p::PARTITIONS], partition=p)
    learner = run_roles(cfg, bootstrap_servers, ["learner"])
    try:
        role = next(r for r in learner.roles if r.name == "learner")
        wait_for(lambda: role.core.order.judge is not None and role.core.order.judge.ahead > 500,
                 what="the learner to read past READ_AHEAD")
        time.sleep(3)  # no judge: it waits
        core = role.core
        assert core.order.judge is not None and core.order.judge.ahead < N  # it stopped reading
        assert learner.stats["learner"].extra.get("seen", 0) == 0  # and learned nothing ahead of the judge
        monitor = run_roles(cfg, bootstrap_servers, ["monitor"])
        try:
            wait_for(lambda: learned_all(learner, N), timeout=120, what="the learner to learn every event")
        finally:
            monitor.shutdown()
        seen, late, trained = core.learner.seen, core.late_events, core.learner.trained
    finally:
        learner.shutdown()
    assert not learner.errors
    assert seen == N and late == 0
    # the same as a learner that ran beside its judge from the start
    cfg2 = fresh_config(bootstrap_servers, reference=1000, partitions=PARTITIONS)
    for p in range(PARTITIONS):
        produce(bootstrap_servers, cfg2.topics.events, events[p::PARTITIONS], partition=p)
    both = run_until(cfg2, bootstrap_servers, ["monitor", "learner"], lambda r: learned_all(r, N),
                     "the learner beside its judge to learn every event", timeout=120)
    assert both.stats["learner"].extra["seen"] == seen and both.stats["learner"].extra["trained"] == trained
