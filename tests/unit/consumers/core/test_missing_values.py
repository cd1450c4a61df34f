"""Issue 14, item 1: a missing value is missing end to end, never a stop.

On main, one labelled event with ``"income": null`` (or without ``country``, or a CSV with a
missing column or an ``n/a`` cell) ended ``driftline backtest`` with ``KeyError`` from River's
``compose.Select``. The learner's pipeline now leaves absent features out, and an event the
model still cannot use is counted and routed as unusable, never fatal.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pandas as pd
import pytest
from river import compose, linear_model, preprocessing

from driftline.consumers.cli.main import main
from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.plan import learner_plan
from driftline.learners.errors import UnusableEvent
from driftline.learners.online import PrequentialLearner, SelectPresent, tolerate_missing
from driftline.stream.events import parse_events
from driftline.stream.synthetic import FEATURES, generate


def config(**learner) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"},
                   "prediction": {"field": "prediction", "type": "binary"}},
        "reference": {"first_n": 500},
        "learner": {"preprocessing": ["river.preprocessing.StandardScaler"], **learner},
    })


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


@pytest.mark.parametrize("change", ["income null", "country absent", "every feature absent"])
def test_a_labelled_event_with_a_missing_value_is_scored_and_learned(tmp_path: Path, change: str) -> None:
    events = list(generate(3000, [], seed=3))
    features = events[1000]["features"]
    if change == "income null":
        features["income"] = None
    elif change == "country absent":
        del features["country"]
    else:
        features.clear()
    result = backtest(config(), write_jsonl(tmp_path / "e.jsonl", events))
    assert result.events == 3000 and not result.rejects and not result.unusable
    assert result.learner is not None and result.learner.learner.seen == 3000  # the event was scored too


def test_the_cli_backtest_of_a_file_with_a_null_ends_well(tmp_path: Path, capsys) -> None:
    events = list(generate(3000, [], seed=3))
    events[1000]["features"]["income"] = None
    write_jsonl(tmp_path / "e.jsonl", events)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(orjson.dumps(config().model_dump(mode="json", by_alias=True)).decode())
    assert main(["backtest", str(cfg), "--input", str(tmp_path / "e.jsonl"), "--output", str(tmp_path / "a.jsonl")]) == 0
    assert "3000 events" in capsys.readouterr().out


def flat(events: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"id": e["id"], "ts": e["ts"], **e["features"], "label": e["label"],
                          "prediction": e["prediction"]} for e in events])


def test_a_csv_with_a_missing_column_or_an_na_cell(tmp_path: Path) -> None:
    events = list(generate(3000, [], seed=3))
    frame = flat(events)
    frame.drop(columns=["country"]).to_csv(tmp_path / "no-country.csv", index=False)
    text = frame.to_csv(index=False).splitlines()
    head = text[0].split(",")
    row = text[1001].split(",")
    row[head.index("income")] = "n/a"
    text[1001] = ",".join(row)
    (tmp_path / "na.csv").write_text("\n".join(text) + "\n")
    for name in ("no-country.csv", "na.csv"):
        result = backtest(config(), tmp_path / name)
        assert result.events == 3000 and not result.rejects and not result.unusable, name
        assert result.learner is not None and result.learner.learner.seen == 3000


def test_the_pipeline_leaves_absent_features_out() -> None:
    spec = config()
    core = LearnerCore(spec, learner_plan(spec), live=False)
    learner = core.learner
    for x in ({"income": 1.0, "age": 30.0, "country": "DE"}, {"age": 30.0}, {"country": "FR"}, {}):
        learner.step(x, 1)
    assert learner.seen == learner.trained == 4


def test_a_pipeline_pickled_before_the_fix_copes_once_restored() -> None:
    """Checkpoints and registry artifacts hold River's own ``Select``: restored, it tolerates absence."""
    old = (compose.Select("income", "age") | preprocessing.StandardScaler()) | linear_model.LogisticRegression()
    with pytest.raises(KeyError):
        old.predict_one({"age": 1.0})
    learner = PrequentialLearner(old, "binary")
    learner.load_model_bytes(pickle.dumps(old))
    learner.step({"age": 1.0}, 1)
    assert learner.seen == 1
    assert isinstance(tolerate_missing(old).steps["Select"], SelectPresent)


class Refuses(linear_model.LogisticRegression):
    """A model that raises on an event without ``age`` (as River's Select did)."""

    def predict_proba_one(self, x, **kwargs):
        if "age" not in x:
            raise KeyError("age")
        return super().predict_proba_one(x, **kwargs)


def test_an_event_the_model_cannot_use_is_counted_and_routed_never_fatal(tmp_path: Path) -> None:
    cfg = config(model=f"{__name__}.Refuses", preprocessing=[])
    events = list(generate(1000, [], seed=3))
    for i in (10, 500):
        del events[i]["features"]["age"]
    learner = LearnerCore(cfg, learner_plan(cfg), live=False)
    with pytest.raises(UnusableEvent):
        learner.learner.step({"income": 1.0}, 1)
    raws = [orjson.dumps(e) for e in events]
    batch, rejects = parse_events(stream_schema(cfg), 0, list(range(len(raws))), raws)
    assert not rejects
    outcome = learner.process_events(batch)
    assert [r.offset for r in outcome.unusable] == [10, 500] and learner.unusable == 2
    assert all("KeyError: 'age'" in r.error for r in outcome.unusable)
    assert learner.learner.seen == 998  # the others scored as ever

    result = backtest(cfg, write_jsonl(tmp_path / "e.jsonl", events))
    assert [r.offset for r in result.unusable] == [10, 500] and result.events == 1000


def test_a_late_label_for_an_unusable_event_is_routed_too() -> None:
    cfg = config(model=f"{__name__}.Refuses", preprocessing=[])
    core = LearnerCore(cfg, learner_plan(cfg), live=False)
    event = {"id": "x", "ts": 1, "features": {"income": 1.0}}
    batch, _ = parse_events(stream_schema(cfg), 0, [7], [orjson.dumps(event)])
    assert not core.process_events(batch).unusable and core.pending == 1
    core.add_labels(0, [("x", 1, 3, 2)])
    [reject] = core.step(flush=True).unusable
    # the message lacks the label: the event as the learner saw it
    assert reject.offset == 7 and orjson.loads(reject.raw) == {"features": {"income": 1.0}, "label": 1}
    assert core.pending == 0 and core.unusable == 1
