"""The ``driftline`` command: one parser, a module per command group, one error rule.

Every failure the operator can act on is a :class:`~driftline.stream.errors.DriftlineError`:
it is printed as one line saying what to do (a configuration's problems one per line), and
the command exits 1. Anything else is a defect: one line says so, and ``-v`` shows the
traceback in both cases.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from driftline.consumers.cli import backtest, demo, init, models, observe, quarantine, run, validate
from driftline.consumers.errors import DriftlineError

#: the command groups, in the order ``driftline --help`` lists them
COMMANDS = (init, validate, run, backtest, observe, demo, quarantine, models)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except DriftlineError as exc:
        if verbose:
            traceback.print_exc()
        print(f"driftline {args.command}: {exc.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a defect: said in one line, the traceback with -v
        if verbose:
            traceback.print_exc()
        print(f"driftline {args.command}: unexpected error {type(exc).__name__}: {exc} "
              "(run with -v for the traceback, and please report it)", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Streaming drift detection beside Kafka")
    parser.add_argument("--version", action="version", version=f"driftline {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging; tracebacks on errors")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    for command in COMMANDS:
        command.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftline")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


if __name__ == "__main__":
    sys.exit(main())
