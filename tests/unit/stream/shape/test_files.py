"""Files of a user's own shape: CSV columns named by path or by feature, placed at the mapping's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.stream.errors import InputError
from driftline.stream.events import StreamSchema
from driftline.stream.replay import read_events

NESTED = StreamSchema("s", {"income": "numeric", "country": "categorical"}, id_field="meta.id",
                      timestamp_field="meta.ts", feature_paths={"income": "applicant.income"},
                      label_field="outcome", label_type="binary")


def test_csv_columns_by_path_or_by_name(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("meta.id,meta.ts,applicant.income,country,outcome\n007,1000,2.5,DE,1\n008,1001,,FR,0\n")
    [(batch, rejects)] = list(read_events(path, NESTED))
    assert rejects == [] and batch.ids == ["007", "008"] and batch.ts.tolist() == [1000, 1001]
    assert batch.numeric["income"][0] == 2.5 and batch.categorical["country"].tolist() == ["DE", "FR"]
    assert batch.label.tolist() == [1, 0]


def test_a_file_has_no_keys_to_take_ids_from(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"x": 1}\n')
    with pytest.raises(InputError, match="no message keys"):
        list(read_events(path, StreamSchema("s", {"x": "numeric"}, id_source="key", features_path=None)))
