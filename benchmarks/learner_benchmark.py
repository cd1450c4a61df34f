"""The learner's speed, side by side in one run, as ratios against references.

For a labelled stream with 5 and with 22 features (100,000 events by default) it prints:

- ``orjson``: ``orjson.loads`` over the file's lines (the raw cost of reading the input);
- ``river``: River's own loop over the same rows, ``predict_proba_one`` then ``learn_one`` on
  ``StandardScaler | LogisticRegression`` (the reference for the model's own cost), and
  ``predict_proba_many`` then ``learn_many`` on pandas frames of 256 rows;
- ``backtest``: ``driftline backtest``'s core with ``StandardScaler | LogisticRegression``,
  past its setup, one by one (``models.minibatch: 1``) and in mini-batches of 256, each with
  and without ``learner.sample: 0.25``;
- ``learner core, live polls``: the learner role's work per poll of 500 events (parse, join,
  steps, the concept detectors; not the monitor's detectors), past its setup, without the
  broker, one by one and in mini-batches.

    python benchmarks/learner_benchmark.py --events 100000

``--concept SEEDS`` instead measures detection on the learner's errors, one by one and in
mini-batches of 256: seeded streams of 5 numeric features whose concept changes at event
10,000 (x1's effect on the label reversed and doubled, 1 to -2: mild; x0's, 2 to -4: strong), the delay of the first concept
drift alert after the change and the alerts before it (false alarms).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from river import linear_model, preprocessing

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.stream.events import parse_events


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


def config(features: dict[str, str], sample: float = 1.0, minibatch: int = 256) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "bench", "features": features, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 2000},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"], "sample": sample},
        "models": {"minibatch": minibatch},
    })


def rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def river_loops(docs: list[dict], batch: int = 256) -> tuple[float, float]:
    """Seconds of River's own loops over the numeric features: one by one, and in frames of ``batch``."""
    rows = [{k: v for k, v in d["features"].items() if isinstance(v, float)} for d in docs]
    ys = [d["label"] for d in docs]
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    started = time.perf_counter()
    for x, y in zip(rows, ys):
        model.predict_proba_one(x)
        model.learn_one(x, y)
    t_one = time.perf_counter() - started
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    started = time.perf_counter()
    for at in range(0, len(rows), batch):
        frame = pd.DataFrame(rows[at:at + batch])
        y = pd.Series(ys[at:at + batch], dtype=bool)
        if at:
            model.predict_proba_many(frame)
        model.learn_many(frame, y)
    return t_one, time.perf_counter() - started


def timed_backtest(cfg: DriftlineConfig, small: Path, path: Path) -> tuple[float, object]:
    """The backtest's seconds past its setup (a run over the first lines, subtracted)."""
    started = time.perf_counter()
    backtest(cfg, small)  # the setup: imports, the reference, the detectors' calibration
    t_setup = time.perf_counter() - started
    started = time.perf_counter()
    result = backtest(cfg, path)
    return time.perf_counter() - started - t_setup, result


def live_polls(cfg: DriftlineConfig, lines: list[bytes], poll: int = 500) -> float:
    """Seconds of the learner role's work on polls of ``poll`` events (parse, add, step), past
    its setup (a run over the first 2,500 lines, subtracted, as for the backtest)."""
    return _polls(cfg, lines, poll) - _polls(cfg, lines[:2500], poll)


def _polls(cfg: DriftlineConfig, lines: list[bytes], poll: int) -> float:
    started = time.perf_counter()
    schema = stream_schema(cfg)
    core = LearnerCore(cfg, learner_plan(cfg), live=False)
    for at in range(0, len(lines), poll):
        chunk = lines[at:at + poll]
        batch, _ = parse_events(schema, 0, list(range(at, at + len(chunk))), chunk)
        core.add_events(batch)
        core.step()
    return time.perf_counter() - started


def run(n: int, numeric: int, categorical: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        features = write_stream(path, n, numeric, categorical)
        lines = path.read_bytes().splitlines()
        started = time.perf_counter()
        docs = [orjson.loads(line) for line in lines]
        t_orjson = time.perf_counter() - started
        t_river, t_river_many = river_loops(docs)
        del docs
        small = Path(tmp) / "setup.jsonl"
        small.write_bytes(b"".join(line + b"\n" for line in lines[:2500]))
        rows: list[tuple[str, float]] = [("orjson.loads", t_orjson), ("river loop, one by one (numeric)", t_river),
                                         ("river loop, *_many of 256 (numeric)", t_river_many)]
        notes = []
        for minibatch in (1, 256):
            for sample in (1.0, 0.25):
                seconds, result = timed_backtest(config(features, sample, minibatch), small, path)
                name = f"backtest, minibatch {minibatch}" + (f", sample {sample}" if sample < 1 else "")
                rows.append((name, seconds))
                learner = result.learner  # type: ignore[attr-defined]
                if learner is not None and sample < 1:
                    notes.append(f"(minibatch {minibatch}, sample {sample}: {learner.learner.seen} of {n} events "
                                 f"scored, {learner.sampled_out} left out)")
            rows.append((f"learner core, live polls, minibatch {minibatch}", live_polls(config(features, 1.0, minibatch),
                                                                                      lines)))
    name = f"{numeric + categorical} features ({numeric} numeric, {categorical} categorical), {n} events"
    print(f"\n{name}")
    print(f"  {'':42} {'events/s':>10}  {'x orjson':>8}")
    for label, seconds in rows:
        print(f"  {label:42} {rate(n, seconds):10,.0f}  {t_orjson / max(seconds, 1e-9):8.3f}")
    for note in notes:
        print(f"  {note}")


CHANGE_AT = 10_000


def write_concept_stream(path: Path, n: int, reversed_feature: int, seed: int) -> dict[str, str]:
    """5 numeric features; the label's logit ``2 x0 + x1`` until ``CHANGE_AT``, then with
    ``x{reversed_feature}``'s effect reversed and doubled."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 5))
    coef = np.array([2.0, 1.0, 0.0, 0.0, 0.0])
    after = coef.copy()
    after[reversed_feature] *= -2
    logit = np.where(np.arange(n)[:, None] < CHANGE_AT, values @ coef[:, None], values @ after[:, None])[:, 0]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    with path.open("wb") as fh:
        for i in range(n):
            f = {f"x{j}": float(values[i, j]) for j in range(5)}
            fh.write(orjson.dumps({"id": f"e{i}", "ts": 1767225600000 + i * 10, "features": f,
                                   "label": int(labels[i])}) + b"\n")
    return {f"x{j}": "numeric" for j in range(5)}


def concept(seeds: int, n: int = 20_000) -> None:
    print(f"\nconcept change at event {CHANGE_AT} of {n}; delay of the first concept drift alert after it "
          "(missed: none by the end), alerts before it")
    for feature, strength in ((1, "mild (x1: 1 -> -2)"), (0, "strong (x0: 2 -> -4)")):
        for minibatch in (1, 256):
            delays: list[int | None] = []
            early = 0
            errors_after = []
            for seed in range(1, seeds + 1):
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "events.jsonl"
                    features = write_concept_stream(path, n, feature, seed)
                    result = backtest(config(features, 1.0, minibatch), path)
                drifts = [int(a.position.offset) for a in result.alerts
                          if a.kind == "concept_drift" and a.severity == "drift"]
                early += sum(1 for d in drifts if d < CHANGE_AT)
                late = [d - CHANGE_AT for d in drifts if d >= CHANGE_AT]
                delays.append(late[0] if late else None)
                assert result.learner is not None
                errors_after.append(1.0 - (result.learner.learner.metric or 0.0))
            found = sorted(d for d in delays if d is not None)
            median = found[len(found) // 2] if found else None
            print(f"  {strength:22} minibatch {minibatch:3}: delays {delays}, median {median}, "
                  f"missed {delays.count(None)}, false alarms {early}, "
                  f"error rate of the last 1000 {np.mean(errors_after):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--concept", type=int, metavar="SEEDS", help="detection on the learner's errors instead")
    args = parser.parse_args()
    if args.concept:
        concept(args.concept)
        return
    run(args.events, 5, 0)
    run(args.events, 20, 2)


if __name__ == "__main__":
    main()
