"""Label-free performance estimation: estimate against realised, alert delay, false alarms.

Streams (``performance_streams.py``; 30,000 events, shift at 15,000, only the reference's first
10,000 events carry a label):

* (a) ``covariate``: the inputs move toward the decision boundary, accuracy ~0.90 -> ~0.75;
* (b) ``covariate_neutral``: the inputs and the predictions drift, accuracy does not;
* (c) ``concept``: the boundary moves, the inputs do not (CBPE cannot see it); run a second
  time with every label inline and the online learner on, to show the concept detector on
  realised errors sees it once labels come;
* ``none``: drift-free; and ``regression``: the counterpart of (a) (MAE up by about 90%).

Each runs through ``driftline backtest``'s code (the monitor's detectors with their share of
the one false-alarm budget). Per stream it prints the mean absolute error of the estimated
accuracy (regression: the relative error of the estimated MAE) against the realised one per
window of 1,000 events after the reference, the delay of the first ``performance`` alert in
events after the shift, and the ``performance`` alerts on streams where accuracy does not
fall. With NannyML importable from ``--nannyml-python`` (a separate virtualenv: NannyML is no
dependency of driftline) it prints NannyML's CBPE error on the same windows.

    python benchmarks/performance_benchmark.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import performance_streams as ps

from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import parse_config

WINDOW = 1000
REFERENCE = 10_000


def run(stream: ps.Stream, task: str, extra: str = "") -> tuple[list[Any], list[Any]]:
    """(alerts, the performance watch's closed windows) of a backtest over ``stream``."""
    cfg = parse_config(ps.config_text(task, first_n=REFERENCE, extra=extra))
    engines: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(stream.raws) + b"\n")
        result = backtest(cfg, path, on_chunk=lambda monitor, *_: engines.append(monitor) if not engines else None)
    watch = engines[0].performance
    return result.alerts, list(watch.history) if watch is not None else []


def realised(stream: ps.Stream, task: str) -> np.ndarray:
    n = len(stream.truth) // WINDOW * WINDOW
    if task == "regression":
        return np.abs(stream.truth - stream.prediction)[:n].reshape(-1, WINDOW).mean(axis=1)
    return (stream.truth == stream.prediction)[:n].reshape(-1, WINDOW).mean(axis=1)


def first_delay(alerts: list[Any], shift_at: int | None, kind: str = "performance") -> int | None:
    offsets = [a.position.offset for a in alerts if a.kind == kind and a.severity == "drift"]
    after = [o - shift_at for o in offsets if shift_at is not None and o >= shift_at]
    return min(after) if after else None


def nannyml_error(stream: ps.Stream, python: str) -> float | None:
    """NannyML's CBPE (accuracy, chunks of 1,000) on the same stream, fitted on the same
    reference, in its own interpreter; its MAE against realised accuracy after the reference."""
    code = r"""
import json, sys
import numpy as np, pandas as pd, nannyml as nml
d = json.load(sys.stdin)
df = pd.DataFrame({"score": d["score"], "pred": d["pred"], "y": d["y"]})
ref, ana = df.iloc[:d["ref"]], df.iloc[d["ref"]:].drop(columns="y")
est = nml.CBPE(y_pred_proba="score", y_pred="pred", y_true="y", problem_type="classification_binary",
               metrics=["accuracy"], chunk_size=d["window"])
est.fit(ref)
out = est.estimate(ana).filter(period="analysis").to_df()
print(json.dumps([float(v) for v in out[("accuracy", "value")]]))
"""
    events = [json.loads(r) for r in stream.raws]
    doc = {"score": [e["proba"] for e in events], "pred": [e["prediction"] for e in events],
           "y": stream.truth.tolist(), "ref": REFERENCE, "window": WINDOW}
    try:
        out = subprocess.run([python, "-c", code], input=json.dumps(doc), capture_output=True, text=True,
                             timeout=600, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  NannyML failed: {exc}", file=sys.stderr)
        return None
    estimated = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    real = realised(stream, "binary")[REFERENCE // WINDOW:]
    k = min(len(estimated), len(real))
    return float(np.abs(estimated[:k] - real[:k]).mean())


def estimate_error(windows: list[Any], stream: ps.Stream, task: str) -> tuple[float, float]:
    """(MAE of the estimate, mean relative error) over the windows after the reference."""
    real = realised(stream, task)
    metric = "mae" if task == "regression" else "accuracy"
    pairs = [(w.estimated[metric], real[w.index]) for w in windows
             if w.index >= REFERENCE // WINDOW and w.index < len(real)]
    est, rl = np.array(pairs).T
    return float(np.abs(est - rl).mean()), float((np.abs(est - rl) / rl).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--nannyml-python", default="/tmp/nannyml-venv/bin/python",
                        help="an interpreter with nannyml installed (a throwaway virtualenv)")
    args = parser.parse_args()
    has_nannyml = Path(args.nannyml_python).exists() and subprocess.run(
        [args.nannyml_python, "-c", "import nannyml"], capture_output=True, check=False).returncode == 0
    if not has_nannyml:
        print(f"NannyML: could not be imported from {args.nannyml_python}; its column is left out\n")
    rows = []
    for kind in ("covariate", "covariate_neutral", "concept", "none", "regression"):
        task = "regression" if kind == "regression" else "binary"
        maes, rels, delays, alarms, nanny, levels = [], [], [], 0, [], []
        for seed in range(args.seeds):
            stream = ps.regression(seed=seed) if task == "regression" else ps.classification(kind, seed=seed)
            alerts, windows = run(stream, task)
            mae, rel = estimate_error(windows, stream, task)
            real = realised(stream, task)
            levels.append((real[:15].mean(), real[15:].mean()))
            maes.append(mae)
            rels.append(rel)
            delays.append(first_delay(alerts, stream.shift_at))
            alarms += sum(a.kind == "performance" and a.severity == "drift" for a in alerts)
            if has_nannyml and task == "binary":
                nanny.append(nannyml_error(stream, args.nannyml_python))
        row = {"stream": kind, "mae": float(np.mean(maes)), "relative": float(np.mean(rels)),
               "delays": delays, "alerts": alarms, "levels": np.mean(levels, axis=0).round(3).tolist(),
               "nannyml": float(np.mean([v for v in nanny if v is not None])) if any(
                   v is not None for v in nanny) else None}
        rows.append(row)
        print_row(row, args.seeds)
    concept = []
    for seed in range(args.seeds):  # (c) again, labels inline and the learner on: its concept detector
        stream = ps.classification("concept", seed=seed, labelled=30_000)
        alerts = concept_run(stream)
        concept.append((first_delay(alerts, stream.shift_at), first_delay(alerts, stream.shift_at, "concept_drift")))
    print(f"(c) with every label inline and the learner on: performance alert delay {[c[0] for c in concept]}, "
          f"concept_drift alert delay {[c[1] for c in concept]} (events after the shift)")


def concept_run(stream: ps.Stream) -> list[Any]:
    cfg = parse_config(ps.config_text("binary", first_n=REFERENCE).replace("learner: {enabled: false}",
                                                                         "learner: {enabled: true}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(stream.raws) + b"\n")
        return backtest(cfg, path).alerts


def print_row(row: dict[str, Any], seeds: int) -> None:
    what = "MAE |est - real| MAE, relative" if row["stream"] == "regression" else "MAE |est - real| accuracy"
    value = f"{row['mae']:.4f} ({row['relative']:.1%})" if row["stream"] == "regression" else f"{row['mae']:.4f}"
    nanny = "" if row["nannyml"] is None else f"; NannyML CBPE: {row['nannyml']:.4f}"
    name = "MAE" if row["stream"] == "regression" else "accuracy"
    print(f"{row['stream']:<18} realised {name} before/after event 15,000: {row['levels'][0]} -> {row['levels'][1]}; "
          f"{what}: {value}{nanny}; first performance alert after the shift: "
          f"{row['delays']}; performance alerts (drift) over {seeds} streams: {row['alerts']}")


if __name__ == "__main__":
    main()
