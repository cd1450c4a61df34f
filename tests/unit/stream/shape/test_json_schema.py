"""JSON Schema in the Confluent wire format: schemas from a registry (a local HTTP stand-in) or
local files, each body validated, then read by the field mapping; every refusal says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from avro_support import Registry

from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError
from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.shape.avro import AvroDecoder
from driftline.stream.shape.json_schema import JsonSchemaDecoder, encode
from driftline.stream.shape.registry import SchemaRegistry

LOAN = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["id", "ts", "applicant"],
    "properties": {
        "id": {"type": "string"},
        "ts": {"type": "integer"},
        "applicant": {"type": "object", "properties": {"income": {"type": ["number", "null"], "minimum": 0}}},
    },
}
#: a draft 2020-12 schema with a $ref inside it
LOAN_2020 = {"type": "object", "$defs": {"money": {"type": "number"}},
             "properties": {"id": {"type": "string"},
                            "applicant": {"properties": {"income": {"$ref": "#/$defs/money"}}}}}
PROTO = 'syntax = "proto3"; message Loan { string id = 1; }'


def loan(i: int, income: float | None = 1.5) -> dict:
    return {"id": f"e{i}", "ts": 1000 + i, "applicant": {"income": income}}


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry({1: LOAN, 2: LOAN_2020, 3: {"type": "record", "name": "A", "fields": []}, 4: PROTO,
                    5: {"type": "object", "properties": {"id": {"$ref": "https://elsewhere.example/id.json"}}},
                    6: {"type": 12}},
                   auth="Basic dTpw", types={1: "JSON", 2: "JSON", 4: "PROTOBUF", 5: "JSON", 6: "JSON"})
    yield reg
    reg.close()


def schema_with(decoder: JsonSchemaDecoder) -> StreamSchema:
    return StreamSchema("s", {"income": "numeric"}, feature_paths={"income": "applicant.income"},
                        format="json_schema", json_schema=decoder)


def test_valid_bodies_are_read_by_the_mapping_and_the_schema_fetched_once(registry: Registry) -> None:
    schema = schema_with(JsonSchemaDecoder(SchemaRegistry(registry.url, "u", "p")))
    raws = [encode(1, loan(i, float(i))) for i in range(3)] + [encode(2, {**loan(3), "applicant": {"income": 7.0}})]
    batch, rejects = parse_events(schema, 0, list(range(4)), raws)
    assert rejects == [] and batch.ids == ["e0", "e1", "e2", "e3"]
    assert batch.numeric["income"].tolist() == [0.0, 1.0, 2.0, 7.0]
    assert registry.requests.count("/schemas/ids/1") == 1  # cached


def test_every_bad_message_is_refused_with_its_reason(registry: Registry) -> None:
    schema = schema_with(JsonSchemaDecoder(SchemaRegistry(registry.url, "u", "p")))
    raws = [
        encode(1, loan(0)),
        encode(9, loan(1)),  # an id the registry does not know
        encode(1, loan(2, -5.0)),  # refused by the schema: minimum 0
        encode(1, {"id": "e3", "applicant": {}}),  # refused by the schema: ts is required
        encode(1, loan(4))[:-3],  # the body cut short
        b'{"id": "plain json"}',  # no wire-format header
        encode(3, loan(6)),  # an Avro schema
        encode(4, loan(7)),  # a Protobuf schema
        encode(2, {"id": "e8", "applicant": {"income": "high"}}),  # refused through a $ref
        encode(5, {"id": "e9"}),  # a $ref driftline cannot resolve
        encode(6, loan(10)),  # not a valid schema
        bytes([0, 0, 0, 0, 1]) + b"[1, 2]",  # not an object
    ]
    batch, rejects = parse_events(schema, 0, list(range(len(raws))), raws)
    assert batch.ids == ["e0"]
    reasons = {r.offset: r.error for r in rejects}
    assert sorted(reasons) == list(range(1, len(raws)))
    assert "schema id 9" in reasons[1] and "unknown to it" in reasons[1]
    assert "does not match schema id 1" in reasons[2] and "minimum" in reasons[2] and "applicant.income" in reasons[2]
    assert "does not match schema id 1" in reasons[3] and "'ts' is a required property" in reasons[3]
    assert "not valid JSON" in reasons[4]
    assert "not JSON Schema in the Confluent wire format" in reasons[5]
    assert "is a AVRO schema: format json_schema reads JSON Schemas only" in reasons[6]
    assert "is a PROTOBUF schema: format json_schema reads JSON Schemas only" in reasons[7]
    assert "does not match schema id 2" in reasons[8] and "'high' is not of type 'number'" in reasons[8]
    assert "cannot resolve" in reasons[9]
    assert "not a valid JSON Schema" in reasons[10]
    assert "not a JSON object but list" in reasons[11]


def test_wrong_credentials_are_a_reason(registry: Registry) -> None:
    schema = schema_with(JsonSchemaDecoder(SchemaRegistry(registry.url, "u", "wrong")))
    _, [reject] = parse_events(schema, 0, [0], [encode(1, loan(0))])
    assert "HTTP 401" in reject.error and registry.url in reject.error


def test_an_avro_stream_refuses_a_json_schema_id(registry: Registry) -> None:
    doc, why = AvroDecoder(SchemaRegistry(registry.url, "u", "p")).decode(encode(1, loan(0)))
    assert doc is None and "is a JSON schema: format avro reads Avro schemas only" in why


def test_local_schema_files(tmp_path: Path) -> None:
    (tmp_path / "loan.json").write_text(json.dumps(LOAN))
    schema = schema_with(JsonSchemaDecoder(schema_files={1: str(tmp_path / "loan.json")}))
    batch, rejects = parse_events(schema, 0, [0, 1, 2], [encode(1, loan(0)), encode(1, loan(1, -1.0)),
                                                          encode(2, loan(2))])
    assert batch.ids == ["e0"]
    assert "minimum" in rejects[0].error
    assert "schema id 2 is not among stream.json_schema.schemas (ids 1)" in rejects[1].error


STREAM = """\
stream:
  name: s
  features: {income: {type: numeric, path: applicant.income}}
"""


def test_the_configuration_names_what_is_missing_or_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": 12}')
    cases = {
        "  format: json_schema\n": ("stream.json_schema", "format json_schema needs stream.json_schema"),
        "  json_schema: {schemas: {1: x.json}}\n": ("stream.format", "set format: json_schema"),
        "  format: json_schema\n  json_schema: {}\n": ("stream.json_schema", "give registry"),
        f"  format: json_schema\n  json_schema: {{schemas: {{1: {bad}}}}}\n": ("stream.json_schema.schemas[1]",
                                                                            "not a valid JSON Schema"),
    }
    for extra, (key, said) in cases.items():
        with pytest.raises(ConfigError) as info:
            parse_config(STREAM + extra)
        assert [(k, m) for k, _, m in info.value.problems if said in m and k == key], info.value.problems


def test_a_configuration_with_a_registry_validates() -> None:
    cfg = parse_config(STREAM + "  format: json_schema\n  json_schema: {registry: {url: 'http://127.0.0.1:1'}}\n")
    assert cfg.stream.format == "json_schema" and cfg.stream.json_schema.registry.url == "http://127.0.0.1:1"
