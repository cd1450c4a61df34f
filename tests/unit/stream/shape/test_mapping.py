"""Field mapping: a user's own message shape read into the same columns as the envelope."""

from __future__ import annotations

import math
import re
from pathlib import Path

import orjson
import pytest

from driftline.consumers.config.model import stream_schema
from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError
from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages

NESTED = """\
stream:
  name: loans
  id_field: meta.request_id
  timestamp_field: meta.sent_at
  features:
    income: {type: numeric, path: applicant.income}
    age: {type: numeric, path: applicant.age}
    country: {type: categorical, path: applicant.address.country}
  prediction: {field: model.decision, type: binary}
  label: {field: outcome.defaulted, type: binary}
  labels: {id_field: request, field: defaulted}
"""


def nested(i: int, **over) -> bytes:
    doc = {"meta": {"request_id": f"r{i}", "sent_at": "2026-01-01T00:00:00Z", "source": "web"},
           "applicant": {"income": 1000.0 + i, "age": 30, "address": {"country": "DE", "city": "Bonn"}},
           "model": {"decision": 1, "score": 0.8}, "outcome": {"defaulted": 0}}
    doc.update(over)
    return orjson.dumps(doc)


def test_nested_paths_become_the_columns() -> None:
    schema = stream_schema(parse_config(NESTED))
    raws = [nested(0), nested(1, applicant={"income": 5}), nested(2, applicant=None)]
    batch, rejects = parse_events(schema, 0, [0, 1, 2], raws)
    assert rejects == []
    assert batch.ids == ["r0", "r1", "r2"] and batch.ts.tolist() == [1767225600000] * 3
    assert batch.numeric["income"][:2].tolist() == [1000.0, 5.0] and math.isnan(batch.numeric["income"][2])
    assert math.isnan(batch.numeric["age"][1])  # a path the message lacks is a missing value
    assert batch.categorical["country"].tolist() == ["DE", None, None]
    assert batch.prediction.tolist() == [1, 1, 1] and batch.label.tolist() == [0, 0, 0]
    assert batch.undeclared == 0  # a shape of one's own: the fields it does not watch are not counted


def test_a_wrong_type_on_a_path_is_refused_naming_it() -> None:
    schema = stream_schema(parse_config(NESTED))
    raws = [nested(0, applicant={"income": "lots"}), nested(1, applicant={"address": "Bonn"}),
            nested(2, applicant=[1]), nested(3, meta={"sent_at": 5})]
    batch, rejects = parse_events(schema, 0, [0, 1, 2, 3], raws)
    assert len(batch) == 0
    assert "feature 'income' is numeric, got str" in rejects[0].error and rejects[0].feature == "income"
    assert "'applicant.address' must be an object" in rejects[1].error
    assert "'applicant' must be an object (it holds 'applicant.income')" in rejects[2].error
    assert "field 'meta.request_id' must be a non-empty string" in rejects[3].error


def test_flat_events_need_no_features_object() -> None:
    cfg = parse_config("stream:\n  name: s\n  features_path: null\n  features: {income: numeric, city: categorical}\n")
    batch, rejects = parse_events(stream_schema(cfg), 0, [0, 1],
                                  [b'{"id": 7, "ts": 5, "income": 2.5, "city": 53111, "other": 1}', b'{"id": "b", "ts": 6}'])
    assert rejects == [] and batch.ids == ["7", "b"]
    assert batch.numeric["income"][0] == 2.5 and batch.categorical["city"].tolist() == ["53111", None]


def test_id_from_the_key_or_a_header_and_time_from_the_record() -> None:
    base = "stream:\n  name: s\n  features_path: ''\n  features: {x: numeric}\n"
    values = [b'{"x": 1}', b'{"x": 2}']
    by_key = stream_schema(parse_config(base + "  id_source: key\n  timestamp_source: record\n"))
    batch, rejects = parse_events(by_key, 0, [0, 1], values, [b"k1", None], timestamps=[111, 222])
    assert batch.ids == ["k1"] and batch.ts.tolist() == [111]
    assert "the message key must be a non-empty string" in rejects[0].error
    by_header = stream_schema(parse_config(base.replace("{x: numeric}", "{y: numeric}") + "  id_source: header\n"
                                           "  id_field: x-request-id\n  timestamp_field: x\n  timestamp_unit: s\n"))
    batch, _ = parse_events(by_header, 0, [0, 1], values, headers=[[("x-request-id", b"h1")], []])
    assert batch.ids == ["h1"] and batch.ts.tolist() == [1000]  # x: 1 second


def test_labels_topic_with_its_own_paths() -> None:
    cfg = parse_config(NESTED)
    id_field, label_field = cfg.stream.labels_fields()
    labels, rejects = parse_label_messages(0, [0, 1], [b'{"request": "r1", "defaulted": true, "at": 5}',
                                                       b'{"defaulted": 1, "at": 5}'],
                                           id_field, label_field, "binary", ts_field="at")
    assert labels == [("r1", 1, 0, 5)] and "field 'request'" in rejects[0].error


@pytest.mark.parametrize(("features", "extra", "key", "why"), [
    ("a: {type: numeric, path: model}", "", "stream.features.a", "holds stream.prediction.field"),
    ("a: {type: numeric, path: meta.request_id}", "", "stream.features.a", "is already stream.id_field"),
    ("a: numeric", "  format: avro\n", "stream.avro", "needs stream.avro"),
    ("a: numeric", "  format: avro\n  avro: {schemas: {1: missing.avsc}}\n", "stream.avro.schemas[1]",
     "cannot read the Avro schema"),
    ("a: {type: numbers}", "", "stream.features.a", ""),
])
def test_mapping_mistakes_name_their_key(features: str, extra: str, key: str, why: str) -> None:
    start = NESTED.index("  features:\n")
    end = NESTED.index("  prediction:")
    text = NESTED[:start] + f"  features:\n    {features}\n" + NESTED[end:] + extra
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert any(k.startswith(key) and why in m and line for k, line, m in err.value.problems), err.value.problems


def test_the_fast_and_the_per_message_paths_agree() -> None:
    """Every message read the same whether msgspec takes it or the per-message path does."""
    schema = StreamSchema("s", {"income": "numeric", "country": "categorical"}, label_field="label",
                          label_type="binary")
    raws = [nested(0), b'{"id": "a", "ts": 1, "features": {"income": 1, "country": "DE"}, "label": true}',
            b'{"id": "b", "ts": 1.5, "features": {"income": 1e308, "country": 3}}', b'{"id": "c", "ts": 2, "extra": 1}',
            b'{"id": "d", "ts": "2026-01-01T00:00:00+01:00", "features": null}', b'{"id": 1.5, "ts": 2}',
            b'{"id": "e", "ts": 99999999999999999999999}', b'{"id": "f", "ts": 3, "label": 2}', b'[]', b'{"id":"g"']
    fast = parse_events(schema, 0, list(range(len(raws))), raws)
    slow = parse_events(schema, 0, list(range(len(raws))), raws, fast=False)
    assert fast[0].ids == slow[0].ids and fast[0].ts.tolist() == slow[0].ts.tolist()
    assert [(r.offset, r.error) for r in fast[1]] == [(r.offset, r.error) for r in slow[1]]
    assert fast[0].undeclared == slow[0].undeclared == 5  # nested(0)'s four top-level keys, and "extra"


def test_the_readmes_mapping_avro_json_schema_and_protobuf_examples_validate() -> None:
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Your events as they are"):readme.index("### `driftline init`")]
    mapping, avro, json_schema, protobuf = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    cfg = parse_config(mapping)
    assert cfg.stream.feature_paths() == {"country": "applicant.address.country"}
    assert stream_schema(cfg).feature_path("income") == ("applicant", "income")
    cfg = parse_config(avro.replace("${REGISTRY_PASSWORD}", "secret") + "  name: s\n  features: {x: numeric}\n")
    assert cfg.stream.avro is not None and cfg.stream.avro.registry is not None
    assert "secret" not in repr(cfg.stream.avro)
    cfg = parse_config(json_schema.replace("${REGISTRY_PASSWORD}", "secret") + "  name: s\n  features: {x: numeric}\n")
    assert cfg.stream.json_schema is not None and cfg.stream.json_schema.registry is not None
    assert "secret" not in repr(cfg.stream.json_schema)
    cfg = parse_config(protobuf.replace("${REGISTRY_PASSWORD}", "secret") + "  name: s\n  features: {x: numeric}\n")
    assert cfg.stream.protobuf is not None and cfg.stream.protobuf.registry is not None
    assert "secret" not in repr(cfg.stream.protobuf)
