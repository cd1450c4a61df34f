"""``driftline backtest CONFIG --input FILE [--labels FILE] --output ALERTS.jsonl [--report R.html] [--rejects R.jsonl]``.

Everything is checked before the backtest starts: the configuration, that the input can be
read, and that each output's directory exists and no output is the input. The alerts are
written to a temporary file renamed into place at the end; on Ctrl-C they stay as
``<output>.partial`` and the command exits 130. Unreadable lines are counted, the first ten
printed with their 1-based line (CSV, Parquet: row) numbers, every one of them written to
``--rejects``. A file of which no event could be read exits 1, its output not written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from driftline.consumers.cli.output import AtomicOutput, check_distinct, check_output, write_atomically
from driftline.consumers.cli.progress import Progress, estimate_events
from driftline.consumers.core.backtest import BacktestResult, backtest
from driftline.consumers.core.checks import load_config
from driftline.consumers.errors import InputError
from driftline.consumers.observe.report.page import from_backtest, write_report
from driftline.consumers.observe.stats import StatsRecorder
from driftline.stream.events import Reject
from driftline.stream.replay import check_readable

#: unreadable lines printed on stderr; ``--rejects FILE`` has them all
SHOWN_REJECTS = 10
#: characters of a rejected line kept in the rejects file
REJECT_RAW_CHARS = 2000


def cmd_backtest(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    kind = check_readable(args.input)
    inputs = [args.input, args.config]
    if args.labels:
        check_readable(args.labels)
        if cfg.stream.label is None or not cfg.learner.enabled:
            raise InputError(f"--labels {args.labels}: the configuration has no learner to use them",
                             hint="declare stream.label (and keep learner.enabled) or leave --labels out")
        inputs.append(args.labels)
    outputs = {"--output": args.output, "--report": args.report, "--rejects": args.rejects}
    for option, path in outputs.items():
        if path:
            check_output(path, option, inputs)
    check_distinct(outputs)
    word = "line" if kind == "jsonl" else "row"

    recorder = StatsRecorder(cfg.stats.points) if args.report else None
    output = AtomicOutput(args.output)
    started = time.perf_counter()
    try:
        with output.open() as out:
            progress = Progress(out, estimate_events(args.input, kind))

            def on_chunk(*seen: Any) -> None:
                progress.chunk(*seen)
                if recorder is not None:
                    recorder.backtest_chunk(*seen)

            try:
                result = backtest(cfg, args.input, progress, chunk_size=1000 if args.report else 5000,  # type: ignore[arg-type]
                                  on_chunk=on_chunk, labels=args.labels)
            finally:
                progress.done()
    except KeyboardInterrupt:
        partial = output.keep_partial()
        print(f"driftline backtest: interrupted; the alerts found so far are in {partial} (partial), "
              f"{args.output} was not written", file=sys.stderr)
        return 130
    except BaseException:
        output.discard()
        raise
    seconds = time.perf_counter() - started
    if result.events == 0:
        output.discard()
        if args.rejects:
            write_rejects(args.rejects, result)
        _show_rejects(result, word, args.rejects)
        if result.rejects:
            raise InputError(f"{args.input}: none of its {len(result.rejects)} {word}s could be read; "
                             f"{args.output} was not written",
                             hint=f"see the reasons above{'' if args.rejects else ' (all of them with --rejects FILE)'}")
        raise InputError(f"{args.input}: no event in the file; {args.output} was not written")
    output.commit()
    if args.rejects:
        write_rejects(args.rejects, result)
    unusable = f"; {len(result.unusable)} events the learner could not use" if result.unusable else ""
    if args.labels:
        unusable += f"; {result.labels} labels read, {len(result.label_rejects)} turned away"
    print(
        f"{result.events} events in {seconds:.2f} s ({result.events / max(seconds, 1e-9):,.0f} events/s): "
        f"{len(result.alerts)} alerts written to {args.output}; {len(result.rejects)} unreadable {word}s; "
        f"{result.quarantined} events held by quarantines{unusable}"
    )
    _show_rejects(result, word, args.rejects)
    if args.report:
        path = write_report(from_backtest(cfg, result, recorder, f"backtest of {args.input}"), args.report)
        print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _all_rejects(result: BacktestResult) -> list[tuple[str, Reject]]:
    rows = [("read", r) for r in result.rejects] + [("learner", r) for r in result.unusable]
    return sorted(rows, key=lambda row: row[1].offset) + [("labels", r) for r in sorted(result.label_rejects,
                                                                                        key=lambda r: r.offset)]


def _show_rejects(result: BacktestResult, word: str, rejects_file: str | None) -> None:
    rows = _all_rejects(result)
    for stage, reject in rows[:SHOWN_REJECTS]:
        what = {"read": "", "learner": " (the learner could not use it)", "labels": " of the labels file"}[stage]
        print(f"  {word} {reject.offset + 1}{what}: {reject.error}", file=sys.stderr)
    if len(rows) > SHOWN_REJECTS:
        where = f"all of them are in {rejects_file}" if rejects_file else "--rejects FILE writes all of them"
        print(f"  ... and {len(rows) - SHOWN_REJECTS} more ({where})", file=sys.stderr)


def write_rejects(path: str | Path, result: BacktestResult) -> Path:
    """Every reject as one JSON line: ``line`` (1-based; a CSV's or Parquet's data row), ``reason``,
    ``stage`` (``read``: unreadable or a duplicate; ``learner``: the model could not use it;
    ``labels``: a line of the labels file, unreadable or joined to no event) and the start of
    the ``raw`` text."""
    def lines() -> Any:
        for stage, reject in _all_rejects(result):
            raw = (reject.raw or b"").decode("utf-8", errors="replace")
            doc = {"line": reject.offset + 1, "reason": reject.error, "stage": stage, "raw": raw[:REJECT_RAW_CHARS]}
            yield orjson.dumps(doc) + b"\n"

    return write_atomically(path, lines())
