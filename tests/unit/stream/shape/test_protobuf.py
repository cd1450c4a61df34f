"""Protobuf in the Confluent wire format: schemas compiled from a registry's ``.proto`` text (a
local HTTP stand-in) or local files, messages encoded with the compiled classes, decoded into the
field mapping; every refusal says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from avro_support import Registry

from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError
from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.shape.json_schema import JsonSchemaDecoder
from driftline.stream.shape.protobuf import ProtobufDecoder, compile_text, encode, message_indexes
from driftline.stream.shape.registry import SchemaRegistry, SchemaUnavailable

LOAN = """
syntax = "proto3";
package loans;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Channel { CHANNEL_UNSPECIFIED = 0; WEB = 1; BRANCH = 2; }

message Loan {
  message Applicant {
    optional double income = 1;
    Channel channel = 2;
    map<string, double> ratios = 3;
  }
  string id = 1;
  int64 ts = 2;
  Applicant applicant = 3;
  optional int32 label = 4;
  repeated string tags = 5;
  google.protobuf.Timestamp sent = 6;
  google.protobuf.DoubleValue score = 7;
  bytes blob = 8;
}

message Label {
  string id = 1;
  int32 label = 2;
}
"""
PROTO2 = 'syntax = "proto2"; message Old { required string id = 1; optional int64 ts = 2; optional double x = 3; }'


@pytest.fixture(scope="module")
def classes() -> dict[str, Any]:
    compiled = compile_text(LOAN, "the test's schema")
    return {"Loan": compiled.message_class((0,))[0], "Label": compiled.message_class((1,))[0],
            "Applicant": compiled.message_class((0, 0))[0]}


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry({1: LOAN, 2: PROTO2, 3: {"type": "object"}, 4: 'syntax = "proto3"; message Broken { int32 = 1; }',
                    5: 'syntax = "proto3"; import "other/customer.proto"; message L { string id = 1; }',
                    6: {"type": "record", "name": "A", "fields": []}},
                   auth="Basic dTpw", types={1: "PROTOBUF", 2: "PROTOBUF", 3: "JSON", 4: "PROTOBUF", 5: "PROTOBUF"})
    yield reg
    reg.close()


def loan(classes: dict[str, Any], i: int, income: float | None = 1.5, **extra: Any) -> Any:
    message = classes["Loan"](id=f"e{i}", ts=1767225600000 + i, **extra)
    message.applicant.channel = 1
    if income is not None:
        message.applicant.income = income
    return message


def schema_with(decoder: ProtobufDecoder) -> StreamSchema:
    return StreamSchema("s", {"income": "numeric", "channel": "categorical"}, features_path="applicant",
                        label_field="label", label_type="binary", format="protobuf", protobuf=decoder)


def test_messages_are_read_by_the_mapping_and_the_schema_compiled_once(registry: Registry, classes: dict) -> None:
    schema = schema_with(ProtobufDecoder(SchemaRegistry(registry.url, "u", "p")))
    raws = [encode(1, loan(classes, 0, 2.5, label=1)), encode(1, loan(classes, 1, None)),
            encode(1, loan(classes, 2, 0.0, label=0), indexes=(0,))]
    batch, rejects = parse_events(schema, 0, [0, 1, 2], raws)
    assert rejects == [] and batch.ids == ["e0", "e1", "e2"]
    assert batch.numeric["income"].tolist()[0] == 2.5 and batch.numeric["income"].tolist()[2] == 0.0
    assert str(batch.numeric["income"].tolist()[1]) == "nan"  # unset optional: a missing value
    assert list(batch.categorical["channel"]) == ["WEB", "WEB", "WEB"]  # an enum by its value's name
    assert batch.ts.tolist() == [1767225600000, 1767225600001, 1767225600002]
    assert registry.requests.count("/schemas/ids/1") == 1  # fetched and compiled once


def test_every_kind_of_field_decodes_as_json_would_hold_it(registry: Registry, classes: dict) -> None:
    message = loan(classes, 7, 3.0, label=1, tags=["a", "b"], blob=b"hi")
    message.applicant.ratios["debt"] = 0.25
    message.sent.seconds, message.sent.nanos = 1767225600, 123_000_000
    message.score.value = 0.75
    doc, why = ProtobufDecoder(SchemaRegistry(registry.url, "u", "p")).decode(encode(1, message))
    assert why == ""
    assert doc == {"id": "e7", "ts": 1767225600007, "label": 1, "tags": ["a", "b"], "blob": "aGk=",
                   "applicant": {"income": 3.0, "channel": "WEB", "ratios": {"debt": 0.25}},
                   "sent": "2026-01-01T00:00:00.123Z", "score": 0.75}
    bare, _ = ProtobufDecoder(SchemaRegistry(registry.url, "u", "p")).decode(encode(1, classes["Loan"](id="x")))
    assert bare is not None and bare["applicant"] is None and bare["label"] is None and bare["ts"] == 0
    assert bare["sent"] is None and bare["score"] is None and bare["tags"] == []


def test_nested_and_second_messages_by_their_indexes(registry: Registry, classes: dict) -> None:
    decoder = ProtobufDecoder(SchemaRegistry(registry.url, "u", "p"))
    label = classes["Label"](id="e1", label=1)
    assert decoder.decode(encode(1, label, indexes=(1,))) == ({"id": "e1", "label": 1}, "")
    applicant = classes["Applicant"](income=4.0)
    doc, why = decoder.decode(encode(1, applicant, indexes=(0, 0)))
    assert why == "" and doc == {"income": 4.0, "channel": "CHANNEL_UNSPECIFIED", "ratios": {}}
    assert encode(1, label, indexes=(1,))[5:7] == bytes([2, 2])  # a count of 1, the index 1, both zigzag
    assert message_indexes(bytes([0, 0, 0, 0, 1, 0]), 5) == ((0,), 6, "")
    assert message_indexes(bytes([0, 0, 0, 0, 1, 4, 2, 4]), 5) == ((1, 2), 8, "")


def test_label_messages_in_the_same_format(registry: Registry, classes: dict) -> None:
    schema = schema_with(ProtobufDecoder(SchemaRegistry(registry.url, "u", "p")))
    raws = [encode(1, classes["Label"](id="e1", label=1), indexes=(1,)), encode(1, loan(classes, 2), indexes=(3,))]
    labels, [reject] = parse_label_messages(0, [0, 1], raws, "id", "label", "binary", schema, ts_field=None)
    assert labels == [("e1", 1, 0, 0)]
    assert reject.offset == 1 and "label message: message index [3] is out of range" in reject.error


def test_proto2_with_required_fields(registry: Registry) -> None:
    decoder = ProtobufDecoder(SchemaRegistry(registry.url, "u", "p"))
    cls = decoder.compiled(2).message_class((0,))[0]
    assert decoder.decode(encode(2, cls(id="a", ts=5))) == ({"id": "a", "ts": 5, "x": None}, "")
    without_id = bytes([0, 0, 0, 0, 2, 0]) + cls(ts=5).SerializePartialToString()  # a required field not set
    doc, why = decoder.decode(without_id)
    assert doc is None and "does not decode as Old of schema id 2: required fields not set: id" in why


def test_every_bad_message_is_refused_with_its_reason(registry: Registry, classes: dict) -> None:
    schema = schema_with(ProtobufDecoder(SchemaRegistry(registry.url, "u", "p")))
    good = encode(1, loan(classes, 0, label=1))
    raws = [
        good,
        encode(9, loan(classes, 1)),  # an id the registry does not know
        encode(3, loan(classes, 2)),  # a JSON Schema id
        encode(1, loan(classes, 3), indexes=(2,)),  # the schema has two top-level messages
        encode(1, loan(classes, 4), indexes=(0, 5)),  # Loan has one nested type (Applicant)
        good[:6] + bytes([0x0A, 0x10]) + b"short",  # a string field cut short
        b'{"id": "plain json"}',  # no wire-format header
        encode(4, loan(classes, 7)),  # a schema protoc refuses
        encode(5, loan(classes, 8)),  # an import that is none of its references (it has none)
        bytes([0, 0, 0, 0, 1, 0x81]),  # the indexes cut short
        encode(6, loan(classes, 10)),  # an Avro id (no type: Avro)
    ]
    batch, rejects = parse_events(schema, 0, list(range(len(raws))), raws)
    assert batch.ids == ["e0"]
    reasons = {r.offset: r.error for r in rejects}
    assert sorted(reasons) == list(range(1, len(raws)))
    assert "schema id 9" in reasons[1] and "unknown to it" in reasons[1]
    assert "is a JSON schema: format protobuf reads Protobuf schemas only" in reasons[2]
    assert "message index [2] is out of range: the schema has 2 top-level message types" in reasons[3]
    assert "message index [0, 5] is out of range: message loans.Loan has 1 nested message type (" in reasons[4]
    assert "the payload does not decode as loans.Loan of schema id 1" in reasons[5]
    assert "not Protobuf in the Confluent wire format" in reasons[6]
    assert "schema id 4 from the registry" in reasons[7] and "not a valid Protobuf schema" in reasons[7]
    assert "other/customer.proto" in reasons[8] and "none of the schema's references to other registered" in reasons[8]
    assert "the message indexes of schema id 1 do not read" in reasons[9]
    assert "is a AVRO schema: format protobuf reads Protobuf schemas only" in reasons[10]
    again, [reject] = parse_events(schema, 0, [11], [encode(4, loan(classes, 11))])
    assert reject.error == reasons[7] and again.ids == []  # a schema that does not compile is not compiled again
    assert registry.requests.count("/schemas/ids/4") == 1


def test_a_json_schema_stream_refuses_a_protobuf_id(registry: Registry) -> None:
    doc, why = JsonSchemaDecoder(SchemaRegistry(registry.url, "u", "p")).decode(bytes([0, 0, 0, 0, 1]) + b"{}")
    assert doc is None and "is a PROTOBUF schema: format json_schema reads JSON Schemas only" in why


def test_local_schema_files_import_from_their_folder(tmp_path: Path, classes: dict) -> None:
    (tmp_path / "common.proto").write_text('syntax = "proto3"; package common; message Money { double amount = 1; }')
    (tmp_path / "loan.proto").write_text('syntax = "proto3"; import "common.proto"; '
                                         "message Loan { string id = 1; int64 ts = 2; common.Money income = 3; }")
    decoder = ProtobufDecoder(schema_files={3: str(tmp_path / "loan.proto")})
    cls = decoder.compiled(3).message_class((0,))[0]
    message = cls(id="e1", ts=5)
    message.income.amount = 2.0
    assert decoder.decode(encode(3, message)) == ({"id": "e1", "ts": 5, "income": {"amount": 2.0}}, "")
    doc, why = decoder.decode(encode(4, message))
    assert doc is None and "schema id 4 is not among stream.protobuf.schemas (ids 3)" in why
    with pytest.raises(SchemaUnavailable, match="cannot read the Protobuf schema"):
        ProtobufDecoder(schema_files={1: str(tmp_path / "missing.proto")}).compiled(1)


STREAM = """\
stream:
  name: s
  features: {income: {type: numeric, path: applicant.income}}
"""


def test_the_configuration_names_what_is_missing_or_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto3"; message { }')
    cases = {
        "  format: protobuf\n": ("stream.protobuf", "format protobuf needs stream.protobuf"),
        "  protobuf: {schemas: {1: x.proto}}\n": ("stream.format", "set format: protobuf"),
        "  format: protobuf\n  protobuf: {}\n": ("stream.protobuf", "give registry"),
        f"  format: protobuf\n  protobuf: {{schemas: {{1: {bad}}}}}\n": ("stream.protobuf.schemas[1]",
                                                                       "not a valid Protobuf schema"),
        f"  format: protobuf\n  protobuf: {{schemas: {{1: {tmp_path / 'none.proto'}}}}}\n": (
            "stream.protobuf.schemas[1]", "cannot read the Protobuf schema"),
    }
    for extra, (key, said) in cases.items():
        with pytest.raises(ConfigError) as info:
            parse_config(STREAM + extra)
        assert [(k, m) for k, _, m in info.value.problems if said in m and k == key], info.value.problems


def test_a_configuration_with_a_registry_or_local_schemas_validates(tmp_path: Path) -> None:
    cfg = parse_config(STREAM + "  format: protobuf\n  protobuf: {registry: {url: 'http://127.0.0.1:1'}}\n")
    assert cfg.stream.format == "protobuf" and cfg.stream.protobuf.registry.url == "http://127.0.0.1:1"
    (tmp_path / "loan.proto").write_text(LOAN)
    path = json.dumps(str(tmp_path / "loan.proto"))
    cfg = parse_config(STREAM + f"  format: protobuf\n  protobuf: {{schemas: {{1: {path}}}}}\n")
    assert cfg.stream.protobuf.schemas == {1: str(tmp_path / "loan.proto")}
