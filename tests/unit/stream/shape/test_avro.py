"""Avro in the Confluent wire format: writer schemas from a registry (a local HTTP stand-in) or .avsc files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import fastavro
import pytest
from avro_support import V1, V2, Registry, record

from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.replay import read_events
from driftline.stream.shape.avro import AvroDecoder, SchemaRegistry, encode


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry({1: V1, 2: V2}, auth="Basic dTpw")  # u:p
    yield reg
    reg.close()


def schema_with(decoder: AvroDecoder) -> StreamSchema:
    return StreamSchema("s", {"income": "numeric"}, feature_paths={"income": "applicant.income"}, format="avro",
                        avro=decoder)


def test_registry_schemas_are_fetched_once_and_bad_messages_refused(registry: Registry) -> None:
    schema = schema_with(AvroDecoder(SchemaRegistry(registry.url, "u", "p")))
    good = [encode(V1, 1, record(i)) for i in range(3)]
    raws = [*good, encode(V1, 9, record(3)), good[0][:-4], b'{"id": "json"}', encode(V2, 2, record(4, None))]
    batch, rejects = parse_events(schema, 0, list(range(len(raws))), raws)
    assert batch.ids == ["e0", "e1", "e2", "e4"] and batch.numeric["income"][:3].tolist() == [1.5] * 3
    reasons = [r.error for r in rejects]
    assert "schema id 9" in reasons[0] and "unknown to it" in reasons[0]
    assert "does not decode with schema id 1" in reasons[1]
    assert "not Avro in the Confluent wire format" in reasons[2]
    assert registry.requests.count("/schemas/ids/1") == 1  # cached
    parse_events(schema, 0, [9], [encode(V1, 9, record(5))])
    assert registry.requests.count("/schemas/ids/9") == 1  # an unknown id is not asked again at once


def test_wrong_credentials_are_a_reason(registry: Registry) -> None:
    schema = schema_with(AvroDecoder(SchemaRegistry(registry.url, "u", "wrong")))
    _, [reject] = parse_events(schema, 0, [0], [encode(V1, 1, record(0))])
    assert "HTTP 401" in reject.error and registry.url in reject.error


def test_local_avsc_files_and_schema_evolution(tmp_path: Path) -> None:
    (tmp_path / "v1.avsc").write_text(json.dumps(V1))
    (tmp_path / "v2.avsc").write_text(json.dumps(V2))
    decoder = AvroDecoder(schema_files={1: str(tmp_path / "v1.avsc"), 2: str(tmp_path / "v2.avsc")},
                          reader_schema=str(tmp_path / "v2.avsc"))
    doc, why = decoder.decode(encode(V1, 1, record(0)))
    assert why == "" and doc["channel"] == "web"  # the reader's default for a field v1 did not have
    batch, rejects = parse_events(schema_with(decoder), 0, [0, 1],
                                  [encode(V1, 1, record(0)), encode(V2, 2, {**record(1), "channel": "app"})])
    assert rejects == [] and batch.ids == ["e0", "e1"]


def test_avro_container_files_are_read_as_events(tmp_path: Path) -> None:
    path = tmp_path / "events.avro"
    with path.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(V1), [record(i, float(i)) for i in range(7)])
    schema = schema_with(AvroDecoder(schema_files={}))
    [(batch, rejects)] = list(read_events(path, schema))
    assert rejects == [] and batch.numeric["income"].tolist() == [float(i) for i in range(7)]
