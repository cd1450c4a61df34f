"""The batch trainer, scoring, and training frames with quarantines left out."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from driftline.learners import dataset
from driftline.learners.batch import evaluate, train_river
from driftline.learners.imports import resolve_trainer
from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.messages import ActionRecord
from driftline.stream.synthetic import FEATURES, Drift, generate


def _frame(n: int, drifts=(), seed: int = 1) -> pd.DataFrame:
    events = list(generate(n, list(drifts), seed=seed))
    schema = StreamSchema("s", dict(FEATURES), label_field="label", label_type="binary")
    batch, _ = parse_events(schema, 0, list(range(n)), [orjson.dumps(e) for e in events])
    data, _ = dataset.frame([batch], list(FEATURES), {}, [])
    return data


def test_default_trainer_learns_the_rule_and_beats_a_constant() -> None:
    data = _frame(3000)
    train, hold = dataset.split_holdout(data, 0.3)
    X, y = dataset.features_and_labels(train, list(FEATURES))
    model = train_river(X, y, target_type="binary", epochs=2)
    Xh, yh = dataset.features_and_labels(hold, list(FEATURES))
    metrics = evaluate(model, Xh, yh, "binary")
    majority = max(yh.mean(), 1 - yh.mean())
    assert metrics["accuracy"] > majority + 0.1 and metrics["n"] == len(hold)
    assert len(model.predict_proba(Xh.head(3))) == 3


def test_a_model_of_the_old_concept_loses_on_the_new_one() -> None:
    data = _frame(6000, [Drift("concept drift", "concept_drift", None, 3000, "flip")])
    old, new = data[data[dataset.OFFSET] < 3000], data[data[dataset.OFFSET] >= 3000]
    model = train_river(*dataset.features_and_labels(old, list(FEATURES)))
    fresh = train_river(*dataset.features_and_labels(new.iloc[:2000], list(FEATURES)))
    Xh, yh = dataset.features_and_labels(new.iloc[2000:], list(FEATURES))
    assert evaluate(fresh, Xh, yh, "binary")["accuracy"] > evaluate(model, Xh, yh, "binary")["accuracy"] + 0.2


def test_resolve_trainer_names_what_is_wrong() -> None:
    assert resolve_trainer("driftline.learners.batch:train_river") is train_river
    for bad, why in (("nocolon", "entry point"), ("no.such.mod:f", "cannot import"), ("os:nope", "no function")):
        with pytest.raises(ValueError, match=why):
            resolve_trainer(bad)


def _record(action: str, alert: str | None, status: str, **scope) -> ActionRecord:
    return ActionRecord(action_id=f"{action}{alert}", action=action, stream="s", alert_id=alert, status=status,
                        scope=scope, ts=0)


def test_quarantined_events_are_left_out_until_released_and_purged_ones_forever() -> None:
    records = [_record("quarantine", "a", "started", partition=0, from_offset=100),
               _record("quarantine", "b", "started", partition=0, from_offset=300)]
    assert dataset.excluded_ranges(records) == [(0, 100, None), (0, 300, None)]
    records.append(_record("release", "a", "released"))
    records.append(_record("purge", "b", "purged", to_offset=350))
    assert dataset.excluded_ranges(records) == [(0, 300, 350)]
    data = _frame(500)
    schema = StreamSchema("s", dict(FEATURES), label_field="label", label_type="binary")
    batch, _ = parse_events(schema, 0, list(range(500)), [orjson.dumps(e) for e in generate(500, [], seed=1)])
    kept, left_out = dataset.frame([batch], list(FEATURES), {}, dataset.excluded_ranges(records))
    assert left_out == 51 and len(kept) == len(data) - 51
    assert not kept[dataset.OFFSET].between(300, 350).any()


def test_labels_joined_by_id_and_holdout_is_the_most_recent() -> None:
    events = list(generate(100, [], seed=2))
    for e in events[:50]:
        e.pop("label")
    schema = StreamSchema("s", dict(FEATURES), label_field="label", label_type="binary")
    batch, _ = parse_events(schema, 0, list(range(100)), [orjson.dumps(e) for e in events])
    data, _ = dataset.frame([batch], list(FEATURES), {"evt-3": 1, "evt-4": 0}, [])
    assert len(data) == 52 and list(data[dataset.OFFSET][:2]) == [3, 4]
    train, hold = dataset.split_holdout(data, 0.25)
    assert train[dataset.OFFSET].max() < hold[dataset.OFFSET].min() and len(hold) == 13
    assert np.issubdtype(data["income"].dtype, np.floating)
