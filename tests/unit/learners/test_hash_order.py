"""The online learner learns the same model, to the last bit, in any process: its pipelines do
not sum features in the order of a set, which changes with the process's string hashing (and
when a set is unpickled). The live learner and ``driftline backtest`` run in different processes."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import pickle
from driftline.learners.online import EstimatorSpec, build_pipeline
from driftline.stream.synthetic import FEATURES, generate
numeric = [k for k, t in FEATURES.items() if t == "numeric"]
categorical = [k for k, t in FEATURES.items() if t == "categorical"]
pipe = build_pipeline(EstimatorSpec("river.linear_model.LogisticRegression"),
                      [EstimatorSpec("river.preprocessing.StandardScaler")], numeric, categorical)
events = list(generate(3000, [], seed=3))
for e in events[:1500]:
    pipe.learn_one(e["features"], e["label"])
pipe = pickle.loads(pickle.dumps(pipe))  # a restart in between
for e in events[1500:]:
    pipe.learn_one(e["features"], e["label"])
print([pipe.predict_proba_one(e["features"])[True].hex() for e in events[::97]])
"""


def _run(hash_seed: int) -> str:
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout


def test_the_same_events_give_the_same_model_bit_for_bit_whatever_the_string_hashing() -> None:
    # seeds under which a set of the stream's feature names iterates (and unpickles) in other orders
    outputs = {_run(seed) for seed in (1, 13, 18)}
    assert len(outputs) == 1 and outputs.pop().count("0x") == len(range(0, 3000, 97))
