"""DriftEngine.column: what each detector is fed from a batch."""

from __future__ import annotations

import numpy as np
import orjson

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.columns import column
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.plan import stream_plan
from driftline.detectors import PCAReconstruction
from driftline.stream.events import parse_events


def test_a_multivariate_detector_gets_one_row_per_event_and_one_column_per_feature():
    features = {"a": "numeric", "b": "numeric", "c": "numeric", "k": "categorical"}
    cfg = DriftlineConfig.model_validate({"stream": {"name": "t", "features": features}, "detectors": "auto"})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    raws = [orjson.dumps({"id": f"e{i}", "ts": i, "features": dict(zip("abc", x[i].tolist())) | {"k": "u"}})
            for i in range(50)]
    batch, _ = parse_events(stream_schema(cfg), 0, list(range(50)), raws)
    engine = DriftEngine(stream_plan(cfg, ("feature",)))
    planned = next(p for p in engine.planned if p.features)
    rows = column(batch, planned)
    assert rows.shape == (50, 3) and np.array_equal(rows, x)
    assert rows.flags.f_contiguous  # each feature contiguous: what PCA reads fastest
    assert isinstance(engine.detectors[engine.planned.index(planned)], PCAReconstruction)


def test_the_schema_detector_sees_every_parsed_message_in_stream_order():
    from driftline.consumers.core.order.intake import PartitionIntake
    from driftline.consumers.core.order.merge import StreamMerge

    cfg = DriftlineConfig.model_validate({"stream": {"name": "t", "features": {"a": "numeric"}}})
    raws = [b'{"id": "e0", "ts": 5, "features": {"a": 1}}', b"{oops",
            b'{"id": "e2", "ts": 7, "features": {"a": "high"}}', b'{"id": "e3", "ts": 9, "features": {"a": 2}}']
    batch, rejects = parse_events(stream_schema(cfg), 0, [10, 11, 12, 13], raws)
    assert [r.feature for r in rejects] == [None, "a"]  # the type error names its feature
    _, _, codes = PartitionIntake(0, 100, 1000).admit(batch, rejects)
    merge = StreamMerge([0], 1000, idle_ms=1e9)
    merge.add(codes, 0)
    m = merge.release(0, flush=True).messages
    assert m is not None
    flags = dict(zip(m.offsets.tolist(), m.flags.tolist()))
    times = dict(zip(m.offsets.tolist(), m.ts.tolist()))
    assert flags == {10: 0, 11: 1, 12: 1, 13: 0}
    assert times == {10: 5, 11: 5, 12: 5, 13: 9}  # a rejected message takes its partition's time before it
    assert m.offsets.tolist()[0] == 10 and m.offsets.tolist()[-1] == 13  # in event-time order
