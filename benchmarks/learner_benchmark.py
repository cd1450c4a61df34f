"""The learner's speed, side by side in one run, as ratios against references.

For a labelled stream with 5 and with 22 features (100,000 events by default) it prints:

- ``orjson``: ``orjson.loads`` over the file's lines (the raw cost of reading the input);
- ``river``: River's own loop over the same rows, ``predict_proba_one`` then ``learn_one`` on
  ``StandardScaler | LogisticRegression`` (the reference for the model's own cost);
- ``backtest``: ``driftline backtest``'s core with the default learner, past its setup, and
  with ``learner.sample: 0.25``.

    python benchmarks/learner_benchmark.py --events 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from river import linear_model, preprocessing

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest


def write_stream(path: Path, n: int, numeric: int, categorical: int, seed: int = 1) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    features = {f"x{i}": "numeric" for i in range(numeric)} | {f"c{i}": "categorical" for i in range(categorical)}
    values = rng.normal(size=(n, numeric))
    cats = rng.integers(0, 5, size=(n, categorical))
    labels = (values[:, 0] + 0.5 * values[:, 1 % numeric] + rng.normal(size=n) > 0).astype(int)
    with path.open("wb") as fh:
        for i in range(n):
            f = {f"x{j}": float(values[i, j]) for j in range(numeric)} | {f"c{j}": f"k{cats[i, j]}" for j in range(categorical)}
            fh.write(orjson.dumps({"id": f"e{i}", "ts": 1767225600000 + i * 10, "features": f,
                                   "label": int(labels[i])}) + b"\n")
    return features


def config(features: dict[str, str], sample: float = 1.0) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "bench", "features": features, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 2000},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"], "sample": sample},
    })


def rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def run(n: int, numeric: int, categorical: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        features = write_stream(path, n, numeric, categorical)
        lines = path.read_bytes().splitlines()
        started = time.perf_counter()
        docs = [orjson.loads(line) for line in lines]
        t_orjson = time.perf_counter() - started

        model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
        rows = [{k: v for k, v in d["features"].items() if isinstance(v, float)} for d in docs]
        ys = [d["label"] for d in docs]
        started = time.perf_counter()
        for x, y in zip(rows, ys):
            model.predict_proba_one(x)
            model.learn_one(x, y)
        t_river = time.perf_counter() - started

        small = Path(tmp) / "setup.jsonl"
        small.write_bytes(b"".join(line + b"\n" for line in lines[:2500]))
        out = {}
        for sample in (1.0, 0.25):
            cfg = config(features, sample)
            started = time.perf_counter()
            backtest(cfg, small)  # the setup: imports, the reference, the detectors' calibration
            t_setup = time.perf_counter() - started
            started = time.perf_counter()
            result = backtest(cfg, path)
            out[sample] = (time.perf_counter() - started - t_setup, result)
    name = f"{numeric + categorical} features ({numeric} numeric, {categorical} categorical), {n} events"
    print(f"\n{name}")
    print(f"  {'':34} {'events/s':>10}  {'x orjson':>8}")
    for label, seconds in (("orjson.loads", t_orjson), ("river loop (numeric features)", t_river),
                           ("backtest, learner", out[1.0][0]), ("backtest, learner.sample 0.25", out[0.25][0])):
        print(f"  {label:34} {rate(n, seconds):10,.0f}  {t_orjson / max(seconds, 1e-9):8.3f}")
    sampled = out[0.25][1].learner
    if sampled is not None:
        print(f"  (sample 0.25: {sampled.learner.seen} of {n} events scored and learned, {sampled.sampled_out} left out)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    run(args.events, 5, 0)
    run(args.events, 20, 2)


if __name__ == "__main__":
    main()
