"""Issue 14, item 7: ``RoleRunner.start`` never waits on a role that is gone.

On main ``driftline run`` could hang for 60 s: one role failed at start (releasing the ready
semaphore once) before the others had connected, and ``start`` waited for a second release
that never came; Ctrl-C (which sets the runner's stop event) did not end the wait either.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from driftline.consumers.roles import runner as runner_module
from driftline.consumers.roles.loop import RoleStats
from driftline.consumers.roles.runner import RoleRunner


class Failing:
    name = "monitor"

    def __init__(self, *args: Any, **kwargs: Any):
        self.stats = RoleStats(self.name)

    def run(self, stop: threading.Event, ready: Any = None) -> None:
        raise RuntimeError("bad client settings")


class Connecting(Failing):
    """A role still connecting: it never becomes ready, and returns (not ready) once stopped."""

    name = "learner"

    def run(self, stop: threading.Event, ready: Any = None) -> None:
        stop.wait(120)


@pytest.fixture
def roles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "ROLES",
                        {"monitor": Failing, "judge": Connecting, "learner": Connecting, "actions": Connecting})


def test_a_role_failing_at_start_ends_the_wait_at_once(roles: None) -> None:
    runner = RoleRunner(None, "127.0.0.1:1", ["monitor", "learner", "actions"])  # type: ignore[arg-type]
    started = time.monotonic()
    runner.start(wait_ready=60)
    assert time.monotonic() - started < 5
    assert runner.stop.is_set() and "bad client settings" in repr(runner.errors[0])
    runner.shutdown(5)
    assert not runner.alive()


def test_a_stop_while_waiting_ends_the_wait(roles: None) -> None:
    runner = RoleRunner(None, "127.0.0.1:1", ["learner", "actions"])  # type: ignore[arg-type]
    threading.Timer(0.5, runner.stop.set).start()  # what the SIGINT handler of `driftline run` does
    started = time.monotonic()
    runner.start(wait_ready=60)
    assert time.monotonic() - started < 5
    runner.shutdown(5)


def test_ready_roles_are_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    class Ready(Failing):
        def run(self, stop: threading.Event, ready: Any = None) -> None:
            time.sleep(0.3)
            ready()
            stop.wait(120)

    monkeypatch.setattr(runner_module, "ROLES", {"monitor": Ready, "judge": Ready, "learner": Ready})
    runner = RoleRunner(None, "x", ["monitor", "learner"])  # type: ignore[arg-type]
    started = time.monotonic()
    runner.start(wait_ready=60)
    assert 0.25 < time.monotonic() - started < 5 and not runner.stop.is_set()
    runner.shutdown(5)
