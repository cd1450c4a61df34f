"""``driftline backtest CONFIG --input FILE --output ALERTS.jsonl [--report R.html]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import load_config
from driftline.consumers.observe.report.page import from_backtest, write_report
from driftline.consumers.observe.stats import StatsRecorder


def register(sub: Any) -> None:
    p = sub.add_parser("backtest", help="run the detectors over a JSONL/CSV/Parquet file")
    p.add_argument("config")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--report", help="also write an HTML drift report to this file")
    p.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    recorder = StatsRecorder(cfg.stats.points) if args.report else None
    started = time.perf_counter()
    with Path(args.output).open("wb") as out:
        result = backtest(cfg, args.input, out, chunk_size=1000 if args.report else 5000,
                          on_chunk=recorder.backtest_chunk if recorder else None)
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
        path = write_report(from_backtest(cfg, result, recorder, f"backtest of {args.input}"), args.report)
        print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
