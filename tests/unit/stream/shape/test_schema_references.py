"""Schema references: a registered schema that imports other registered schemas (the registry's
``references``, fetched by subject and version from a local HTTP stand-in) is compiled (Protobuf),
parsed (Avro) or validated (JSON Schema) with them; a reference that cannot be had, that forms a cycle, or whose name
would leave the include directory is refused, saying which."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest
from avro_support import Registry

from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.shape import registry as registry_module
from driftline.stream.shape.avro import AvroDecoder
from driftline.stream.shape.json_schema import JsonSchemaDecoder
from driftline.stream.shape.json_schema import encode as json_encode
from driftline.stream.shape.protobuf import ProtobufDecoder, compile_text, encode
from driftline.stream.shape.registry import SchemaRegistry, SchemaUnavailable

MONEY = 'syntax = "proto3"; package common; message Money { double amount = 1; string currency = 2; }'
APPLICANT = """syntax = "proto3"; package people; import "common/money.proto";
message Applicant { common.Money income = 1; optional int32 age = 2; }"""
LOAN = """syntax = "proto3"; package loans; import "people/applicant.proto"; import "common/money.proto";
message Loan { string id = 1; int64 ts = 2; people.Applicant applicant = 3; common.Money amount = 4;
               optional int32 label = 5; }"""
FLAT = """syntax = "proto3"; package loans; import "common/money.proto";
message Flat { string id = 1; int64 ts = 2; common.Money income = 3; }"""
MONEY_REF = {"name": "common/money.proto", "subject": "common-money", "version": 1}
APPLICANT_REF = {"name": "people/applicant.proto", "subject": "people/applicant", "version": 2}


def protobuf(*ids: int) -> dict[int, str]:
    return dict.fromkeys(ids, "PROTOBUF")


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry(
        {1: FLAT, 2: LOAN, 21: MONEY, 22: APPLICANT,
         3: FLAT, 4: FLAT, 5: FLAT, 6: FLAT, 7: FLAT, 8: 'syntax = "proto3"; import "a.proto"; message M {}',
         31: 'syntax = "proto3"; import "b.proto"; message A {}',
         32: 'syntax = "proto3"; import "a.proto"; message B {}',
         40: {"type": "record", "name": "Money", "fields": []}},
        auth="Basic dTpw", types=protobuf(1, 2, 21, 22, 3, 4, 5, 6, 7, 8, 31, 32),
        references={1: [MONEY_REF], 2: [APPLICANT_REF, MONEY_REF], 22: [MONEY_REF],
                    3: [{**MONEY_REF, "subject": "nowhere"}], 4: [{**MONEY_REF, "version": 9}],
                    5: [{**MONEY_REF, "name": "../money.proto"}], 6: [{**MONEY_REF, "name": "/tmp/money.proto"}],
                    7: [{**MONEY_REF, "subject": "avro-money"}],
                    8: [{"name": "a.proto", "subject": "a", "version": 1}],
                    31: [{"name": "b.proto", "subject": "b", "version": 1}],
                    32: [{"name": "a.proto", "subject": "a", "version": 1}]},
        subjects={("common-money", 1): 21, ("people/applicant", 2): 22, ("avro-money", 1): 40,
                  ("a", 1): 31, ("b", 1): 32})
    yield reg
    reg.close()


def decoder_of(registry: Registry) -> ProtobufDecoder:
    return ProtobufDecoder(SchemaRegistry(registry.url, "u", "p"))


def compiled_class(text: str, imports: dict[str, str]) -> Any:
    return compile_text(text, "the test's schema", imports).message_class((0,))[0]


def test_a_schema_importing_a_referenced_schema_decodes(registry: Registry) -> None:
    cls = compiled_class(FLAT, {"common/money.proto": MONEY})
    message = cls(id="e1", ts=5)
    message.income.amount, message.income.currency = 2.5, "EUR"
    decoder = decoder_of(registry)
    assert decoder.decode(encode(1, message)) == ({"id": "e1", "ts": 5, "income": {"amount": 2.5, "currency": "EUR"}},
                                                  "")
    assert decoder.decode(encode(1, cls(id="e2")))[1] == ""
    assert registry.requests.count("/schemas/ids/1") == 1  # the schema and its reference fetched once
    assert registry.requests.count("/subjects/common-money/versions/1") == 1


def test_a_chain_of_references_is_followed_each_fetched_once(registry: Registry) -> None:
    imports = {"common/money.proto": MONEY, "people/applicant.proto": APPLICANT}
    cls = compiled_class(LOAN, imports)
    message = cls(id="e1", ts=5, label=1)
    message.applicant.income.amount, message.applicant.age = 3000.0, 41
    message.amount.amount = 12.0
    schema = StreamSchema("s", {"amount": "numeric", "age": "numeric"}, features_path=None, label_field="label",
                          label_type="binary", format="protobuf", protobuf=decoder_of(registry),
                          feature_paths={"amount": "applicant.income.amount", "age": "applicant.age"})
    batch, rejects = parse_events(schema, 0, [0], [encode(2, message)])
    assert rejects == [] and batch.ids == ["e1"]
    assert batch.numeric["amount"].tolist() == [3000.0] and batch.numeric["age"].tolist() == [41.0]
    # people/applicant references common/money too: each subject-version fetched once, with the registry's auth
    assert registry.requests.count("/subjects/people%2Fapplicant/versions/2") == 1
    assert registry.requests.count("/subjects/common-money/versions/1") == 1
    deps = SchemaRegistry(registry.url, "u", "p").dependencies(2, "PROTOBUF")
    assert [d.name for d in deps] == ["common/money.proto", "people/applicant.proto"]  # each after what it needs


def test_a_missing_referenced_subject_or_version_is_refused_naming_it(registry: Registry,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cls = compiled_class(FLAT, {"common/money.proto": MONEY})
    schema = StreamSchema("s", {"amount": "numeric"}, features_path=None, format="protobuf",
                          protobuf=decoder_of(registry), feature_paths={"amount": "income.amount"})
    raws = [encode(3, cls(id="e1")), encode(4, cls(id="e2")), encode(1, cls(id="e3"))]
    batch, rejects = parse_events(schema, 0, [0, 1, 2], raws)
    assert batch.ids == ["e3"]
    subject, version = (r.error for r in rejects)
    assert "schema id 3 from the registry" in subject
    assert "its reference common/money.proto (subject 'nowhere', version 1) cannot be had" in subject
    assert "unknown to it (subject not found)" in subject
    assert "(subject 'common-money', version 9) cannot be had" in version and "(version not found)" in version
    again, [reject] = parse_events(schema, 0, [3], [raws[0]])
    assert reject.error == subject and registry.requests.count("/subjects/nowhere/versions/1") == 1  # not asked again
    monkeypatch.setattr(registry_module, "RETRY_SECONDS", 0.0)
    registry.subjects[("nowhere", 1)] = 21  # registered meanwhile: asked again after RETRY_SECONDS, and read
    fresh = decoder_of(registry)
    assert fresh.decode(raws[0])[1] == ""


def test_a_reference_name_leaving_the_directory_is_refused(registry: Registry) -> None:
    decoder = decoder_of(registry)
    cls = compiled_class(FLAT, {"common/money.proto": MONEY})
    for schema_id, name in ((5, "../money.proto"), (6, "/tmp/money.proto")):
        doc, why = decoder.decode(encode(schema_id, cls(id="e1")))
        assert doc is None and f"the reference name {name!r} is refused" in why, why
    with pytest.raises(SchemaUnavailable, match="is refused"):
        compile_text(FLAT, "x", {"common/../../money.proto": MONEY})


def test_cycles_other_types_and_unreferenced_imports_are_refused(registry: Registry) -> None:
    decoder = decoder_of(registry)
    cls = compiled_class(FLAT, {"common/money.proto": MONEY})
    why = {i: decoder.decode(encode(i, cls(id="e1")))[1] for i in (7, 8, 9)}
    assert "its reference common/money.proto (subject 'avro-money', version 1) is a AVRO schema" in why[7]
    assert "its references form a cycle: a.proto (subject 'a', version 1) -> b.proto (subject 'b', version 1) -> " \
           "a.proto (subject 'a', version 1)" in why[8]
    assert "schema id 9" in why[9] and "unknown to it (schema not found)" in why[9]
    unreferenced = ProtobufDecoder(SchemaRegistry(registry.url, "u", "p"))
    registry.schemas[10], registry.types[10] = 'syntax = "proto3"; import "x/y.proto"; message M {}', "PROTOBUF"
    doc, said = unreferenced.decode(encode(10, cls(id="e1")))
    assert doc is None and "imports x/y.proto, which driftline cannot resolve" in said
    assert "none of the schema's references to other registered schemas" in said


def test_limits_on_depth_and_number(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "MAX_REFERENCE_DEPTH", 1)
    with pytest.raises(SchemaUnavailable, match="its references reach deeper than 1"):
        SchemaRegistry(registry.url, "u", "p").dependencies(2, "PROTOBUF")
    monkeypatch.setattr(registry_module, "MAX_REFERENCE_DEPTH", 16)
    monkeypatch.setattr(registry_module, "MAX_REFERENCES", 1)
    with pytest.raises(SchemaUnavailable, match="it references more than 1 registered schemas"):
        SchemaRegistry(registry.url, "u", "p").dependencies(2, "PROTOBUF")


AVRO_MONEY = {"type": "record", "name": "Money", "namespace": "common",
              "fields": [{"name": "amount", "type": "double"}]}
AVRO_APPLICANT = {"type": "record", "name": "Applicant", "namespace": "people",
                  "fields": [{"name": "income", "type": "common.Money"}, {"name": "age", "type": ["null", "int"]}]}
AVRO_LOAN = {"type": "record", "name": "Loan", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": "long"}, {"name": "applicant", "type": "people.Applicant"},
    {"name": "amount", "type": "common.Money"}]}


def avro_message(schema_id: int, record: dict) -> bytes:
    named: dict = {}
    for schema in (AVRO_MONEY, AVRO_APPLICANT):
        fastavro.parse_schema(schema, named_schemas=named)
    out = io.BytesIO(b"\0" + schema_id.to_bytes(4, "big"))
    out.seek(5)
    fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO_LOAN, named_schemas=named), record)
    return out.getvalue()


def test_avro_named_types_of_referenced_schemas_are_known() -> None:
    money_ref = {"name": "common.Money", "subject": "money", "version": 1}
    reg = Registry({50: AVRO_LOAN, 51: AVRO_MONEY, 52: AVRO_APPLICANT, 53: AVRO_LOAN},
                   references={50: [{"name": "people.Applicant", "subject": "applicant", "version": 3}, money_ref],
                               52: [money_ref], 53: [money_ref]},
                   subjects={("money", 1): 51, ("applicant", 3): 52})
    try:
        decoder = AvroDecoder(SchemaRegistry(reg.url))
        record = {"id": "e1", "ts": 5, "applicant": {"income": {"amount": 3000.0}, "age": 41},
                  "amount": {"amount": 12.0}}
        assert decoder.decode(avro_message(50, record)) == (record, "")
        assert reg.requests.count("/subjects/money/versions/1") == 1
        doc, why = decoder.decode(avro_message(53, record))  # people.Applicant is not among its references
        assert doc is None and "schema id 53" in why
        assert "uses the type people.Applicant, which neither it nor its references" in why
    finally:
        reg.close()


JSON_ADDRESS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
JSON_CUSTOMER = {"type": "object", "properties": {"income": {"type": "number"}, "address": {"$ref": "address.json"}}}
JSON_LOAN = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "string"}, "customer": {"$ref": "customer.json"}}}


def test_json_schema_refs_to_referenced_schemas_are_followed() -> None:
    address_ref = {"name": "address.json", "subject": "address", "version": 1}
    reg = Registry({60: JSON_LOAN, 61: JSON_CUSTOMER, 62: JSON_ADDRESS,
                    63: {"$id": "https://example.com/schemas/loan.json", **JSON_LOAN}, 64: JSON_LOAN},
                   types=dict.fromkeys((60, 61, 62, 63, 64), "JSON"),
                   references={60: [{"name": "customer.json", "subject": "customer", "version": 2}],
                               61: [address_ref],
                               63: [{"name": "customer.json", "subject": "customer", "version": 2}]},
                   subjects={("customer", 2): 61, ("address", 1): 62})
    try:
        decoder = JsonSchemaDecoder(SchemaRegistry(reg.url))
        good = {"id": "e1", "customer": {"income": 2.5, "address": {"city": "Bonn"}}}
        for schema_id in (60, 63):  # the name alone, and the name resolved against the schema's $id
            assert decoder.decode(json_encode(schema_id, good)) == (good, "")
        doc, why = decoder.decode(json_encode(60, {"id": "e2", "customer": {"income": "high", "address": {}}}))
        assert doc is None and "the body does not match schema id 60" in why
        assert reg.requests.count("/subjects/address/versions/1") == 1
        doc, why = decoder.decode(json_encode(64, good))  # the same $ref without references
        assert doc is None and "schema id 64 refers to a schema driftline cannot resolve" in why
    finally:
        reg.close()
