"""A user's own topics monitored as they are: nested JSON, flat JSON, Avro, JSON Schema and Protobuf, on the real
broker.

Each stream carries the synthetic events (an income shift at event 3000) in its own shape; the
monitor must find the shift and give exactly the alerts a backtest of the same messages gives.
No real Schema Registry runs here: the registry is a local HTTP stand-in (``avro_support``).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from avro_support import Registry
from roles_support import fresh_config, monitor_all

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert
from driftline.stream.shape import json_schema, protobuf
from driftline.stream.shape.avro import encode
from driftline.stream.shape.protobuf import compile_text
from driftline.stream.synthetic import FEATURES, Drift, generate

pytestmark = pytest.mark.integration

N = 6000
SHIFT = [Drift("income mean shift", "data_drift", "income", N // 2, "x1.5")]
NUMERIC = [f for f, t in FEATURES.items() if t == "numeric"]


def nested(e: dict[str, Any]) -> dict[str, Any]:
    sent = datetime.fromtimestamp(e["ts"] / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return {"meta": {"request_id": e["id"], "sent_at": sent, "service": "loans"},
            "applicant": {k: v for k, v in e["features"].items()},
            "model": {"decision": e["prediction"], "version": "7"}, "outcome": e["label"]}


NESTED_STREAM = {
    "id_field": "meta.request_id", "timestamp_field": "meta.sent_at",
    "features": {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()},
    "prediction": {"field": "model.decision", "type": "binary"}, "label": {"field": "outcome", "type": "binary"},
}


def flat(e: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": e["id"], "time_s": e["ts"] / 1000, **e["features"], "pred": e["prediction"],
            "label": e["label"], "extra": "ignored"}


FLAT_STREAM = {"id_field": "event_id", "timestamp_field": "time_s", "timestamp_unit": "s", "features_path": None,
               "prediction": {"field": "pred", "type": "binary"}}

AVRO_SCHEMA = {"type": "record", "name": "Scored", "namespace": "loans", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": "long"},
    {"name": "applicant", "type": {"type": "record", "name": "Applicant", "fields": [
        *({"name": f, "type": ["null", "double"]} for f in NUMERIC),
        *({"name": f, "type": ["null", "string"]} for f, t in FEATURES.items() if t == "categorical")]}},
    {"name": "prediction", "type": "int"}, {"name": "label", "type": "int"}]}


def avro_record(e: dict[str, Any]) -> dict[str, Any]:
    return {"id": e["id"], "ts": e["ts"], "applicant": e["features"], "prediction": e["prediction"],
            "label": e["label"]}


def live_and_backtest(cfg: DriftlineConfig, bootstrap: str, values: list[bytes], file: Path) -> list[dict]:
    runner = monitor_all(cfg, bootstrap, values)
    live = comparable([Alert.from_json(m.value) for m in read_topic(bootstrap, cfg.topics.alerts)])
    offline = comparable(backtest(cfg, file, io.BytesIO()).alerts)
    assert live == offline
    income = [a for a in live if a["feature"] == "income" and a["severity"] == "drift"]
    assert income and min(a["position"]["offset"] for a in income) >= N // 2  # the shift, found after it began
    assert runner.stats["monitor"].dead_letters == 0
    return live


def dead_lettered(cfg: DriftlineConfig, bootstrap: str, registry: Registry, good: list[bytes],
                  bad: list[bytes]) -> list[dict]:
    """Run the monitor over ``bad`` placed after the first 100 of ``good``: exactly the bad ones
    are dead-lettered, in order; their dead letters."""
    try:
        runner = monitor_all(cfg, bootstrap, good[:100] + bad + good[100:])
    finally:
        registry.close()
    assert runner.stats["monitor"].dead_letters == len(bad)
    dead = sorted((orjson.loads(m.value) for m in read_topic(bootstrap, cfg.topics.deadletter)),
                  key=lambda d: d["source"]["offset"])
    assert [d["source"]["offset"] for d in dead] == list(range(100, 100 + len(bad)))
    return dead


def comparable(alerts: list[Alert]) -> list[dict]:
    return sorted((a.model_dump(exclude={"detected_at"}) for a in alerts if a.kind != "concept_drift"),
                  key=lambda d: d["alert_id"])


@pytest.mark.parametrize(("shape", "stream"), [(nested, NESTED_STREAM), (flat, FLAT_STREAM)], ids=["nested", "flat"])
def test_json_of_a_users_own_shape(bootstrap_servers: str, tmp_path: Path, shape: Any, stream: dict) -> None:
    cfg = fresh_config(bootstrap_servers, **stream)
    values = [orjson.dumps(shape(e)) for e in generate(N, SHIFT, seed=3)]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(values) + b"\n")
    live_and_backtest(cfg, bootstrap_servers, values, file)


@pytest.mark.parametrize("source", ["registry", "avsc"])
def test_avro_with_a_registry_or_local_schemas(bootstrap_servers: str, tmp_path: Path, source: str) -> None:
    registry = Registry({42: AVRO_SCHEMA})
    avsc = tmp_path / "scored.avsc"
    avsc.write_text(json.dumps(AVRO_SCHEMA))
    avro = {"registry": {"url": registry.url}} if source == "registry" else {"schemas": {42: str(avsc)}}
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="avro", avro=avro, features=features)
    records = [avro_record(e) for e in generate(N, SHIFT, seed=5)]
    file = tmp_path / "events.avro"
    with file.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(AVRO_SCHEMA), records)
    try:
        live_and_backtest(cfg, bootstrap_servers, [encode(AVRO_SCHEMA, 42, r) for r in records], file)
    finally:
        registry.close()
    if source == "registry":
        assert registry.requests == ["/schemas/ids/42"]


def test_bad_avro_is_dead_lettered_and_the_monitor_goes_on(bootstrap_servers: str, tmp_path: Path) -> None:
    registry = Registry({42: AVRO_SCHEMA})
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="avro", avro={"registry": {"url": registry.url}},
                       features=features)
    good = [encode(AVRO_SCHEMA, 42, avro_record(e)) for e in generate(3000, [], seed=1)]
    bad = [encode(AVRO_SCHEMA, 43, avro_record(next(generate(1, [])))), good[0][:-6], b'{"id": "json"}']
    dead = dead_lettered(cfg, bootstrap_servers, registry, good, bad)
    assert "schema id 43" in dead[0]["error"] and "unknown to it" in dead[0]["error"]
    assert "does not decode with schema id 42" in dead[1]["error"]
    assert "not Avro in the Confluent wire format" in dead[2]["error"]


#: the events as JSON Schema describes them (the same fields as AVRO_SCHEMA's)
JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
    "required": ["id", "ts", "applicant", "prediction", "label"],
    "properties": {
        "id": {"type": "string"}, "ts": {"type": "integer", "minimum": 0},
        "applicant": {"type": "object", "properties": {
            **{f: {"type": ["number", "null"]} for f in NUMERIC},
            **{f: {"type": ["string", "null"]} for f, t in FEATURES.items() if t == "categorical"}}},
        "prediction": {"enum": [0, 1]}, "label": {"enum": [0, 1, None]}}}


def test_json_schema_with_a_registry(bootstrap_servers: str, tmp_path: Path) -> None:
    registry = Registry({7: JSON_SCHEMA}, types={7: "JSON"})
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="json_schema", json_schema={"registry": {"url": registry.url}},
                       features=features)
    docs = [avro_record(e) for e in generate(N, SHIFT, seed=7)]
    file = tmp_path / "events.jsonl"  # the same messages' bodies, for the backtest
    file.write_bytes(b"\n".join(map(orjson.dumps, docs)) + b"\n")
    try:
        live_and_backtest(cfg, bootstrap_servers, [json_schema.encode(7, d) for d in docs], file)
    finally:
        registry.close()
    assert registry.requests == ["/schemas/ids/7"]


def test_bad_json_schema_messages_are_dead_lettered_and_the_monitor_goes_on(bootstrap_servers: str) -> None:
    registry = Registry({7: JSON_SCHEMA}, types={7: "JSON"})
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="json_schema", json_schema={"registry": {"url": registry.url}},
                       features=features)
    docs = [avro_record(e) for e in generate(3000, [], seed=1)]
    good = [json_schema.encode(7, d) for d in docs]
    bad = [json_schema.encode(8, docs[0]),  # a schema id the registry does not know
           json_schema.encode(7, {**docs[1], "ts": "yesterday"}),  # refused by the schema
           orjson.dumps(docs[2])]  # plain JSON, not in the wire format
    dead = dead_lettered(cfg, bootstrap_servers, registry, good, bad)
    assert "schema id 8" in dead[0]["error"] and "unknown to it" in dead[0]["error"]
    assert "does not match schema id 7" in dead[1]["error"]
    assert "'yesterday' is not of type 'integer' (at ts)" in dead[1]["error"]
    assert "not JSON Schema in the Confluent wire format" in dead[2]["error"]


def _proto_fields() -> str:
    kinds = {"numeric": "double", "categorical": "string"}
    return "\n".join(f"    optional {kinds[t]} {f} = {i};" for i, (f, t) in enumerate(FEATURES.items(), start=1))


#: the events as a .proto schema describes them (the same fields as AVRO_SCHEMA's)
PROTO_SCHEMA = f"""syntax = "proto3";
package loans;
message Scored {{
  message Applicant {{
{_proto_fields()}
  }}
  string id = 1;
  int64 ts = 2;
  Applicant applicant = 3;
  int32 prediction = 4;
  optional int32 label = 5;
}}
"""


#: PROTO_SCHEMA with its applicant in a registered schema of its own, imported (the registry's
#: ``references``): the same messages, byte for byte
APPLICANT_PROTO = f"""syntax = "proto3";
package people;
message Applicant {{
{_proto_fields()}
}}
"""
PROTO_REFERRING = """syntax = "proto3";
package loans;
import "people/applicant.proto";
message Scored {
  string id = 1;
  int64 ts = 2;
  people.Applicant applicant = 3;
  int32 prediction = 4;
  optional int32 label = 5;
}
"""


def proto_messages(docs: list[dict[str, Any]], schema_id: int = 11) -> list[bytes]:
    """The records as Protobuf messages of PROTO_SCHEMA (encoded with its compiled class) in the wire format."""
    cls = compile_text(PROTO_SCHEMA, "the test's schema").message_class((0,))[0]
    out = []
    for doc in docs:
        message = cls(id=doc["id"], ts=doc["ts"], prediction=doc["prediction"])
        message.applicant.SetInParent()
        if doc["label"] is not None:
            message.label = doc["label"]
        for name, value in doc["applicant"].items():
            if value is not None:
                setattr(message.applicant, name, value)
        out.append(protobuf.encode(schema_id, message))
    return out


@pytest.mark.parametrize("source", ["registry", "references", "proto"])
def test_protobuf_with_a_registry_or_local_schemas(bootstrap_servers: str, tmp_path: Path, source: str) -> None:
    if source == "references":  # the applicant imported from another registered schema
        registry = Registry({11: PROTO_REFERRING, 21: APPLICANT_PROTO}, types={11: "PROTOBUF", 21: "PROTOBUF"},
                            references={11: [{"name": "people/applicant.proto", "subject": "applicant", "version": 1}]},
                            subjects={("applicant", 1): 21})
    else:
        registry = Registry({11: PROTO_SCHEMA}, types={11: "PROTOBUF"})
    proto = tmp_path / "scored.proto"
    proto.write_text(PROTO_SCHEMA)
    section = {"schemas": {11: str(proto)}} if source == "proto" else {"registry": {"url": registry.url}}
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="protobuf", protobuf=section, features=features)
    docs = [avro_record(e) for e in generate(N, SHIFT, seed=11)]
    for doc in docs[::50]:  # missing values, as fields not set
        doc["applicant"]["age"] = None
    file = tmp_path / "events.jsonl"  # the same messages as JSON, for the backtest
    file.write_bytes(b"\n".join(map(orjson.dumps, docs)) + b"\n")
    try:
        live_and_backtest(cfg, bootstrap_servers, proto_messages(docs), file)
    finally:
        registry.close()
    asked = {"registry": ["/schemas/ids/11"], "references": ["/schemas/ids/11", "/subjects/applicant/versions/1"]}
    assert registry.requests == asked.get(source, [])


def test_bad_protobuf_messages_are_dead_lettered_and_the_monitor_goes_on(bootstrap_servers: str) -> None:
    registry = Registry({11: PROTO_SCHEMA, 12: JSON_SCHEMA}, types={11: "PROTOBUF", 12: "JSON"})
    features = {f: {"type": t, "path": f"applicant.{f}"} for f, t in FEATURES.items()}
    cfg = fresh_config(bootstrap_servers, format="protobuf", protobuf={"registry": {"url": registry.url}},
                       features=features)
    docs = [avro_record(e) for e in generate(3000, [], seed=1)]
    good = proto_messages(docs)
    bad = [proto_messages(docs[:1], schema_id=13)[0],  # a schema id the registry does not know
           proto_messages(docs[1:2], schema_id=12)[0],  # the id of a JSON Schema
           good[2][:6] + bytes([0x0A, 0x10]) + b"short",  # the payload cut short (a 16-byte id of 5)
           good[3][:5] + bytes([2, 4]) + good[3][6:],  # message index [2]: the schema has one message
           orjson.dumps(docs[4])]  # plain JSON, not in the wire format
    dead = dead_lettered(cfg, bootstrap_servers, registry, good, bad)
    assert "schema id 13" in dead[0]["error"] and "unknown to it" in dead[0]["error"]
    assert "is a JSON schema: format protobuf reads Protobuf schemas only" in dead[1]["error"]
    assert "the payload does not decode as loans.Scored of schema id 11" in dead[2]["error"]
    assert "message index [2] is out of range" in dead[3]["error"]
    assert "not Protobuf in the Confluent wire format" in dead[4]["error"]
