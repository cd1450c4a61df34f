"""What a role's loop tells an observer, and the observer that listens to nothing.

The loop does not build its telemetry: whoever starts a role hands it a factory of
:class:`RoleObserver` (the command line hands
:class:`~driftline.consumers.observe.telemetry.RoleTelemetry`, which serves Prometheus
metrics and health and publishes stats snapshots). The hooks run on the role's own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Protocol


class RoleObserver(Protocol):
    """Hooks the role loop calls; an observer must never raise out of them."""

    @property
    def port(self) -> int | None:
        """The port serving the observer's HTTP endpoint, if it serves one."""

    def open(self, stack: ExitStack, producer: Any, consumer: Any) -> None:
        """The role's clients are open: start what needs them; close it on ``stack``."""

    def observe(self, partition: int, engine: Any, batch: Any, alerts: list[Any]) -> None:
        """A partition's batch was judged by ``engine`` and raised ``alerts`` (the monitor)."""

    def after_poll(self, records: dict[Any, list[Any]], seconds: float) -> None:
        """A poll (empty or not) was handled in ``seconds``."""


class NoObserver:
    """The observer of a role started without telemetry (library use, benchmarks)."""

    port: int | None = None

    def open(self, stack: ExitStack, producer: Any, consumer: Any) -> None:
        pass

    def observe(self, partition: int, engine: Any, batch: Any, alerts: list[Any]) -> None:
        pass

    def after_poll(self, records: dict[Any, list[Any]], seconds: float) -> None:
        pass


#: builds a role's observer from the role (its name, configuration, counters and engines)
ObserverFactory = Callable[[Any], RoleObserver]
