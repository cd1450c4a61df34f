"""``driftline run CONFIG [--role ...]`` and ``driftline broker``: the services and their broker."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from typing import Any

from driftline.consumers.core.checks import load_config
from driftline.consumers.errors import RoleFailed
from driftline.consumers.observe.telemetry import RoleTelemetry
from driftline.consumers.roles.runner import RoleRunner
from driftline.consumers.topics import connected
from driftline.stream.checkpoint import state_key
from driftline.stream.kafka.broker import run_broker_foreground

log = logging.getLogger("driftline")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the consumer services until SIGTERM/SIGINT")
    p.add_argument("config")
    p.add_argument("--role", choices=["monitor", "learner", "actions", "all"], default="all")
    p.add_argument("--metrics-port", type=port_number, default=_env_port("DRIFTLINE_METRICS_PORT"),
                   help="serve /metrics, /healthz, /readyz (monitor on PORT, learner PORT+1, actions PORT+2; "
                        "0: free ports; default: $DRIFTLINE_METRICS_PORT, else metrics.port of the config)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    p.add_argument("--listen", default="127.0.0.1:9092")
    p.set_defaults(func=cmd_broker)


def port_number(text: str) -> int:
    """A TCP port (0 picks free ones), for argparse."""
    value = text.strip()
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(value)


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise SystemExit(f"driftline: ${name}={value!r} is not a port number (0 to 65535)")
    return int(value)


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
