"""Run roles against a Kafka cluster (or the embedded broker) until told to stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.roles.actions import ActionsRole
from driftline.consumers.roles.judge import JudgeRole
from driftline.consumers.roles.learner import LearnerRole
from driftline.consumers.roles.loop import Role, RoleStats
from driftline.consumers.roles.monitor import MonitorRole
from driftline.consumers.roles.observer import ObserverFactory

log = logging.getLogger("driftline")

#: how often ``start`` looks whether a role failed or a stop was asked for while it waits
READY_POLL_SECONDS = 0.1

ROLES: dict[str, type[Role]] = {
    "monitor": MonitorRole, "judge": JudgeRole, "learner": LearnerRole, "actions": ActionsRole,
}


def expand(roles: Sequence[str]) -> list[str]:
    """The roles to run: every monitor instance also stands by as the stream's judge."""
    out = list(dict.fromkeys(roles))
    if "monitor" in out and "judge" not in out:
        out.insert(out.index("monitor") + 1, "judge")
    return out


class RoleRunner:
    """Roles in threads of this process; the first one to fail stops them all."""

    def __init__(self, cfg: DriftlineConfig, bootstrap: str, roles: Sequence[str],
                 observer: ObserverFactory | None = None):
        self.stop = threading.Event()
        self.roles = [ROLES[name](cfg, bootstrap, observer=observer) for name in expand(roles)]
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._ready = threading.Semaphore(0)

    @property
    def stats(self) -> dict[str, RoleStats]:
        return {role.name: role.stats for role in self.roles}

    def start(self, wait_ready: float = 60.0) -> RoleRunner:
        """Start every role; return once all are consuming, or one failed, or ``stop`` was set
        (a signal), or ``wait_ready`` seconds have passed. Never waits on a role that is gone."""
        for role in self.roles:
            thread = threading.Thread(target=self._run, args=(role,), name=f"driftline-{role.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + wait_ready
        ready = 0
        while ready < len(self.roles) and not self.stop.is_set() and self.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("not every role was consuming after %.0f s; going on", wait_ready)
                break
            if self._ready.acquire(timeout=min(remaining, READY_POLL_SECONDS)):
                ready += 1
        return self

    def _run(self, role: Role) -> None:
        try:
            role.run(self.stop, ready=self._ready.release)
        except BaseException as exc:  # a failed role stops the others
            log.exception("%s failed: %s", role.name, exc)
            self.errors.append(exc)
            self.stop.set()

    def wait(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        self.wait(timeout)

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)
