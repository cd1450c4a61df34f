"""Delays at equal false-alarm rates: driftline against the best River or MOA single detector, per case.

    python benchmarks/drift_benchmark.py --equal-rate [--seeds 10] [--clean-seeds 3] [--clean-events 100000]

For each case:

1. every anchor (River's and MOA's detectors for that kind of stream, with their defaults, see
   :mod:`anchors`) runs on ``--clean-seeds`` drift-free streams of ``--clean-events`` events of
   the case's pre-drift distribution: its realised false-alarm rate;
2. every anchor runs on ``--seeds`` streams drifting at event ``PRE``: its median delay, a drift
   missed within ``HORIZON`` events counting as missed (so the median is "missed" when more than
   half are);
3. the best anchor is the fastest (lowest median delay) of those at or under ``MAX_RATE``
   false alarms per 100,000 drift-free events;
4. driftline runs what ``detectors: auto`` builds for the column with its budget
   (``false_alarms.drift``, over all the column's detectors) set to that anchor's realised rate
   (at least 1 alarm over the drift-free events), on the same drifting streams, and its
   realised false-alarm rate is measured on the same drift-free streams.

The error streams are a learner's prequential 0/1 errors (River's Gaussian naive Bayes,
test-then-train, as in MOA's experiments) on SEA (Street & Kim, 2001: an abrupt change of the
concept's threshold, 8 to 9.5, with 10% label noise) and on Agrawal's generator (Agrawal et al.,
1993: function 1 turning into function 3 over ``GRADUAL_WIDTH`` events, each event drawn from the
new concept with a probability rising linearly from 0 to 1); every detector sees the same errors.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anchors import BINARY, NUMERIC, anchors, moa_missing, run_anchor

PRE, POST, HORIZON = 14_000, 8_000, 8_000
MAX_RATE = 5.0  # per 100,000 drift-free events: the anchors eligible as "the best"
GRADUAL_WIDTH = 5_000


@dataclass
class Case:
    name: str
    kind: str  # the drift benchmark's kind of column (numeric, label-binary, prediction-binary, errors)
    anchor_kind: str  # NUMERIC or BINARY
    drifted: Callable[[int], np.ndarray]  # seed -> a stream drifting at PRE
    clean: Callable[[int, int], np.ndarray]  # (seed, events) -> a drift-free stream


def _normal(after: Callable[[np.random.Generator, int], np.ndarray]) -> Callable[[int], np.ndarray]:
    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(1_000 + seed)
        return np.concatenate([rng.normal(0, 1, PRE), after(rng, POST)])
    return make


def _bernoulli(p_before: float, p_after: float) -> Callable[[int], np.ndarray]:
    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(2_000 + seed)
        return (rng.random(PRE + POST) < np.repeat([p_before, p_after], [PRE, POST])).astype(float)
    return make


def _clean_normal(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(5_000 + seed).normal(0, 1, n)


def _clean_bernoulli(p: float) -> Callable[[int, int], np.ndarray]:
    return lambda seed, n: (np.random.default_rng(6_000 + seed).random(n) < p).astype(float)


def prequential_errors(before, after, n: int, change_at: int, width: int, seed: int) -> np.ndarray:
    """0/1 errors of Gaussian naive Bayes, test-then-train, on ``before`` turning into ``after``
    at ``change_at`` (abruptly, or over ``width`` events: the new concept's share rising linearly)."""
    from river import naive_bayes

    rng = np.random.default_rng(seed)
    model = naive_bayes.GaussianNB()
    old, new = iter(before), iter(after)
    t = np.arange(n)
    p_new = np.clip((t - change_at + 1) / max(width, 1), 0.0, 1.0) if change_at < n else np.zeros(n)
    draw_new = rng.random(n) < p_new
    out = np.empty(n)
    for i in range(n):
        x, y = next(new) if draw_new[i] else next(old)
        out[i] = model.predict_one(x) != y
        model.learn_one(x, y)
    return out


def _cached(cache: Path | None, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    if cache is None:
        return make()
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    cache.mkdir(parents=True, exist_ok=True)
    x = make()
    np.save(path, x)
    return x


def _sea(variant_after: int | None):
    from river.datasets import synth

    def gens(seed):
        after = synth.SEA(variant=variant_after or 0, noise=0.1, seed=seed + 1)
        return synth.SEA(variant=0, noise=0.1, seed=seed), after
    return gens


def _agrawal(function_after: int | None):
    from river.datasets import synth

    def gens(seed):
        return (synth.Agrawal(classification_function=0, seed=seed),
                synth.Agrawal(classification_function=0 if function_after is None else function_after, seed=seed + 1))
    return gens


def error_case(name: str, gens_of, width: int, cache: Path | None) -> Case:
    tag = name.split()[0].lower()

    def drifted(seed: int) -> np.ndarray:
        return _cached(cache, f"{tag}-drift-{width}-{seed}",
                       lambda: prequential_errors(*gens_of(True)(100 + seed), PRE + POST, PRE, width, seed))

    def clean(seed: int, n: int) -> np.ndarray:
        return _cached(cache, f"{tag}-clean-{n}-{seed}",
                       lambda: prequential_errors(*gens_of(False)(300 + seed), n, n, 0, seed))
    return Case(name, "errors", BINARY, drifted, clean)


def cases(cache: Path | None) -> list[Case]:
    return [
        Case("mean shift +0.25 sd", "numeric", NUMERIC, _normal(lambda rng, n: rng.normal(0.25, 1, n)), _clean_normal),
        Case("mean shift +1 sd", "numeric", NUMERIC, _normal(lambda rng, n: rng.normal(1.0, 1, n)), _clean_normal),
        Case("variance x2", "numeric", NUMERIC, _normal(lambda rng, n: rng.normal(0, np.sqrt(2), n)), _clean_normal),
        Case("binary label prior 50 -> 75%", "label-binary", BINARY, _bernoulli(0.5, 0.75), _clean_bernoulli(0.5)),
        Case("binary prediction rate 30 -> 45%", "prediction-binary", BINARY, _bernoulli(0.3, 0.45),
             _clean_bernoulli(0.3)),
        error_case("SEA abrupt concept change, error stream",
                   lambda drift: _sea(3 if drift else None), 0, cache),
        error_case("Agrawal gradual concept change, error stream",
                   lambda drift: _agrawal(2 if drift else None), GRADUAL_WIDTH, cache),
    ]


def median_delay(alarms_per_seed: list[list[int]]) -> float:
    """The median first-alarm delay after PRE, a miss (no alarm within HORIZON) counting as infinite."""
    delays = []
    for alarms in alarms_per_seed:
        after = [a - PRE for a in alarms if PRE <= a < PRE + HORIZON]
        delays.append(after[0] if after else float("inf"))
    return statistics.median(delays)


def _fmt(delay: float) -> str:
    return "missed" if delay == float("inf") else f"{delay:.0f}"


def equal_rate(run_driftline, seeds: int, clean_seeds: int, clean_events: int, moa: bool = True,
               only: str | None = None, cache: Path | None = None) -> list[tuple]:
    """Print each case's anchors and driftline at the best anchor's rate; return the summary rows."""
    reason = moa_missing() if moa else "not asked for (--no-moa)"
    print("MOA:", "CapyMOA's bundled MOA jar" if reason is None else f"not run ({reason}); River alone")
    events = clean_seeds * clean_events
    summary = []
    for case in cases(cache):
        if only and only.lower() not in case.name.lower():
            continue
        t0 = time.time()
        drifted = [case.drifted(s) for s in range(seeds)]
        clean = [case.clean(s, clean_events) for s in range(clean_seeds)]
        print(f"\n{case.name}  ({seeds} drifting streams, {clean_seeds} x {clean_events:,} drift-free events)")
        print(f"  {'detector':28} {'false/100k':>10} {'median delay':>13} {'found':>7}")
        rows = []
        for name, make in anchors(case.anchor_kind, moa=reason is None, slow=False).items():
            false = sum(len(run_anchor(make, x)) for x in clean)
            alarms = [run_anchor(make, x) for x in drifted]
            rate = false / events * 1e5
            found = sum(any(PRE <= a < PRE + HORIZON for a in al) for al in alarms)
            rows.append((name, rate, median_delay(alarms), false))
            print(f"  {name:28} {rate:>10.2f} {_fmt(rows[-1][2]):>13} {found:>3}/{seeds:<3}")
        eligible = [r for r in rows if r[1] <= MAX_RATE]
        best = min(eligible, key=lambda r: (r[2], r[1])) if eligible else None
        budget = max(best[3], 1) / events if best else MAX_RATE / 1e5
        ours = [run_driftline(case.kind, x, budget=budget) for x in drifted]
        ours_false = sum(len(run_driftline(case.kind, x, budget=budget)) for x in clean)
        ours_rate = ours_false / events * 1e5
        found = sum(any(PRE <= a < PRE + HORIZON for a in al) for al in ours)
        label = f"driftline auto @ 1 per {1 / budget:,.0f}"
        print(f"  {label:28} {ours_rate:>10.2f} {_fmt(median_delay(ours)):>13} {found:>3}/{seeds:<3}"
              f"   ({time.time() - t0:.0f} s)")
        summary.append((case.name, median_delay(ours), ours_rate, best))
    print(f"\nside by side, at equal false-alarm rates (the best anchor at <= {MAX_RATE:g} false alarms per 100k):")
    print("| case | driftline (false/100k) | best River or MOA single detector (false/100k) |")
    print("|---|---|---|")
    for name, ours, ours_rate, best in summary:
        anchor = "-" if best is None else f"{_fmt(best[2])} ({best[0]}, {best[1]:.2f})"
        print(f"| {name} | {_fmt(ours)} ({ours_rate:.2f}) | {anchor} |")
    return summary
