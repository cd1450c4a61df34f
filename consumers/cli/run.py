"""``driftline run CONFIG [--role ...]`` and ``driftline broker``: the services and their broker."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time

from driftline.consumers.core.checks import load_config
from driftline.consumers.errors import RoleFailed
from driftline.consumers.observe.telemetry import RoleTelemetry
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import connected
from driftline.stream.checkpoint import state_key
from driftline.stream.kafka.broker import run_broker_foreground

log = logging.getLogger("driftline")


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.metrics_port is not None:
        cfg = cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"port": args.metrics_port})})
    roles = ["monitor", "learner", "actions"] if args.role == "all" else [args.role]
    state_key(required=cfg.checkpoint.store == "kafka")  # before any role starts: one line if it is missing
    with connected(cfg) as bootstrap:
        runner = RoleRunner(cfg, bootstrap, roles, observer=RoleTelemetry)
        _stop_on_signals(runner.stop)
        runner.start()
        log.info("running %s against %s; Ctrl-C to stop", ", ".join(roles), bootstrap)
        while runner.alive() and not runner.stop.is_set():
            time.sleep(0.2)
        runner.shutdown()
    if runner.errors:
        raise RoleFailed(f"a role failed: {runner.errors[0]!r}")
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_broker(args: argparse.Namespace) -> int:
    return run_broker_foreground(args.listen)
