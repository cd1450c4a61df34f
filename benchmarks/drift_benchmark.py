"""Drift benchmark: driftline's detectors next to River's, on streams with known drift points.

    python benchmarks/drift_benchmark.py [--seeds 3] [--clean-events 100000]

Every stream starts with ``PRE`` drift-free events (driftline takes the first 10,000 as its
reference; River's detectors learn from the stream as they go) and drifts at event ``PRE``.
A drift counts as detected when the first drift alarm at or after ``PRE`` comes within
``HORIZON`` events; its delay is that alarm's index minus ``PRE``. Alarms before ``PRE`` and
every alarm on the long drift-free streams are false alarms, reported per 100,000 events.

driftline runs what ``detectors: auto`` builds for the column (numeric feature: ks, cusum,
cusum-fast, quality; categorical: chi2, quality_cat; two numeric features: also pca; the
learner's 0/1 errors: the one ``learner.concept_detector``, by default the Bernoulli CUSUM
watching a rise; cusum, adwin, ddm and page_hinkley are shown as the alternatives), calibrated
to a budget of 1 false alarm per 1,000,000 events for that stream.
River runs ADWIN, KSWIN and PageHinkley per feature with their defaults (an alarm of any
counts for "River (any)"), and DDM and ADWIN on the error stream.

Data quality: a numeric feature whose missing values rise or whose values leave the
reference's range, a categorical feature whose missing values rise. The column's whole auto set
runs, calibrated together, and only the ``data_quality`` alarms (``quality``/``quality_cat``)
count, in the row "driftline auto (quality)". River has no such detector.
Label and prediction drift: the stream declares ``stream.label`` (or ``stream.prediction``) and
runs auto's planned detectors with that target (chi2 on the classes of a multiclass target, fed
as the strings "0", "1", ...; the Bernoulli CUSUM on a binary target's 0/1 values; ks and cusum
on a regression target), calibrated to the budget. River's ADWIN runs on
the 0/1 binary stream, and ADWIN, KSWIN and PageHinkley on the regression target.

The last table puts each River detector head to head with driftline auto on exactly the drifts
that River detector runs on: drifts found, median delays over the same drifts, false alarms
(before the drifts and on the drift-free streams of the same kinds).

``--equal-rate`` compares instead, case by case, driftline's median delay with the best River or
MOA single detector's at equal false-alarm rates (driftline's budget set to that detector's
realised rate on drift-free streams): see ``benchmarks/equal_rate.py``. MOA's detectors run
through CapyMOA (``pip install -e '.[bench]'``, with a Java runtime); without it, River alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from river import drift as rdrift

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.plan import build, plan

PRE, POST, HORIZON = 14_000, 8_000, 8_000
BUDGET = "1 per 1000000 events"


@dataclass
class Scenario:
    name: str
    kind: str  # numeric | categorical | errors | multivariate | a key of QUALITY_KINDS or TARGET_KINDS
    make: Callable[[np.random.Generator], np.ndarray]  # values (or rows) with drift at PRE


def _shift(f):
    def make(rng):
        before = rng.normal(0, 1, PRE)
        after = f(rng, np.arange(POST))
        return np.concatenate([before, after])
    return make


def _cat(p_after, levels_after=("a", "b", "c", "d")):
    def make(rng):
        before = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), PRE, p=[0.4, 0.3, 0.2, 0.1])
        after = rng.choice(np.array(levels_after, dtype=object), POST, p=p_after)
        return np.concatenate([before, after])
    return make


def _errors(p_after):
    return lambda rng: (rng.random(PRE + POST) < np.repeat([0.1, p_after], [PRE, POST])).astype(float)


def _missing(p_before, p_after, categorical=False):
    """A feature whose missing-value rate (NaN, or None for a categorical) goes from p_before to p_after."""
    def make(rng):
        if categorical:
            x = _cat([0.4, 0.3, 0.2, 0.1])(rng)
        else:
            x = rng.normal(0, 1, PRE + POST)
        miss = rng.random(PRE + POST) < np.repeat([p_before, p_after], [PRE, POST])
        x[miss] = None if categorical else np.nan
        return x
    return make


def _out_of_range(share, factor=10.0):
    """``share`` of the values after PRE at ``factor`` times the reference's (first 10,000) max."""
    def make(rng):
        x = rng.normal(0, 1, PRE + POST)
        x[PRE:][rng.random(POST) < share] = factor * x[:10_000].max()
        return x
    return make


def _classes(p_before, p_after):
    """Class labels as strings "0", "1", ... with proportions p_before, then p_after from PRE."""
    def make(rng):
        levels = np.array([str(i) for i in range(len(p_before))], dtype=object)
        return np.concatenate([rng.choice(levels, PRE, p=p_before), rng.choice(levels, POST, p=p_after)])
    return make


def _corr_flip(rng):
    a = rng.normal(size=PRE + POST)
    r = np.where(np.arange(PRE + POST) < PRE, 0.8, -0.8)
    return np.column_stack([a, r * a + np.sqrt(1 - r**2) * rng.normal(size=PRE + POST)])


SCENARIOS = [
    Scenario("mean +0.25 sd", "numeric", _shift(lambda rng, t: rng.normal(0.25, 1, t.size))),
    Scenario("mean +0.5 sd", "numeric", _shift(lambda rng, t: rng.normal(0.5, 1, t.size))),
    Scenario("mean +1 sd", "numeric", _shift(lambda rng, t: rng.normal(1.0, 1, t.size))),
    Scenario("variance x1.25 (same mean)", "numeric", _shift(lambda rng, t: rng.normal(0, 1.25, t.size))),
    Scenario("variance x1.5 (same mean)", "numeric", _shift(lambda rng, t: rng.normal(0, 1.5, t.size))),
    Scenario("variance x0.7 (same mean)", "numeric", _shift(lambda rng, t: rng.normal(0, 0.7, t.size))),
    Scenario("gradual 0 -> 1 sd over 5000", "numeric",
             _shift(lambda rng, t: rng.normal(np.minimum(t / 5_000, 1.0), 1, t.size))),
    Scenario("categorical mix shift", "categorical", _cat([0.3, 0.3, 0.25, 0.15])),
    Scenario("categorical new level 3%", "categorical", _cat([0.39, 0.29, 0.19, 0.1, 0.03], ("a", "b", "c", "d", "e"))),
    Scenario("error rate 0.10 -> 0.15", "errors", _errors(0.15)),
    Scenario("error rate 0.10 -> 0.25", "errors", _errors(0.25)),
    Scenario("correlation +0.8 -> -0.8", "multivariate", _corr_flip),
    Scenario("missing 1% -> 10% (numeric)", "quality", _missing(0.01, 0.10)),
    Scenario("2% at 10x ref max (numeric)", "quality", _out_of_range(0.02)),
    Scenario("missing 1% -> 5% (categorical)", "quality-cat", _missing(0.01, 0.05, categorical=True)),
    Scenario("label binary 30% -> 45%", "label-binary", _classes([0.7, 0.3], [0.55, 0.45])),
    Scenario("label 4 classes mix shift", "label-multiclass",
             _classes([0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2])),
    Scenario("label regression mean +0.5 sd", "label-regression",
             _shift(lambda rng, t: rng.normal(0.5, 1, t.size))),
    Scenario("prediction binary 30% -> 45%", "prediction-binary", _classes([0.7, 0.3], [0.55, 0.45])),
]

#: data-quality scenarios: the column's feature type (its auto set runs, its data_quality alarms count)
QUALITY_KINDS = {"quality": "numeric", "quality-cat": "categorical"}
#: label / prediction scenarios: (target, stream.label or stream.prediction type)
TARGET_KINDS = {
    "label-binary": ("label", "binary"),
    "label-multiclass": ("label", "multiclass"),
    "label-regression": ("label", "regression"),
    "prediction-binary": ("prediction", "binary"),
}


#: the concept detectors shown next to auto's default on the error streams
CONCEPT_ALTERNATIVES = ("cusum", "adwin", "ddm", "page_hinkley")


def driftline_detectors(kind: str, concept: str = "auto", budget: str | float = BUDGET):
    """What ``detectors: auto`` builds for one column of this kind (calibrated)."""
    if kind in QUALITY_KINDS:
        features = {"x": QUALITY_KINDS[kind]}
    elif kind in TARGET_KINDS:
        features = {"x": "numeric"}
    else:
        features = {"numeric": {"x": "numeric"}, "categorical": {"x": "categorical"},
                    "multivariate": {"x": "numeric", "y": "numeric"}, "errors": {"x": "numeric"}}[kind]
    stream = {"name": "bench", "features": features}
    if kind == "errors":
        stream["label"] = {"field": "label", "type": "binary"}
    if kind in TARGET_KINDS:
        target, ttype = TARGET_KINDS[kind]
        stream[target] = {"field": target, "type": ttype}
    cfg = DriftlineConfig.model_validate(
        {"stream": stream, "reference": {"first_n": 10_000}, "false_alarms": {"drift": budget, "warning": None},
         "learner": {"concept_detector": concept}}
    )
    planned = plan(cfg)
    if kind == "errors":
        planned = [p for p in planned if p.target == "error"]
    elif kind in TARGET_KINDS:
        planned = [p for p in planned if p.target == TARGET_KINDS[kind][0]]
    return planned, build(cfg, planned)


def run_driftline(kind: str, x: np.ndarray, concept: str = "auto", budget: str | float = BUDGET) -> list[int]:
    planned, dets = driftline_detectors(kind, concept, budget)
    alarms = []
    for p, det in zip(planned, dets):
        if p.target == "messages":
            values = np.zeros(x.shape[0])  # every message readable: the schema detector stays quiet
        elif kind == "multivariate":
            values = x if p.features else x[:, ["x", "y"].index(p.feature)]
        elif kind in TARGET_KINDS and det.input_type != "categorical" and x.dtype == object:
            values = x.astype(float)  # a binary target's classes "0"/"1" as the monitor feeds them: 0/1
        elif kind in TARGET_KINDS and det.input_type == "categorical" and x.dtype != object:
            values = np.where(x == 1, "1", "0").astype(object)  # 0/1 values: the classes as chi2 sees them
        else:
            values = x
        found = [d.index for d in det.update(values) if d.severity == "drift"]
        if kind not in QUALITY_KINDS or p.kind == "data_quality":  # quality scenarios: only its alarms count
            alarms += found
    return sorted(alarms)


RIVER_FEATURE = {"ADWIN": rdrift.ADWIN, "KSWIN": lambda: rdrift.KSWIN(seed=1), "PageHinkley": rdrift.PageHinkley}
RIVER_ERRORS = {"DDM": rdrift.binary.DDM, "ADWIN": rdrift.ADWIN}


def run_river(make, x: np.ndarray) -> list[int]:
    columns = x.T if x.ndim == 2 else [x]
    alarms = []
    for col in columns:
        det = make()
        for i, v in enumerate(col.tolist()):
            det.update(v)
            if det.drift_detected:
                alarms.append(i)
    return sorted(alarms)


def first_delays(alarms_per_seed: list[list[int]]) -> list[int | None]:
    """Per seed, the delay of the first alarm within ``HORIZON`` of the drift (None: missed)."""
    out: list[int | None] = []
    for alarms in alarms_per_seed:
        after = [a - PRE for a in alarms if PRE <= a < PRE + HORIZON]
        out.append(after[0] if after else None)
    return out


def score(alarms_per_seed: list[list[int]]):
    delays = [d for d in first_delays(alarms_per_seed) if d is not None]
    false = sum(sum(a < PRE for a in alarms) for alarms in alarms_per_seed)
    return len(delays), delays, false


def head_to_head(results: dict[str, dict[str, list[list[int]]]], clean_false: dict[str, int]) -> None:
    """Each River detector against driftline auto on exactly the drifts River's detector runs on.

    Both medians are over the same drifts: those both detected ("both found"), and all of them
    with a missed drift counted as a delay of ``HORIZON`` ("misses as horizon").
    """
    print(f"head to head, on the drifts each River detector runs on ({HORIZON:,} = missed):")
    print(f"{'River detector':16} {'drifts':>6} {'found River/ours':>17} {'median delay, both found':>25} "
          f"{'misses as horizon':>18} {'false alarms River/ours':>24}")
    for name, per_scenario in results.items():
        if not name.startswith("River") or name == "River (any)":
            continue
        ours_all, theirs_all, both_ours, both_theirs, false = [], [], [], [], [0, 0]
        for scenario, alarms in per_scenario.items():
            theirs = first_delays(alarms)
            ours = first_delays(results["driftline auto"][scenario])
            for t, o in zip(theirs, ours):
                theirs_all.append(HORIZON if t is None else t)
                ours_all.append(HORIZON if o is None else o)
                if t is not None and o is not None:
                    both_theirs.append(t)
                    both_ours.append(o)
            false[0] += sum(sum(a < PRE for a in seed) for seed in alarms)
            false[1] += sum(sum(a < PRE for a in seed) for seed in results["driftline auto"][scenario])
        false[0] += clean_false.get(name, 0)
        false[1] += clean_false.get(f"driftline auto vs {name}", 0)
        found = f"{sum(t < HORIZON for t in theirs_all)}/{sum(o < HORIZON for o in ours_all)}"
        both = f"{statistics.median(both_theirs):.0f} / {statistics.median(both_ours):.0f}" if both_ours else "-"
        horizon = f"{statistics.median(theirs_all):.0f} / {statistics.median(ours_all):.0f}"
        print(f"{name:16} {len(theirs_all):>6} {found:>17} {both:>25} {horizon:>18} {f'{false[0]} / {false[1]}':>24}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--clean-events", type=int, default=100_000, help="length of each drift-free stream")
    ap.add_argument("--equal-rate", action="store_true",
                    help="delays at equal false-alarm rates against the best River or MOA detector per case "
                         "(benchmarks/equal_rate.py); --seeds drifting streams per case")
    ap.add_argument("--clean-seeds", type=int, default=3, help="--equal-rate: drift-free streams per case")
    ap.add_argument("--only", help="--equal-rate: only the cases whose name contains this")
    ap.add_argument("--no-moa", action="store_true", help="River's detectors alone as anchors")
    ap.add_argument("--cache", type=Path, help="--equal-rate: a folder keeping the learners' error streams")
    args = ap.parse_args(argv)
    if args.equal_rate:
        from equal_rate import equal_rate

        t0 = time.time()
        equal_rate(run_driftline, args.seeds, args.clean_seeds, args.clean_events, moa=not args.no_moa,
                   only=args.only, cache=args.cache)
        print(f"\n({time.time() - t0:.0f} s)")
        return 0
    t0 = time.time()
    print(f"{'scenario':32} {'detector':28} {'found':>7} {'median delay':>13} {'false (pre-drift)':>18}")
    totals: dict[str, list] = {}
    results: dict[str, dict[str, list[list[int]]]] = {}  # detector -> scenario -> alarms per seed
    for sc in SCENARIOS:
        xs = [sc.make(np.random.default_rng(1000 + s)) for s in range(args.seeds)]
        auto = "driftline auto (quality)" if sc.kind in QUALITY_KINDS else "driftline auto"
        rows = {auto: [run_driftline(sc.kind, x) for x in xs]}
        if sc.kind in ("categorical", "quality", "quality-cat", "label-multiclass"):
            pass  # River has no categorical, data-quality or multiclass-proportion detector
        elif sc.kind in ("label-binary", "prediction-binary"):
            rows["River ADWIN"] = [run_river(rdrift.ADWIN, x.astype(float)) for x in xs]
        elif sc.kind == "errors":
            for method in CONCEPT_ALTERNATIVES:
                rows[f"driftline {method}-error"] = [run_driftline(sc.kind, x, method) for x in xs]
            for name, make in RIVER_ERRORS.items():
                rows[f"River {name}"] = [run_river(make, x) for x in xs]
        else:
            per = {name: [run_river(make, x) for x in xs] for name, make in RIVER_FEATURE.items()}
            rows |= {f"River {name}": v for name, v in per.items()}
            rows["River (any)"] = [sorted(sum((per[n][i] for n in per), [])) for i in range(len(xs))]
        for name, alarms in rows.items():
            results.setdefault("driftline auto" if name.startswith("driftline auto") else name, {})[sc.name] = alarms
            found, delays, false = score(alarms)
            med = f"{statistics.median(delays):.0f}" if delays else "-"
            print(f"{sc.name:32} {name:28} {found:>3}/{len(xs):<3} {med:>13} {false:>18}")
            agg = totals.setdefault(name, [0, 0, [], 0])
            agg[0] += found
            agg[1] += len(xs)
            agg[2] += delays
            agg[3] += false
    print()
    print(f"drift-free streams: {args.seeds} x {args.clean_events:,} events per kind; false alarms per 100,000 events")
    print(f"{'stream':32} {'detector':28} {'false alarms':>12} {'per 100k':>9}")
    clean_false: dict[str, int] = {}  # River detector -> its alarms; "driftline auto vs <it>" -> ours there
    for kind in ("numeric", "errors", "categorical", "label-binary"):
        xs = []
        for s in range(args.seeds):
            rng = np.random.default_rng(5000 + s)
            if kind == "numeric":
                xs.append(rng.lognormal(0, 0.5, args.clean_events))
            elif kind == "errors":
                xs.append((rng.random(args.clean_events) < 0.1).astype(float))
            elif kind == "label-binary":
                xs.append(rng.choice(np.array(["0", "1"], dtype=object), args.clean_events, p=[0.7, 0.3]))
            else:
                xs.append(rng.choice(np.array(list("abcd"), dtype=object), args.clean_events, p=[0.4, 0.3, 0.2, 0.1]))
        rows = {"driftline auto": [run_driftline(kind, x) for x in xs]}
        if kind == "numeric":
            per = {name: [run_river(make, x) for x in xs] for name, make in RIVER_FEATURE.items()}
            rows |= {f"River {name}": v for name, v in per.items()}
            rows["River (any)"] = [sorted(sum((per[n][i] for n in per), [])) for i in range(len(xs))]
        elif kind == "errors":
            for method in CONCEPT_ALTERNATIVES:
                rows[f"driftline {method}-error"] = [run_driftline(kind, x, method) for x in xs]
            rows |= {f"River {name}": [run_river(make, x) for x in xs] for name, make in RIVER_ERRORS.items()}
        elif kind == "label-binary":
            rows["River ADWIN"] = [run_river(rdrift.ADWIN, x.astype(float)) for x in xs]
        events = args.seeds * args.clean_events
        for name, alarms in rows.items():
            n = sum(len(a) for a in alarms)
            if name.startswith("River"):
                clean_false[name] = clean_false.get(name, 0) + n
                ours = sum(len(a) for a in rows["driftline auto"])
                clean_false[f"driftline auto vs {name}"] = clean_false.get(f"driftline auto vs {name}", 0) + ours
            print(f"{kind + ' (no drift)':32} {name:28} {n:>12} {n / events * 1e5:>9.2f}")
    print()
    print(f"{'overall':32} {'detector':28} {'found':>9} {'median delay':>13} {'false (pre-drift)':>18}")
    for name, (found, n, delays, false) in totals.items():
        med = f"{statistics.median(delays):.0f}" if delays else "-"
        print(f"{'all scenarios it runs on':32} {name:28} {found:>4}/{n:<4} {med:>13} {false:>18}")
    print()
    head_to_head(results, clean_false)
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
