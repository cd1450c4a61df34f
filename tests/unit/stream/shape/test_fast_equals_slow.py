"""msgspec's typed path and the per-message path read every message alike (seeded, generated messages)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.stream.events import StreamSchema, parse_events

ENVELOPE = StreamSchema("s", {"x": "numeric", "c": "categorical"}, label_field="label", label_type="binary",
                        prediction_field="p", prediction_type="multiclass")
NESTED = StreamSchema("s", {"x": "numeric", "c": "categorical"}, id_field="m.id", timestamp_field="m.t",
                      timestamp_unit="s", feature_paths={"x": "a.b.x", "c": "a.c"}, features_path=None,
                      label_field="y.v", label_type="regression")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=5), st.sampled_from(["2026-01-01T00:00:00Z", "DE", "", "1"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=2),
                                                      st.dictionaries(st.sampled_from(["x", "c", "b", "id"]), inner,
                                                                      max_size=3)), max_leaves=4)


def message(keys: list[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


def same(schema: StreamSchema, docs: list) -> None:
    raws = [json.dumps(d).encode() for d in docs]  # the standard library writes any integer, and Infinity
    offsets = list(range(len(raws)))
    fast, fast_rejects = parse_events(schema, 0, offsets, raws)
    slow, slow_rejects = parse_events(schema, 0, offsets, raws, fast=False)
    assert [(r.offset, r.error, r.feature) for r in fast_rejects] == [(r.offset, r.error, r.feature)
                                                                        for r in slow_rejects]
    assert fast.ids == slow.ids and fast.ts.tolist() == slow.ts.tolist() and fast.undeclared == slow.undeclared
    for name in fast.numeric:
        assert [v if not math.isnan(v) else None for v in fast.numeric[name].tolist()] == \
               [v if not math.isnan(v) else None for v in slow.numeric[name].tolist()]
    for name in fast.categorical:
        assert fast.categorical[name].tolist() == slow.categorical[name].tolist()
    assert fast.label.tolist() == slow.label.tolist() and fast.prediction.tolist() == slow.prediction.tolist()


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    message(["id", "ts", "features", "label", "p", "other"]),
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=3), "ts": st.integers(0, 2**40),
                           "features": st.fixed_dictionaries({"x": st.floats(allow_nan=False) | st.integers(),
                                                              "c": st.text(max_size=2)})}),
), min_size=1, max_size=8))
def test_the_envelope(docs: list) -> None:
    same(ENVELOPE, docs)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    message(["m", "a", "y", "z"]),
    st.fixed_dictionaries({"m": st.fixed_dictionaries({"id": st.integers(0, 99) | st.text(max_size=2),
                                                       "t": st.floats(0, 2e9) | st.integers(0, 2**33)}),
                           "a": st.fixed_dictionaries({"b": message(["x"]), "c": values}), "y": message(["v"])}),
), min_size=1, max_size=8))
def test_a_nested_mapping(docs: list) -> None:
    same(NESTED, docs)
