"""One false-alarm budget per stream: the monitor's and the learner's detectors share it."""

from __future__ import annotations

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.plan import build, learner_plan, monitor_plan, plan
from driftline.detectors.methods import method_params
from driftline.stream.synthetic import FEATURES

CFG = DriftlineConfig.model_validate({
    "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"},
               "prediction": {"field": "prediction", "type": "binary"}},
    "reference": {"first_n": 1000},
})


def test_the_roles_plans_split_the_one_budget_over_every_detector_of_the_stream() -> None:
    everything = plan(CFG)
    whole = dict(zip((p.name for p in everything), build(CFG, everything)))
    parts = [monitor_plan(CFG), learner_plan(CFG)]
    assert sum(len(p.planned) for p in parts) == len(everything)
    for part in parts:
        for planned, detector in zip(part.planned, part.prototypes):
            if "alpha_drift" in method_params(planned.method):
                # each role's detector has the share it has in the whole stream's plan, not a
                # share of its own role's plan (which would spend the budget once per role)
                assert detector.alpha_drift == whole[planned.name].alpha_drift, planned.name


def test_a_roles_own_split_would_be_looser() -> None:
    monitor = monitor_plan(CFG)
    alone = build(CFG, monitor.planned)
    looser = [a.alpha_drift > b.alpha_drift for a, b, p in zip(alone, monitor.prototypes, monitor.planned)
              if "alpha_drift" in method_params(p.method)]
    assert looser and all(looser)
