"""The rows msgspec's structs give are the layout's values in the layout's order, however the
fields nest: the flat (astuple) getter and the per-attribute one agree, and shapes it does not
take keep the per-attribute one."""

from __future__ import annotations

import orjson
import pytest

from driftline.stream.events import StreamSchema
from driftline.stream.shape.fastjson import _attr_getter, _flat_getter

SHAPES = {
    "envelope": (StreamSchema("s", {"x": "numeric", "c": "categorical", "y": "numeric"}, label_field="label",
                              label_type="binary", prediction_field="p", prediction_type="binary"),
                 {"id": "a", "ts": 5, "features": {"x": 1.5, "c": "DE", "y": None}, "label": 1, "p": 0}),
    "flat": (StreamSchema("s", {"x": "numeric", "c": "categorical"}, features_path=None, id_field="event_id"),
             {"event_id": 3, "ts": "2026-01-01T00:00:00Z", "c": 7, "x": 2}),
    # the values' order in the struct (a, c, then b at the top) is not the layout's (a, b, c)
    "reordered": (StreamSchema("s", {"a": "numeric", "b": "numeric", "c": "categorical"}, features_path=None,
                               feature_paths={"a": "applicant.a", "c": "applicant.c"}),
                  {"id": "e", "ts": 1, "applicant": {"a": 1.0, "c": "x"}, "b": 2.0}),
    "two nested": (StreamSchema("s", {"x": "numeric"}, id_field="meta.id", features_path="applicant"),
                   {"meta": {"id": "m"}, "ts": 2, "applicant": {"x": 4.0}}),
    "deep": (StreamSchema("s", {"x": "numeric"}, features_path=None, feature_paths={"x": "a.b.x"}),
             {"id": "d", "ts": 3, "a": {"b": {"x": 9.0}}}),
    "a path twice": (StreamSchema("s", {"x": "numeric"}, features_path=None, feature_paths={"x": "ts"}),
                     {"id": "t", "ts": 11}),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_getter_gives_the_layouts_row(shape: str) -> None:
    schema, doc = SHAPES[shape]
    fast = schema.fast_json
    event = fast._decoder.decode(orjson.dumps(doc))
    present = fast.present
    expected = _attr_getter(present)(event)
    assert fast._getter(event) == expected
    assert len(expected) == len(schema.layout.present)
    flat = _flat_getter(fast._struct, present)
    assert (flat is None) == (shape in ("two nested", "deep"))
    if flat is not None:
        assert flat(event) == expected
