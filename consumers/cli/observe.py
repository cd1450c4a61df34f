"""``driftline report`` and ``driftline status``: what the live system saw, and sees now."""

from __future__ import annotations

import argparse
from typing import Any

from driftline.consumers.core.checks import load_config
from driftline.consumers.observe.report.live import live_report, parse_span
from driftline.consumers.observe.report.page import write_report
from driftline.consumers.observe.status import show_status
from driftline.consumers.topics import connected


def register(sub: Any) -> None:
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


def cmd_report(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    with connected(cfg) as bootstrap:
        data = live_report(cfg, bootstrap, parse_span(args.since))
    path = write_report(data, args.output)
    print(f"report of the last {args.since}: {len(data.alerts)} alerts, {data.events:,} events; "
          f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    with connected(cfg) as bootstrap:
        return show_status(cfg, bootstrap, watch=args.watch)
