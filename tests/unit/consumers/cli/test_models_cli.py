"""``driftline models list|show``, in-process, against a registry built with the registry API."""

from __future__ import annotations

import pickle
import re

import yaml

from driftline.consumers.cli.main import main
from driftline.learners.registry import Registry


def _range(to: int) -> list[dict]:
    return [{"topic": "events", "partition": 0, "from_offset": 0, "to_offset": to, "rows": to + 1}]


def _config(tmp_path) -> str:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "stream": {"name": "credit", "features": {"income": "numeric"}, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 100},
        "models": {"registry": str(tmp_path / "registry")},
    }))
    return str(path)


def _registry(tmp_path) -> Registry:
    """v1 deployed from the reference; v2 a retrain for an alert, promoted; then rolled back to v1."""
    reg = Registry.local(str(tmp_path / "registry"), "credit")
    v1 = reg.register(pickle.dumps("m1"), training_data=_range(69), validated_on=_range(99)[:0],
                      metrics={"accuracy": 0.81, "score": 0.81, "n": 30.0}, trainer="driftline.learners.batch:train_river",
                      created_by={"kind": "reference", "id": "reference"}, config_hash="c0ffee" * 4)
    reg.move_alias("champion", v1.version, reason="trained on the reference", cause={"kind": "reference", "action": "deploy"})
    v2 = reg.register(pickle.dumps("m2"), parent=v1.version,
                      training_data=[{"topic": "events", "partition": 0, "from_offset": 5000, "to_offset": 6399, "rows": 1400}],
                      validated_on=[{"topic": "events", "partition": 0, "from_offset": 6400, "to_offset": 6999, "rows": 600}],
                      metrics={"accuracy": 0.9, "score": 0.9, "n": 600.0}, trainer="driftline.learners.batch:train_river",
                      created_by={"kind": "alert", "id": "a" * 64, "rule": 1})
    reg.move_alias("challenger", v2.version, reason="retrained", cause={"kind": "alert", "id": "a" * 64, "action": "retrain"})
    reg.move_alias("champion", v2.version, reason="promoted: challenger v2 scored 0.9000 vs champion v1 0.8100",
                   cause={"kind": "alert", "id": "a" * 64, "action": "promote"})
    reg.move_alias("champion", v1.version, reason="rollback: concept_drift began about offset 9000",
                   cause={"kind": "alert", "id": "b" * 64, "action": "rollback"})
    return reg


def test_models_list_shows_versions_aliases_and_their_history(tmp_path, capsys) -> None:
    config = _config(tmp_path)
    _registry(tmp_path)
    assert main(["models", "list", config]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("versions of 'credit'")
    v1 = next(line for line in lines if line.strip().startswith("v1 "))
    v2 = next(line for line in lines if line.strip().startswith("v2 "))
    # each version with the aliases pointing at it now, its parent, creator, metrics and data
    assert "[champion]" in v1 and "parent -" in v1 and "by reference" in v1 and "accuracy 0.8100" in v1
    assert "[challenger]" in v2 and "parent 1" in v2 and "by alert aaaa" in v2
    assert "events[0] 5000..6399 (1400 rows)" in v2 and "n 600" not in v2
    # the alias history, oldest first, each move with its previous version, reason and cause
    history = lines[lines.index("alias history:") + 1:]
    moves = [re.search(r"(\w+): (\S+) -> v(\d+)", line).groups() for line in history]
    assert moves == [("champion", "-", "1"), ("challenger", "-", "2"), ("champion", "v1", "2"), ("champion", "v2", "1")]
    assert "rollback: concept_drift" in history[3] and "action rollback" in history[3]


def test_models_show_prints_one_versions_lineage_back_to_the_first(tmp_path, capsys) -> None:
    config = _config(tmp_path)
    reg = _registry(tmp_path)
    assert main(["models", "show", config, "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    heads = [line for line in lines if re.match(r"\s*v\d+ \(batch\)", line)]
    assert [h.strip().split()[0] for h in heads] == ["v2", "v1"]  # newest first, the parent indented under it
    assert heads[1].startswith("  v1") and f"by alert {'a' * 64} rule 1" in heads[0]
    assert "trained on: events[0] 5000..6399 (1400 rows)" in out
    assert "validated on: events[0] 6400..6999 (600 rows)  metrics: accuracy 0.9000" in out
    assert f"artifact sha256 {reg.get(2).artifact_sha256[:16]}" in out and "config c0ffeec0ffee" in out


def test_models_show_of_an_unknown_version_fails_and_says_how_to_list(tmp_path, capsys) -> None:
    config = _config(tmp_path)
    _registry(tmp_path)
    assert main(["models", "show", config, "7"]) == 1
    assert "no model version 7" in capsys.readouterr().err
    assert main(["models", "show", config]) == 2
