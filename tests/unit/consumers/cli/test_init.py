"""``driftline init`` on files: the configuration it writes validates, and finds the demo's drifts."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import orjson
import pandas as pd
import pytest

from driftline.consumers.cli.main import main
from driftline.consumers.config.infer import infer
from driftline.consumers.core.backtest import backtest
from driftline.consumers.core.checks import load_config
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
