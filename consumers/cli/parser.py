"""The ``driftline`` command's arguments: every command's parser, and nothing else.

It imports argparse alone, so that ``driftline --help``, a usage error and the start of every
command cost no import of SciPy, River, pandas or the detectors: a command's module (and what
it needs) is imported once its arguments are parsed, by the name its ``func`` default gives
(``"module:function"`` in :mod:`driftline.consumers.cli`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from driftline.stream.clock import parse_span

#: the fewest events a demo streams (a reference, then a drift at 1/4, 1/2 and 3/4 of them)
MIN_EVENTS = 1000


def build_parser(version: str | Callable[[], str]) -> argparse.ArgumentParser:
    """The parser; ``version`` (or the function giving it, called only for ``--version``)."""
    parser = argparse.ArgumentParser(prog="driftline", description="Streaming drift detection beside Kafka")
    parser.add_argument("--version", action=_Version, version=version)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging; tracebacks on errors")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    for command in (_init, _validate, _run, _backtest, _observe, _demo, _quarantine, _models):
        command(sub)
    return parser


def _init(sub: Any) -> None:
    p = sub.add_parser("init", help="write a configuration inferred from a topic's or a file's messages")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--topic", help="sample this topic from its start")
    source.add_argument("--input", help="sample this file: .jsonl, .csv, .parquet or .avro (a container file)")
    p.add_argument("--bootstrap-servers", default="embedded",
                   help="Kafka's host:port list (default: embedded, the broker `driftline broker` runs)")
    p.add_argument("--embedded-address", default="127.0.0.1:9092", help="where `driftline broker` listens")
    p.add_argument("--registry", help="a Schema Registry's URL, for a topic of Avro, JSON Schema or Protobuf messages")
    p.add_argument("--name", help="the stream's name (default: the topic's or the file's)")
    p.add_argument("--sample", type=int, default=5000, help="messages to sample (default 5000)")
    p.add_argument("--output", help="write the configuration here (default: standard output)")
    p.set_defaults(func="init:cmd_init")


def _validate(sub: Any) -> None:
    p = sub.add_parser("validate", help="check a YAML configuration")
    p.add_argument("config")
    p.set_defaults(func="validate:cmd_validate")


def _run(sub: Any) -> None:
    p = sub.add_parser("run", help="run the consumer services until SIGTERM/SIGINT")
    p.add_argument("config")
    p.add_argument("--role", choices=["monitor", "learner", "actions", "all"], default="all")
    p.add_argument("--metrics-port", type=port_number, default=env_port("DRIFTLINE_METRICS_PORT"),
                   help="serve /metrics, /healthz, /readyz (monitor on PORT, learner PORT+1, actions PORT+2; "
                        "0: free ports; default: $DRIFTLINE_METRICS_PORT, else metrics.port of the config)")
    p.set_defaults(func="run:cmd_run")

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    p.add_argument("--listen", default="127.0.0.1:9092")
    p.set_defaults(func="run:cmd_broker")


def _backtest(sub: Any) -> None:
    p = sub.add_parser("backtest", help="run the detectors over a JSONL/CSV/Parquet/Avro file")
    p.add_argument("config")
    p.add_argument("--input", required=True, help="events: .jsonl (or .json, .ndjson), .csv, .parquet or .avro (a container file)")
    p.add_argument("--labels", help="labels that arrive on their own, as on the labels topic: one "
                                    '{"id": ..., "label": ..., "ts": <when it became known>} per line (or CSV, Parquet)')
    p.add_argument("--output", required=True, help="the alerts, one JSON per line (written whole at the end)")
    p.add_argument("--report", help="also write an HTML drift report to this file")
    p.add_argument("--rejects", metavar="FILE",
                   help="write every unreadable line to FILE, one JSON per line: its 1-based line (CSV, Parquet: "
                        "row) number and the reason")
    p.set_defaults(func="backtest:cmd_backtest")


def _observe(sub: Any) -> None:
    p = sub.add_parser("report", help="an HTML drift report of the live system over a past span")
    p.add_argument("config")
    p.add_argument("--since", default="6h", type=span, help="span to report, e.g. 30m, 6h, 2d (default 6h)")
    p.add_argument("--output", default="report.html")
    p.set_defaults(func="observe:cmd_report")

    p = sub.add_parser("status", help="a terminal view of the running roles")
    p.add_argument("config")
    p.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    p.set_defaults(func="observe:cmd_status")


def _demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="synthetic stream with known drifts through every service")
    p.add_argument("--events", type=events, default=60_000,
                   help=f"events to stream (at least {MIN_EVENTS}; drifts at 1/4, 1/2 and 3/4 of them)")
    p.add_argument("--rate", type=rate, default=6000.0, help="events per second produced")
    p.add_argument("--report", default=None, help="where to write the HTML report (default: in the temp directory)")
    p.set_defaults(func="demo:cmd_demo")


def _quarantine(sub: Any) -> None:
    p = sub.add_parser("quarantine", help="list, release or purge quarantines")
    p.add_argument("op", choices=["list", "release", "purge"])
    p.add_argument("config")
    p.add_argument("--alert", help="the alert id whose quarantine to release or purge (default: all)")
    p.add_argument("--since", help="only quarantines started at or after (epoch ms or ISO-8601)")
    p.add_argument("--until", help="only quarantines started at or before (epoch ms or ISO-8601)")
    p.add_argument("--reason", choices=["command", "rebaseline"], default="command",
                   help="what ends it, recorded on the audit record: an operator's decision (default), or "
                        "rebaseline: the data since the drift is the new normal")
    p.set_defaults(func="quarantine:cmd_quarantine")


def _models(sub: Any) -> None:
    p = sub.add_parser("models", help="model versions, aliases and their history, one version's lineage")
    p.add_argument("op", choices=["list", "show"])
    p.add_argument("config")
    p.add_argument("version", nargs="?", type=int, help="the version to show (show)")
    p.set_defaults(func="models:cmd_models")


class _Version(argparse.Action):
    """``--version``: prints ``driftline VERSION`` and exits; the version is looked up only then
    (reading the installed package's metadata costs every other command time)."""

    def __init__(self, option_strings: list[str], version: str | Callable[[], str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit") -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)
        self.version = version

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        version = self.version() if callable(self.version) else self.version
        parser._print_message(f"driftline {version}\n", sys.stdout)
        parser.exit()


def port_number(text: str) -> int:
    """A TCP port (0 picks free ones), for argparse."""
    value = text.strip()
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(value)


def env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise SystemExit(f"driftline: ${name}={value!r} is not a port number (0 to 65535)")
    return int(value)


def events(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < MIN_EVENTS:
        raise argparse.ArgumentTypeError(f"{value}: the demo needs at least {MIN_EVENTS} events (a reference, "
                                         "then a drift at a quarter, a half and three quarters of them)")
    return value


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of events per second")
    return value


def span(text: str) -> str:
    """``--since`` checked as it is parsed: a wrong span is a usage error, before anything is touched."""
    try:
        parse_span(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
