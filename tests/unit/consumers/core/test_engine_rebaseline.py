"""DriftEngine.rebaseline: the data as it is now becomes the detectors' reference."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.plan import stream_plan
from driftline.stream.events import parse_events


def config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "t", "features": {"x": "numeric"}},
        "reference": {"first_n": 1_000},
        "detectors": [
            {"name": "ks-x", "method": "ks", "features": ["x"], "options": {"window": 500, "stride": 50}},
            {"name": "cusum-x", "method": "cusum", "features": ["x"]},
        ],
    })


def batch(cfg: DriftlineConfig, values: np.ndarray, start: int):
    raws = [orjson.dumps({"id": f"e{start + i}", "ts": start + i, "features": {"x": float(v)}})
            for i, v in enumerate(values)]
    b, rejects = parse_events(stream_schema(cfg), 0, list(range(start, start + len(raws))), raws)
    assert not rejects
    return b


def test_rebaseline_takes_a_new_reference():
    cfg = config()
    x = np.random.default_rng(3).normal(0, 1, 3_000)
    engine = DriftEngine(stream_plan(cfg, ("feature",)))
    assert engine.process(batch(cfg, x[:1_500], 0)) == []
    with pytest.raises(ValueError, match="no detector 'nope'"):
        engine.rebaseline("nope")
    # a windowed test: its current window (the last 500 values) is the reference at once
    assert engine.rebaseline("ks-x") == ["ks-x"]
    detectors = engine.state_dict()["detectors"]
    assert detectors["ks-x"]["reference"] == sorted(x[1_000:1_500].tolist())
    assert detectors["cusum-x"]["reference"] is not None  # untouched
    # the others take the events that follow as their reference, as after a drift
    assert engine.rebaseline() == ["ks-x", "cusum-x"]
    assert engine.state_dict()["detectors"]["cusum-x"]["reference"] is None
    assert engine.process(batch(cfg, x[1_500:], 1_500)) == []
    assert len(engine.state_dict()["detectors"]["cusum-x"]["reference"]) == 1_000
