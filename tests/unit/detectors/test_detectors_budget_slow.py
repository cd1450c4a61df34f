"""The stream-wide false-alarm budget holds on 1,000,000 drift-free events of 22 features.

``detectors: auto`` on 20 numeric and 2 categorical features and the stream's messages (the
detectors the monitor builds, calibrated by ``plan.build``), fed in batches as the monitor
would, with a fixed seed: the stream and the run are ``benchmarks/budget_benchmark.py``'s,
which prints the same count over more seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scipy.stats import poisson

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from budget_benchmark import false_alarms  # noqa: E402

EVENTS = 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("budget", [1e-6, 1e-4])
def test_auto_detectors_keep_the_budget_on_a_million_drift_free_events(budget):
    """At the usual budget, and at a looser one where each method's own share is measurable."""
    planned, alarms = false_alarms(seed=2024, events=EVENTS, budget=budget)
    # the budget promises at most EVENTS * budget false alarms on average, all detectors together
    assert sum(alarms.values()) <= poisson.ppf(1 - 1e-3, EVENTS * budget), alarms
    # and each method its share: the detectors are calibrated alike, one share each
    share = EVENTS * budget / len(planned)
    for method in {p.method for p in planned}:
        names = [p.name for p in planned if p.method == method]
        fired = sum(alarms[name] for name in names)
        assert fired <= poisson.ppf(1 - 1e-3, share * len(names)), (method, alarms)
