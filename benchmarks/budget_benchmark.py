"""False alarms of ``detectors: auto`` on drift-free streams, against the budget that promised them.

    python benchmarks/budget_benchmark.py [--seeds 8] [--events 1000000] [--budget 1e-6]

Each seed is a stream of ``--events`` drift-free events with 20 numeric features (10 lognormal,
10 normal rounded to one decimal, each 1% missing), 2 categorical ones (6 levels, one rare) and
0.1% unreadable messages, fed in batches of 20,000 to the detectors that ``plan.build`` makes
for the budget. Printed: each seed's false alarms by detector, then the total against the
budget's expectation and its Poisson 99.9% bound.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np
from scipy.stats import poisson

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.plan import build, plan

BATCH = 20_000
LEVELS = np.array(["a", "b", "c", "d", "e", "rare"], dtype=object)
P_LEVELS = np.array([0.4, 0.25, 0.15, 0.1, 0.095, 0.005])


def columns(rng: np.random.Generator, scales: np.ndarray, n: int) -> dict[str, np.ndarray]:
    cols = {f"x{i}": rng.lognormal(0, 0.5, n) * scales[i] for i in range(10)}
    cols |= {f"x{i}": rng.normal(0, scales[i], n).round(1) for i in range(10, 20)}
    for i in range(20):
        cols[f"x{i}"][rng.random(n) < 0.01] = np.nan
    cols |= {name: rng.choice(LEVELS, n, p=P_LEVELS) for name in ("c0", "c1")}
    cols["messages"] = (rng.random(n) < 0.001).astype(float)  # 1 = an unreadable message
    return cols


def false_alarms(seed: int, events: int, budget: float) -> tuple[list, Counter]:
    """(the planned detectors, false drift alarms by detector name) of one seeded stream."""
    features = {f"x{i}": "numeric" for i in range(20)} | {"c0": "categorical", "c1": "categorical"}
    cfg = DriftlineConfig.model_validate({
        "stream": {"name": "budget", "features": features},
        "reference": {"first_n": 10_000},
        "false_alarms": {"drift": budget, "warning": None},
    })
    planned = plan(cfg)
    detectors = build(cfg, planned)
    rng = np.random.default_rng(100 + seed)
    scales = rng.uniform(0.5, 3.0, 20)
    alarms: Counter = Counter()
    for _ in range(0, events, BATCH):
        cols = columns(rng, scales, BATCH)
        for p, det in zip(planned, detectors):
            if p.target == "messages":
                values = cols["messages"]
            else:
                values = np.column_stack([cols[f] for f in p.features]) if p.features else cols[p.feature]
            alarms[p.name] += sum(d.severity == "drift" for d in det.update(values))
    return planned, +alarms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--budget", type=float, default=1e-6, help="false alarms per event, whole stream")
    args = ap.parse_args(argv)
    started = time.time()
    total = 0
    for seed in range(args.seeds):
        _, alarms = false_alarms(seed, args.events, args.budget)
        total += sum(alarms.values())
        print(f"seed {seed}: {sum(alarms.values())} false alarms {dict(alarms) or ''}", flush=True)
    expected = args.seeds * args.events * args.budget
    print(f"\ntotal {total} false alarms over {args.seeds * args.events:,} events; the budget expects at most "
          f"{expected:g} (Poisson 99.9% bound {poisson.ppf(0.999, expected):.0f})  ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
