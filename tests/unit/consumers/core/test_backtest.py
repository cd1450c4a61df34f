"""Backtest over files: JSONL, CSV and Parquet agree; a reference file replaces first_n."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.consumers.errors import ReferenceDataError
from driftline.stream.synthetic import FEATURES, Drift, generate

DRIFT = [Drift("income mean shift", "data_drift", "income", 4000, "x1.5")]


def config(**reference) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": FEATURES, "label": {"field": "label", "type": "binary"},
                   "prediction": {"field": "prediction", "type": "binary"}},
        "reference": reference or {"first_n": 2000},
    })


def flat(events: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"id": e["id"], "ts": e["ts"], **e["features"], "label": e["label"],
                          "prediction": e["prediction"]} for e in events])


def test_jsonl_csv_and_parquet_give_the_same_alerts(tmp_path: Path) -> None:
    events = list(generate(8000, DRIFT, seed=2))
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    flat(events).to_csv(tmp_path / "e.csv", index=False)
    flat(events).to_parquet(tmp_path / "e.parquet")
    cfg = config()
    results = [backtest(cfg, tmp_path / name) for name in ("e.jsonl", "e.csv", "e.parquet")]
    ids = [[a.alert_id for a in r.alerts] for r in results]
    assert ids[0] and ids[0] == ids[1] == ids[2]
    income = [a for a in results[0].alerts if a.feature == "income" and a.severity == "drift"]
    detectors = [a.detector for a in income]  # one drift alert per detector watching income
    assert "ks-income" in detectors and len(set(detectors)) == len(detectors)
    assert all(4000 <= a.position.offset < 5000 for a in income)
    assert all(r.events == 8000 and not r.rejects for r in results)


def test_unreadable_lines_are_counted_with_their_line_numbers(tmp_path: Path) -> None:
    events = list(generate(3000, [], seed=2))
    lines = [orjson.dumps(e) for e in events]
    lines[10] = b"{broken"
    lines[20] = b""
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = backtest(config(), tmp_path / "e.jsonl")
    assert [r.offset for r in result.rejects] == [10, 20]
    assert result.events == 2998


def test_reference_file_is_used_from_the_first_event(tmp_path: Path) -> None:
    reference = list(generate(5000, [], seed=8))
    flat(reference).to_parquet(tmp_path / "ref.parquet")
    shifted = list(generate(3000, [Drift("income mean shift", "data_drift", "income", 0, "x1.5")], seed=9))
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in shifted))
    result = backtest(config(file=str(tmp_path / "ref.parquet")), tmp_path / "e.jsonl")
    income = [a for a in result.alerts if a.feature == "income" and a.severity == "drift"]
    # with first_n the first events would be the reference and nothing would fire this early
    assert income and income[0].position.offset < 1500
    assert income[0].window.reference_n == 5000
    with pytest.raises(ReferenceDataError, match="does not exist"):
        backtest(config(file=str(tmp_path / "missing.parquet")), tmp_path / "e.jsonl")
