"""The stream-wide false-alarm budget holds on 1,000,000 drift-free events of 22 features.

``detectors: auto`` on 20 numeric and 2 categorical features (the detectors the monitor
builds, calibrated by ``plan.build``), fed in batches as the monitor would, with fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from driftline.consumers.config import DriftlineConfig
from driftline.consumers.plan import build, plan

EVENTS, BATCH = 1_000_000, 20_000
BUDGET = 1e-6  # "1 per 1000000 events"


@pytest.mark.slow
@pytest.mark.parametrize("budget", [BUDGET, 1e-4])
def test_auto_detectors_keep_the_budget_on_a_million_drift_free_events(budget):
    """At the usual budget, and at a looser one where each method's own share is measurable."""
    features = {f"x{i}": "numeric" for i in range(20)} | {"c0": "categorical", "c1": "categorical"}
    cfg = DriftlineConfig.model_validate({
        "stream": {"name": "budget", "features": features},
        "reference": {"first_n": 10_000},
        "false_alarms": {"drift": budget, "warning": None},
    })
    planned = plan(cfg)
    detectors = build(cfg, planned)
    rng = np.random.default_rng(2024)
    levels = np.array(["a", "b", "c", "d", "e", "rare"], dtype=object)
    p_levels = np.array([0.4, 0.25, 0.15, 0.1, 0.095, 0.005])
    scales = rng.uniform(0.5, 3.0, 20)
    alarms = []
    for start in range(0, EVENTS, BATCH):
        cols = {f"x{i}": rng.lognormal(0, 0.5, BATCH) * scales[i] for i in range(10)}
        cols |= {f"x{i}": rng.normal(0, scales[i], BATCH).round(1) for i in range(10, 20)}
        for name in ("c0", "c1"):
            cols[name] = rng.choice(levels, BATCH, p=p_levels)
        for i in range(20):
            cols[f"x{i}"][rng.random(BATCH) < 0.01] = np.nan
        cols["messages"] = (rng.random(BATCH) < 0.001).astype(float)  # a steady 0.1% of unreadable messages
        for p, det in zip(planned, detectors):
            if p.target == "messages":
                values = cols["messages"]
            else:
                values = np.column_stack([cols[f] for f in p.features]) if p.features else cols[p.feature]
            alarms += [(p.name, start + d.index) for d in det.update(values) if d.severity == "drift"]
    # the budget promises at most EVENTS * budget false alarms on average, all detectors together
    assert len(alarms) <= poisson.ppf(1 - 1e-3, EVENTS * budget), alarms
    # and each method its share: the detectors are calibrated alike, one share each
    share = EVENTS * budget / len(planned)
    for method in {p.method for p in planned}:
        n_method = sum(p.method == method for p in planned)
        fired = [a for a in alarms if next(p for p in planned if p.name == a[0]).method == method]
        assert len(fired) <= poisson.ppf(1 - 1e-3, share * n_method), (method, fired)
