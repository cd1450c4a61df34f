"""Speed benchmark: backtest with ``detectors: auto`` against parsing alone; KS against KSWIN.

    python benchmarks/speed_benchmark.py [--events 200000]

1. A JSONL file of ``--events`` events with 20 numeric and 2 categorical features and no label
   (so the backtest runs the monitor's detectors only, no River learner) is written to a
   temporary folder. Printed, side by side in one run, as a table: events/s of reading it with
   ``orjson.loads`` per line (the honest reference: reading and decoding alone, no columns, no
   checks), of reading and parsing it into checked columns (``read_events``, what backtest
   does before any detector), and of ``backtest`` with ``detectors: auto`` (ks, cusum and
   quality per numeric feature, chi2 and quality per categorical feature, pca over the
   numeric ones), in process; each as a share of orjson's speed.
2. Per-update time of driftline's windowed KS against River's KSWIN at the same window size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from river.drift import KSWIN

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.plan import plan
from driftline.detectors import KSWindow
from driftline.stream.replay import read_events


def write_events(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    num = rng.normal(size=(n, 20)).round(4)
    cats = rng.choice(np.array(["DE", "FR", "ES", "IT", "PL"]), size=(n, 2))
    with path.open("wb") as f:
        for i in range(n):
            features = {f"x{j}": float(num[i, j]) for j in range(20)}
            features |= {"c0": str(cats[i, 0]), "c1": str(cats[i, 1])}
            f.write(orjson.dumps({"id": f"e{i}", "ts": 1_767_225_600_000 + i, "features": features}) + b"\n")


def config() -> DriftlineConfig:
    features = {f"x{j}": "numeric" for j in range(20)} | {"c0": "categorical", "c1": "categorical"}
    return DriftlineConfig.model_validate(
        {"stream": {"name": "speed", "features": features}, "reference": {"first_n": 10_000}, "detectors": "auto"}
    )


def best_of(runs: int, *fns) -> list[float]:
    """The shortest time of each of ``fns`` over ``runs`` rounds, the functions taking turns in
    each round, so that a busy spell of the machine slows all of them rather than one."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, spent in zip(fns, times):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs (parse and backtest take turns)")
    args = ap.parse_args(argv)
    cfg = config()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write_events(path, args.events)
        schema = stream_schema(cfg)

        def orjson_only():
            with path.open("rb") as fh:
                for line in fh:
                    orjson.loads(line)

        def parse_only():
            for _ in read_events(path, schema, 5000):
                pass

        t_orjson, t_parse, t_backtest = best_of(args.runs, orjson_only, parse_only, lambda: backtest(cfg, path))
    n_det = len(plan(cfg))
    print(f"backtest, 20 numeric + 2 categorical features, no label (detectors only), {args.events:,} events, "
          f"best of {args.runs}")
    print("| what | events/s | share of orjson.loads |")
    print("|---|---|---|")
    for what, t in (("orjson.loads per line (reading alone)", t_orjson),
                    ("read_events (parsed into checked columns)", t_parse),
                    (f"backtest, detectors: auto ({n_det} detectors)", t_backtest)):
        print(f"| {what} | {args.events / t:,.0f} | {t_orjson / t:.2f} |")
    print()
    print("per-update time, windowed KS against River's KSWIN (same window; drift-free N(0,1) stream)")
    rng = np.random.default_rng(1)
    for window in (100, 1_000):
        x = rng.normal(size=20_000 + window)
        kswin_n = 5_000
        river = KSWIN(window_size=window, stat_size=max(window // 3, 10), seed=1, alpha=1e-6)
        start = time.perf_counter()
        for v in x[:kswin_n].tolist():
            river.update(v)
        t_river = (time.perf_counter() - start) / kswin_n
        for stride in (1, max(1, window // 10)):
            ours = KSWindow(reference_size=window, window=window, stride=stride, alpha_warning=None)
            ours.update(x[:window])  # the reference
            start = time.perf_counter()
            ours.update(x[window:])
            t_ours = (time.perf_counter() - start) / (x.size - window)
            print(f"  window {window:>5}: KSWIN {t_river * 1e6:8.1f} us/update, driftline ks stride {stride:>3} "
                  f"{t_ours * 1e6:8.3f} us/update  ->  {t_river / t_ours:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
