"""Segments, attribution and fairness: where the errors rose, how soon, and at what cost.

Streams (``segments_streams.py``; 40,000 events, labels inline, the online learner on, the
change at 25,000, reference 10,000; every run goes through ``driftline backtest``'s code with
the learner's concept detector, the Bernoulli CUSUM, as the stream's one listed detector):

* ``confined``: a concept change in ``country: DE`` (10% of the traffic; its error rate
  ~0.09 -> ~0.38): the delay, in stream events, of the stream-level concept alert and of the
  one naming ``{"country": "DE"}``, and which came first;
* ``covariate``: ``x2`` moves into the region where labels are noisy (accuracy falls), ``x3``
  moves as much and costs nothing: the rank of ``x2`` in ``details.feature_ranking`` of the
  stream-level concept alert;
* ``fairness``: one gender's accuracy falls: whether ``fairness-accuracy-gender`` alerts, and when;
* ``none`` with 20 countries: false drift alarms of every learner detector (the stream's, the
  20 segments', the fairness gap's) against the budget (``--budget`` per event).

    python benchmarks/segments_benchmark.py --seeds 5 --attribution-seeds 10 --free-seeds 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import segments_streams as ss

from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import parse_config

DETECTOR = "[{name: concept-error, method: bernoulli, kind: concept_drift, options: {direction: up}}]"
N, SHIFT = 40_000, 25_000


def run(stream: ss.Stream, **kw: Any) -> list[Any]:
    cfg = parse_config(ss.config_text(detectors=DETECTOR, **kw))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(stream.raws) + b"\n")
        return backtest(cfg, path).alerts


def first(alerts: list[Any], test: Any) -> Any:
    found = [a for a in alerts if a.severity == "drift" and a.position.offset >= SHIFT and test(a)]
    return min(found, key=lambda a: a.position.offset) if found else None


def confined(seeds: int) -> list[tuple[Any, Any]]:
    out = []
    for seed in range(seeds):
        alerts = run(ss.make("confined", N, SHIFT, seed=seed))
        stream = first(alerts, lambda a: a.kind == "concept_drift" and a.segment is None)
        seg = first(alerts, lambda a: a.kind == "concept_drift" and a.segment == {"country": "DE"})
        wrong = [a for a in alerts if a.severity == "drift" and a.segment not in (None, {"country": "DE"})]
        out.append((None if stream is None else stream.position.offset - SHIFT,
                    None if seg is None else seg.position.offset - SHIFT, len(wrong)))
        print(f"  confined seed {seed}: stream-level {out[-1][0]}, segment DE {out[-1][1]}, "
              f"alerts naming another segment {len(wrong)}", flush=True)
    return out


def attribution(seeds: int) -> list[int | None]:
    ranks: list[int | None] = []
    for seed in range(seeds):
        alerts = run(ss.make("covariate", N, SHIFT, seed=seed))
        alert = first(alerts, lambda a: a.kind == "concept_drift" and a.segment is None)
        if alert is None:
            ranks.append(None)
        else:
            order = [e["feature"] for e in alert.details["feature_ranking"]]
            ranks.append(order.index(ss.CAUSE) + 1)
        print(f"  attribution seed {seed}: rank of {ss.CAUSE} {ranks[-1]}"
              + ("" if alert is None else f" (ranking {[e['feature'] for e in alert.details['feature_ranking']]})"),
              flush=True)
    return ranks


def fairness(seeds: int) -> list[int | None]:
    delays: list[int | None] = []
    for seed in range(seeds):
        alerts = run(ss.make("fairness", N, SHIFT, seed=seed), fairness="{attribute: gender, metric: accuracy}")
        alert = first(alerts, lambda a: a.detector == "fairness-accuracy-gender")
        early = [a for a in alerts if a.detector.startswith("fairness") and a.position.offset < SHIFT]
        delays.append(None if alert is None else alert.position.offset - SHIFT)
        print(f"  fairness seed {seed}: delay {delays[-1]}, before the change {len(early)}", flush=True)
    return delays


def drift_free(seeds: int, budget: str) -> tuple[int, int]:
    alarms, events = 0, 0
    for seed in range(seeds):
        stream = ss.make("none", N, SHIFT, countries=20, share=0.05, seed=100 + seed)
        alerts = run(stream, drift=budget, segments="{by: [country], max_segments: 20}",
                     fairness="{attribute: gender, metric: accuracy}")
        drifts = [a for a in alerts if a.severity == "drift"]
        alarms += len(drifts)
        events += N
        print(f"  drift-free seed {seed}: {len(drifts)} false drift alarms "
              f"({sorted({str(a.segment or a.detector) for a in drifts})})", flush=True)
    return alarms, events


def overhead(repeats: int, block_ms: int) -> None:
    """The backtest's time with segments (and fairness) against without, side by side; the
    learner judges its errors per ``block_ms`` of learning time (events are a second apart)."""
    stream = ss.make("confined", N, SHIFT, seed=0)
    block = f"{{error_block_ms: {block_ms}}}"
    cases = {"no segments": {"segments": "{by: []}", "learner": block}, "segments by country": {"learner": block},
             "segments by country + fairness": {"fairness": "{attribute: gender}", "learner": block}}
    best = {name: float("inf") for name in cases}
    for _ in range(repeats):
        for name, kw in cases.items():
            started = time.perf_counter()
            run(stream, **kw)
            best[name] = min(best[name], time.perf_counter() - started)
    for name, seconds in best.items():
        print(f"  {name}: {N / seconds:,.0f} events/s, {seconds / best['no segments']:.2f}x the time without")


def _median(values: list[Any]) -> str:
    known = [v for v in values if v is not None]
    return "-" if not known else f"{np.median(known):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--attribution-seeds", type=int, default=10)
    parser.add_argument("--free-seeds", type=int, default=10)
    parser.add_argument("--budget", default="1 per 20000 events")
    parser.add_argument("--overhead", type=int, default=0, metavar="REPEATS",
                        help="only time the backtest with and without segments, best of REPEATS")
    parser.add_argument("--block-ms", type=int, default=200, help="with --overhead: learner.error_block_ms")
    args = parser.parse_args()
    if args.overhead:
        overhead(args.overhead, args.block_ms)
        return
    conf = confined(args.seeds)
    ranks = attribution(args.attribution_seeds)
    fair = fairness(args.seeds)
    alarms, events = drift_free(args.free_seeds, args.budget)
    rate = float(parse_config(ss.config_text(drift=args.budget)).false_alarms.drift)
    stream_d, seg_d = [c[0] for c in conf], [c[1] for c in conf]
    ratios = [s / g for s, g in zip(stream_d, seg_d) if s is not None and g]
    firsts = sum(g is not None and (s is None or g < s) for s, g in zip(stream_d, seg_d))
    print()
    print("| measure | result |")
    print("|---|---|")
    print(f"| confined concept change (DE, 10% of traffic): stream-level delay, median of {args.seeds} | "
          f"{_median(stream_d)} events (missed in {stream_d.count(None)}) |")
    print(f"| ... segment DE's delay, median | {_median(seg_d)} events (missed in {seg_d.count(None)}) |")
    print(f"| ... stream-level / segment delay, per seed | {', '.join(f'{r:.1f}x' for r in ratios) or '-'} |")
    print(f"| ... the segment's alert first | {firsts} of {args.seeds} |")
    print(f"| ... alerts naming another segment | {sum(c[2] for c in conf)} |")
    print(f"| covariate shift of {ss.CAUSE} (decoy {ss.DECOY} shifts as much): ranked first | "
          f"{ranks.count(1)} of {len(ranks)} (ranks {ranks}) |")
    print(f"| fairness gap (gender F's accuracy -0.25 x flips): alerted | "
          f"{sum(d is not None for d in fair)} of {len(fair)}, median delay {_median(fair)} events |")
    print(f"| drift-free, 20 segments + fairness + stream: false drift alarms | {alarms} in {events} events; "
          f"budget {rate * events:.1f} ({args.budget}) |")


if __name__ == "__main__":
    main()
