"""The ``driftline`` command: one parser, a module per command group, one error rule.

Every failure the operator can act on is a :class:`~driftline.stream.errors.DriftlineError`:
it is printed as one line saying what to do (a configuration's problems one per line), and
the command exits 1. Anything else is a defect: one line says so, and ``-v`` shows the
traceback in both cases.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from driftline.consumers.cli.parser import build_parser as _build_parser
from driftline.consumers.errors import DriftlineError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module, _, name = args.func.partition(":")  # the command's module, imported only now
    args.func = getattr(importlib.import_module(f"driftline.consumers.cli.{module}"), name)
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(quiet_kafka)
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


#: kafka-python's messages that do not mean a failure: its event loop's timing warnings, and a
#: connection closing while driftline stops or a short-lived reader closes (a metadata request
#: it had in flight is cancelled; each real failure is driftline's own line too)
_HARMLESS = ("blocking the event loop", "Transport closed for writes", "socket disconnected", "failed Cancelled",
             "(closed)>: Error receiving network data")


def quiet_kafka(record: logging.LogRecord) -> bool:
    """False for kafka-python's harmless warnings and errors (kept with -v)."""
    if not record.name.startswith("kafka") or record.levelno > logging.ERROR:
        return True
    message = record.getMessage()
    return not any(text in message for text in _HARMLESS)


def build_parser() -> argparse.ArgumentParser:
    return _build_parser(_version)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftline")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


if __name__ == "__main__":
    sys.exit(main())
