"""The ``driftline`` command: validate, run, backtest, broker, demo, quarantine, models."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from driftline.consumers.config.model import ConfigError, DriftlineConfig, load_config


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
    p.add_argument("--metrics-port", type=int, default=_env_port("DRIFTLINE_METRICS_PORT"),
                   help="serve /metrics, /healthz, /readyz (monitor on PORT, learner PORT+1, actions PORT+2; "
                        "0: free ports; default: $DRIFTLINE_METRICS_PORT, else metrics.port of the config)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("backtest", help="run the detectors over a JSONL/CSV/Parquet file")
    p.add_argument("config")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--report", help="also write an HTML drift report to this file")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("report", help="an HTML drift report of the live system over a past span")
    p.add_argument("config")
    p.add_argument("--since", default="6h", help="span to report, e.g. 30m, 6h, 2d (default 6h)")
    p.add_argument("--output", default="report.html")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("status", help="a terminal view of the running roles")
    p.add_argument("config")
    p.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    p.add_argument("--listen", default="127.0.0.1:9092")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("demo", help="synthetic stream with known drifts through every service")
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--rate", type=float, default=6000.0, help="events per second produced")
    p.add_argument("--report", default=None, help="where to write the HTML report (default: in the temp directory)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("quarantine", help="list, release or purge quarantines")
    p.add_argument("op", choices=["list", "release", "purge"])
    p.add_argument("config")
    p.add_argument("--alert", help="the alert id whose quarantine to release or purge (default: all)")
    p.add_argument("--since", help="only quarantines started at or after (epoch ms or ISO-8601)")
    p.add_argument("--until", help="only quarantines started at or before (epoch ms or ISO-8601)")
    p.add_argument("--reason", choices=["command", "rebaseline"], default="command",
                   help="what ends it, recorded on the audit record: an operator's decision (default), or "
                        "rebaseline: the data since the drift is the new normal")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("models", help="model versions, aliases and their history, one version's lineage")
    p.add_argument("op", choices=["list", "show"])
    p.add_argument("config")
    p.add_argument("version", nargs="?", type=int, help="the version to show (show)")
    p.set_defaults(func=cmd_models)
    return parser


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise SystemExit(f"driftline: ${name}={value!r} is not a port number")
    return int(value)


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    from driftline.consumers.core.plan import plan

    detectors = plan(cfg)
    print(f"OK: {args.config} (stream {cfg.stream.name!r}, {len(cfg.stream.features)} features, "
          f"{len(detectors)} detectors, {len(cfg.policies)} policies)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from driftline.consumers.roles.runner import RoleRunner
    from driftline.consumers.topics import connected

    cfg = load_config(args.config)
    if args.metrics_port is not None:
        cfg = cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"port": args.metrics_port})})
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
    from driftline.consumers.core.backtest import backtest
    from driftline.consumers.observe.stats import StatsRecorder

    cfg = load_config(args.config)
    recorder = StatsRecorder(cfg.stats.points) if args.report else None
    started = time.perf_counter()
    with Path(args.output).open("wb") as out:
        result = backtest(cfg, args.input, out, chunk_size=1000 if args.report else 5000, recorder=recorder)
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
    if args.report:
        from driftline.consumers.observe.report.page import from_backtest, write_report

        path = write_report(from_backtest(cfg, result, recorder, f"backtest of {args.input}"), args.report)
        print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from driftline.consumers.observe.report.live import live_report, parse_span
    from driftline.consumers.observe.report.page import write_report
    from driftline.consumers.topics import connected

    cfg = load_config(args.config)
    with connected(cfg) as bootstrap:
        data = live_report(cfg, bootstrap, parse_span(args.since))
    path = write_report(data, args.output)
    print(f"report of the last {args.since}: {len(data.alerts)} alerts, {data.events:,} events; "
          f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from driftline.consumers.observe.status import show_status
    from driftline.consumers.topics import connected

    cfg = load_config(args.config)
    with connected(cfg) as bootstrap:
        return show_status(cfg, bootstrap, watch=args.watch)


def cmd_broker(args: argparse.Namespace) -> int:
    from driftline.stream.broker import run_broker_foreground

    return run_broker_foreground(args.listen)


def cmd_demo(args: argparse.Namespace) -> int:
    from driftline.consumers.cli.demo import DEFAULT_REPORT, run_demo

    run_demo(events=args.events, rate=args.rate, report=args.report or DEFAULT_REPORT)
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from driftline.consumers.cli.quarantine import end, list_quarantines

    cfg: DriftlineConfig = load_config(args.config)
    if args.op == "list":
        return list_quarantines(cfg)
    return end(cfg, args.op, args.alert, args.since, args.until, condition=args.reason)


def cmd_models(args: argparse.Namespace) -> int:
    from driftline.consumers.cli.models import list_models, show_model

    cfg: DriftlineConfig = load_config(args.config)
    if args.op == "list":
        return list_models(cfg)
    if args.version is None:
        print("driftline models show: give a VERSION", file=sys.stderr)
        return 2
    return show_model(cfg, args.version)


if __name__ == "__main__":
    sys.exit(main())
