"""``driftline init`` on files: the configuration it writes validates, and finds the demo's drifts; a topic's
messages framed with a schema id, decoded with a registry (a local HTTP stand-in)."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import fastavro
import orjson
import pandas as pd
import pytest
from avro_support import V1, Registry, record

from driftline.consumers.cli.init import _framed
from driftline.consumers.cli.main import main
from driftline.consumers.config.infer import infer, render
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import load_config, parse_config
from driftline.consumers.errors import InputError
from driftline.stream.shape import avro, json_schema, protobuf
from driftline.stream.shape.protobuf import compile_text
from driftline.stream.synthetic import default_drifts, generate

N = 40_000


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("init") / "demo.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(N, default_drifts(N))))
    return path


def test_init_on_the_demos_data_detects_its_drifts(demo_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "driftline.yaml"
    assert main(["init", "--input", str(demo_file), "--output", str(out)]) == 0
    said = capsys.readouterr().err
    assert "id: id; event time: ts (epoch ms)" in said and "label: label (binary)" in said
    cfg = load_config(out)
    assert cfg.stream.feature_types() == {"income": "numeric", "age": "numeric", "score": "numeric",
                                          "country": "categorical", "device": "categorical"}
    result = backtest(cfg, demo_file, io.BytesIO())
    drifts = {(a.kind, a.feature) for a in result.alerts if a.severity == "drift"}
    found = {d.name for d in default_drifts(N) if any(kind == d.kind and (d.feature in (None, feature))
                                                      for kind, feature in drifts)}
    assert found == {d.name for d in default_drifts(N)}, drifts


def test_a_flat_csv_and_an_avro_file(tmp_path: Path, capsys) -> None:
    events = list(generate(3000, []))
    flat = [{"request_id": e["id"], "sent_at": e["ts"] / 1000, **e["features"], "approved": e["prediction"],
             "outcome": e["label"], "comment": f"free text {i}"} for i, e in enumerate(events)]
    csv = tmp_path / "loans.csv"
    pd.DataFrame(flat).to_csv(csv, index=False)
    assert main(["init", "--input", str(csv), "--output", str(tmp_path / "csv.yaml")]) == 0
    cfg = load_config(tmp_path / "csv.yaml")
    s = cfg.stream
    assert (s.id_field, s.timestamp_field, s.timestamp_unit, s.features_path) == ("request_id", "sent_at", "s", None)
    assert s.label is not None and (s.label.field, s.label.type) == ("outcome", "binary")
    assert "left out comment" in capsys.readouterr().err
    assert len(list(backtest(cfg, csv, io.BytesIO()).rejects)) == 0

    schema = {"type": "record", "name": "E", "fields": [
        {"name": "meta", "type": {"type": "record", "name": "M", "fields": [{"name": "uuid", "type": "string"},
                                                                            {"name": "created", "type": "long"}]}},
        {"name": "applicant", "type": {"type": "record", "name": "A", "fields": [
            {"name": "income", "type": "double"}, {"name": "country", "type": "string"}]}}]}
    records = [{"meta": {"uuid": e["id"], "created": e["ts"]},
                "applicant": {"income": e["features"]["income"], "country": e["features"]["country"]}} for e in events]
    avro = tmp_path / "loans.avro"
    with avro.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records)
    assert main(["init", "--input", str(avro), "--output", str(tmp_path / "avro.yaml")]) == 0
    cfg = load_config(tmp_path / "avro.yaml")
    assert (cfg.stream.id_field, cfg.stream.timestamp_field, cfg.stream.features_path) == ("meta.uuid", "meta.created",
                                                                                           "applicant")
    assert len(backtest(cfg, avro, io.BytesIO()).rejects) == 0


def test_inference_guesses() -> None:
    docs = [{"key": f"k{i}", "when": "2026-01-01T00:00:00Z", "a": {"x": i * 0.5, "tag": "ab"[i % 2]}, "flag": True,
             "target": "yes" if i % 3 else "no"} for i in range(100)]
    inf = infer(docs)
    assert (inf.id_field, inf.timestamp_field) == ("key", "when")
    assert inf.label == ("target", "multiclass")
    assert inf.features == {"x": ("numeric", "a.x"), "tag": ("categorical", "a.tag")}
    assert "flag" in inf.skipped


#: the demo's events as a JSON Schema describes them
EVENT_SCHEMA = {"type": "object", "required": ["id", "ts", "features"],
                "properties": {"id": {"type": "string"}, "ts": {"type": "integer"}, "features": {"type": "object"},
                               "prediction": {"enum": [0, 1]}, "label": {"enum": [0, 1, None]}}}


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry({7: EVENT_SCHEMA, 8: V1, 9: 'syntax = "proto3"; message E { string id = 1; }'},
                   types={7: "JSON", 9: "PROTOBUF"})
    yield reg
    reg.close()


def test_json_schema_messages_of_a_topic_are_read_with_the_registry(registry: Registry, capsys) -> None:
    events = list(generate(300, []))
    values = [json_schema.encode(7, e) for e in events] + [json_schema.encode(7, {**events[0], "ts": "soon"})]
    docs, framing = _framed(argparse.Namespace(topic="loans", registry=registry.url), values)
    assert docs == events
    assert framing == ("json_schema", {"registry": {"url": registry.url}})
    said = capsys.readouterr().err
    assert "left out 1 of 301 sampled messages that do not decode as JSON" in said and "'soon'" in said
    text = render(infer(docs), "topic 'loans'", "loans", "kafka:9092", "loans", framing)
    cfg = parse_config(text)
    assert cfg.stream.format == "json_schema" and cfg.stream.json_schema.registry.url == registry.url
    assert cfg.stream.avro is None and cfg.stream.features_path == "features"
    assert cfg.stream.feature_types() == {"income": "numeric", "age": "numeric", "score": "numeric",
                                          "country": "categorical", "device": "categorical"}
    assert registry.requests == ["/schemas/ids/7"]


def test_avro_messages_of_a_topic_are_read_with_the_registry(registry: Registry) -> None:
    docs, framing = _framed(argparse.Namespace(topic="loans", registry=registry.url),
                            [avro.encode(V1, 8, record(i)) for i in range(20)])
    assert framing == ("avro", {"registry": {"url": registry.url}}) and docs == [record(i) for i in range(20)]


def test_framed_messages_without_a_registry_or_of_an_unread_type_say_what_to_do(registry: Registry) -> None:
    args = argparse.Namespace(topic="loans", registry=None)
    with pytest.raises(InputError) as info:
        _framed(args, [json_schema.encode(7, e) for e in generate(20, [])])
    line = info.value.one_line()
    assert "holds JSON Schema messages (Confluent wire format" in line and "give --registry URL" in line
    assert "\n" not in line
    with pytest.raises(InputError) as info:
        _framed(args, [avro.encode(V1, 8, record(i)) for i in range(20)])
    assert "holds Avro or Protobuf messages" in info.value.one_line()
    args.registry = registry.url
    with pytest.raises(InputError) as info:
        _framed(args, [json_schema.encode(5, e) for e in generate(20, [])])
    assert "schema id 5" in str(info.value) and "unknown to it" in str(info.value)
    with pytest.raises(InputError) as info:
        _framed(args, [json_schema.encode(7, {"id": i}) for i in range(20)])
    assert "no sampled message of topic 'loans' decodes as JSON" in str(info.value)


def test_protobuf_messages_of_a_topic_are_read_with_the_registry(registry: Registry) -> None:
    cls = compile_text(registry.schemas[9], "the test's schema").message_class((0,))[0]
    values = [protobuf.encode(9, cls(id=f"e{i}")) for i in range(20)]
    docs, framing = _framed(argparse.Namespace(topic="loans", registry=registry.url), values)
    assert framing == ("protobuf", {"registry": {"url": registry.url}}) and docs == [{"id": f"e{i}"} for i in range(20)]
    text = render(infer([{**d, "x": i * 0.5} for i, d in enumerate(docs)]), "topic 'loans'", "loans", "kafka:9092",
                  "loans", framing)
    assert parse_config(text).stream.protobuf.registry.url == registry.url
