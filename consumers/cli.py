"""The ``driftline`` command: validate, run, backtest, broker, demo, quarantine."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from driftline.consumers.config import ConfigError, DriftlineConfig, load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Streaming drift detection beside Kafka")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a YAML configuration")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run the consumer services until SIGTERM/SIGINT")
    p.add_argument("config")
    p.add_argument("--role", choices=["monitor", "learner", "actions", "all"], default="all")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("backtest", help="run the detectors over a JSONL/CSV/Parquet file")
    p.add_argument("config")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    p.add_argument("--listen", default="127.0.0.1:9092")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("demo", help="synthetic stream with known drifts through every service")
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--rate", type=float, default=6000.0, help="events per second produced")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("quarantine", help="list or release quarantines")
    p.add_argument("op", choices=["list", "release"])
    p.add_argument("config")
    p.add_argument("--alert", help="the alert id whose quarantine to release (default: all)")
    p.set_defaults(func=cmd_quarantine)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    from driftline.consumers.plan import plan

    detectors = plan(cfg)
    print(f"OK: {args.config} (stream {cfg.stream.name!r}, {len(cfg.stream.features)} features, "
          f"{len(detectors)} detectors, {len(cfg.policies)} policies)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from driftline.consumers.runner import RoleRunner, connected

    cfg = load_config(args.config)
    roles = ["monitor", "learner", "actions"] if args.role == "all" else [args.role]
    with connected(cfg) as bootstrap:
        runner = RoleRunner(cfg, bootstrap, roles)
        _stop_on_signals(runner.stop)
        runner.start()
        logging.getLogger("driftline").info("running %s against %s; Ctrl-C to stop", ", ".join(roles), bootstrap)
        while runner.alive() and not runner.stop.is_set():
            time.sleep(0.2)
        runner.shutdown()
    if runner.errors:
        print(f"driftline: a role failed: {runner.errors[0]!r}", file=sys.stderr)
        return 1
    return 0


def _stop_on_signals(stop) -> None:  # type: ignore[no-untyped-def]
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_backtest(args: argparse.Namespace) -> int:
    from driftline.consumers.backtest import backtest

    cfg = load_config(args.config)
    started = time.perf_counter()
    with Path(args.output).open("wb") as out:
        result = backtest(cfg, args.input, out)
    seconds = time.perf_counter() - started
    print(
        f"{result.events} events in {seconds:.2f} s ({result.events / max(seconds, 1e-9):,.0f} events/s): "
        f"{len(result.alerts)} alerts written to {args.output}; {len(result.rejects)} unreadable lines; "
        f"{result.quarantined} events held by quarantines"
    )
    for reject in result.rejects[:10]:
        print(f"  line {reject.offset}: {reject.error}", file=sys.stderr)
    if len(result.rejects) > 10:
        print(f"  ... and {len(result.rejects) - 10} more unreadable lines", file=sys.stderr)
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from driftline.stream.broker import run_broker_foreground

    return run_broker_foreground(args.listen)


def cmd_demo(args: argparse.Namespace) -> int:
    from driftline.consumers.demo import run_demo

    run_demo(events=args.events, rate=args.rate)
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from driftline.consumers.quarantine_cli import list_quarantines, release

    cfg: DriftlineConfig = load_config(args.config)
    if args.op == "list":
        return list_quarantines(cfg)
    return release(cfg, args.alert)


if __name__ == "__main__":
    sys.exit(main())
