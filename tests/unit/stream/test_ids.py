"""Issue 14, item 3: numbers as ids.

On main ``"id": 12345`` was refused (``field 'id' must be a non-empty string, got 0``), and so
was every row of a CSV whose id column pandas reads as integers. An integer id is now its
decimal string, in events and in late labels alike; floats, booleans and objects are still
refused, each with a reason that says what it got.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from driftline.consumers.cli.main import main
from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.replay import read_chunks

SCHEMA = StreamSchema("s", {"x": "numeric"}, label_field="label", label_type="binary")


def test_integer_ids_are_their_decimal_string() -> None:
    raws = [orjson.dumps({"id": v, "ts": 1, "features": {"x": 1.0}}) for v in (12345, 0, -7, 2**64 - 1, "a")]
    batch, rejects = parse_events(SCHEMA, 0, list(range(len(raws))), raws)
    assert not rejects
    assert batch.ids == ["12345", "0", "-7", str(2**64 - 1), "a"]


@pytest.mark.parametrize(("value", "said"), [
    (1.5, "a number with a fraction 1.5"), (3.0, "a decimal number 3.0"), (True, "a boolean True"),
    ({"a": 1}, "an object"), ([1], "an array"), ("", "an empty string"), (None, "none (missing)"),
])
def test_other_ids_are_refused_saying_what_they_are(value, said) -> None:
    raw = orjson.dumps({"id": value, "ts": 1, "features": {"x": 1.0}})
    batch, [reject] = parse_events(SCHEMA, 0, [0], [raw])
    assert len(batch) == 0
    assert "'id' must be a non-empty string or an integer" in reject.error and said in reject.error


def test_a_late_label_with_an_integer_id_joins_its_event() -> None:
    labels, rejects = parse_label_messages(0, [0, 1], [b'{"id": 12345, "label": 1, "ts": 7}', b'{"id": 1.5, "label": 1, "ts": 7}'],
                                           "id", "label", "binary")
    assert labels == [("12345", 1, 0, 7)]
    assert "'id'" in rejects[0].error and "1.5" in rejects[0].error


def test_a_csv_id_column_of_integers_is_read(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": range(3000), "ts": range(3000), "x": [0.5] * 3000})
    frame.to_csv(tmp_path / "e.csv", index=False)
    frame.to_parquet(tmp_path / "e.parquet")
    for name in ("e.csv", "e.parquet"):
        chunks = list(read_chunks(tmp_path / name, SCHEMA, 1000))
        batches = [parse_events(SCHEMA, 0, offsets, raws) for offsets, raws in chunks]
        assert all(not rejects for _, rejects in batches)
        assert [i for b, _ in batches for i in b.ids] == [str(i) for i in range(3000)]


def test_a_csv_id_keeps_its_leading_zeros_and_an_integer_column_with_a_gap_stays_integer(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("id,ts,x,label\n007,1,0.5,1\n8,2,,\n9,3,1.5,0\n")
    [(offsets, raws)] = list(read_chunks(tmp_path / "e.csv", SCHEMA))
    batch, rejects = parse_events(SCHEMA, 0, offsets, raws)
    assert not rejects and batch.ids == ["007", "8", "9"]
    assert batch.label.tolist() == [1, None, 0]  # read as floats (1.0, NaN, 0.0) by pandas


def test_backtest_of_integer_ids_reads_every_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"".join(
        orjson.dumps({"id": i, "ts": i, "features": {"x": float(i % 7)}}) + b"\n" for i in range(3000)))
    (tmp_path / "cfg.yaml").write_text("stream: {name: s, features: {x: numeric}}\nreference: {first_n: 100}\n")
    code = main(["backtest", str(tmp_path / "cfg.yaml"), "--input", str(tmp_path / "e.jsonl"),
                 "--output", str(tmp_path / "a.jsonl")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3000 events" in captured.out and "0 unreadable lines" in captured.out
