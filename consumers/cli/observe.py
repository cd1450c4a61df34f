"""``driftline report`` and ``driftline status``: what the live system saw, and sees now.

Both only look: they find the running system's broker (never start one), create no topic,
and say in one line within seconds when the broker cannot be reached. The report's modules
(Plotly) are imported by ``report`` alone.
"""

from __future__ import annotations

import argparse

from driftline.consumers.cli.output import check_output
from driftline.consumers.core.checks import load_config
from driftline.consumers.observe.status import show_status
from driftline.consumers.topics import for_reading, reading


def cmd_report(args: argparse.Namespace) -> int:
    from driftline.consumers.observe.report.live import live_report, parse_span
    from driftline.consumers.observe.report.page import write_report

    cfg = for_reading(load_config(args.config))
    span = parse_span(args.since)
    check_output(args.output, "--output", [args.config])
    with reading(cfg) as bootstrap:
        data = live_report(cfg, bootstrap, span)
    path = write_report(data, args.output)
    print(f"report of the last {args.since}: {len(data.alerts)} alerts, {data.events:,} events; "
          f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cfg = for_reading(load_config(args.config))
    with reading(cfg) as bootstrap:
        return show_status(cfg, bootstrap, watch=args.watch)
