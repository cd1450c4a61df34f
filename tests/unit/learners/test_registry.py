"""The model registry: versions with lineage, alias history, hash checks, two writers."""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

from driftline.learners.lineage import drift_start, healthy_target
from driftline.learners.registry import Registry, RegistryError
from driftline.learners.store import LocalDirStore, StoreError


def _reg(tmp_path) -> Registry:
    return Registry(LocalDirStore(tmp_path / "reg"), "s")


def _range(to: int) -> list[dict]:
    return [{"topic": "events", "partition": 0, "from_offset": 0, "to_offset": to, "rows": to + 1}]


def test_versions_record_lineage_and_aliases_keep_history(tmp_path) -> None:
    reg = _reg(tmp_path)
    v1 = reg.register(pickle.dumps("m1"), training_data=_range(99), metrics={"accuracy": 0.8},
                      created_by={"kind": "reference", "id": "reference"}, config_hash="c")
    v2 = reg.register(pickle.dumps("m2"), parent=v1.version, training_data=_range(199),
                      created_by={"kind": "alert", "id": "a1"})
    assert (v1.version, v2.version) == (1, 2)
    assert [v.version for v in reg.lineage(2)] == [2, 1]
    reg.move_alias("champion", 1, reason="deploy")
    reg.move_alias("champion", 2, reason="promote", cause={"id": "a1", "action": "promote"})
    assert reg.aliases() == {"champion": 2}
    assert [(m.version, m.previous) for m in reg.history("champion")] == [(1, None), (2, 1)]
    # a second registry object on the same directory (another process) sees the same state
    again = _reg(tmp_path)
    assert again.get(2).parent == 1 and again.load(2) == "m2"


def test_register_and_alias_moves_are_idempotent_per_cause(tmp_path) -> None:
    reg = _reg(tmp_path)
    a = reg.register(b"x", created_by={"kind": "alert", "id": "a1"})
    b = reg.register(b"y", created_by={"kind": "alert", "id": "a1"})
    assert a.version == b.version == 1 and len(reg.versions()) == 1
    reg.register(b"z", created_by={"kind": "alert", "id": "a2"})
    cause = {"id": "a2", "action": "rollback"}
    reg.move_alias("champion", 2, reason="r", cause=cause)
    reg.move_alias("champion", 1, reason="r", cause={"id": "a3", "action": "rollback"})
    reg.move_alias("champion", 2, reason="r again", cause=cause)  # redelivered: no second move
    assert [m.version for m in reg.history("champion")] == [2, 1]


def test_a_tampered_artifact_is_never_unpickled(tmp_path) -> None:
    reg = _reg(tmp_path)
    reg.register(pickle.dumps({"ok": True}))
    path = tmp_path / "reg" / "artifacts" / "000001.pkl"
    path.write_bytes(pickle.dumps({"ok": False}))
    with pytest.raises(RegistryError, match="SHA-256"):
        reg.load(1)
    with pytest.raises(RegistryError, match="no model version 7"):
        reg.load(7)


def test_store_refuses_names_outside_its_directory(tmp_path) -> None:
    store = LocalDirStore(tmp_path)
    for name in ("../x", "/etc/passwd"):
        with pytest.raises(StoreError):
            store.read(name)
    store.create("a/b", b"1")
    with pytest.raises(FileExistsError):
        store.create("a/b", b"2")
    assert store.read("a/b") == b"1"


def _register_many(root: str, tag: str) -> None:
    reg = Registry(LocalDirStore(root), "s")
    for i in range(15):
        reg.register(f"{tag}{i}".encode(), created_by={"kind": "command", "id": f"{tag}{i}"})
        reg.move_alias("champion", reg.versions()[-1].version, reason=tag)


def test_two_processes_register_without_losing_or_doubling_a_version(tmp_path) -> None:
    root = str(tmp_path / "reg")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_register_many, args=(root, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    reg = Registry(LocalDirStore(root), "s")
    versions = reg.versions()
    assert [v.version for v in versions] == list(range(1, 31))
    assert sorted(reg.artifact(v.version) for v in versions) == sorted(f"{t}{i}".encode() for t in "ab" for i in range(15))
    assert len(reg.history("champion")) == 30


def test_rollback_target_is_the_last_healthy_champion_not_the_previous_one(tmp_path) -> None:
    reg = _reg(tmp_path)
    for to in (999, 3999, 6499, 6999):  # v1, v2 before the drift at 6000; v3, v4 after it
        v = reg.register(pickle.dumps(to), training_data=_range(to))
        reg.move_alias("champion", v.version, reason="promote")
    assert healthy_target(reg, "events", 0, 6000).version == 2
    assert healthy_target(reg, "events", 0, 500) is None
    assert healthy_target(reg, "events", 1, 500).version == 4  # other partition: none saw it


def test_drift_start_estimates() -> None:
    assert drift_start("concept_drift", 5000, current_n=4500, lookback=1000) == 4000
    assert drift_start("data_drift", 5000, current_n=1000, lookback=0) == 4000
    assert drift_start("data_drift", 100, current_n=1000, lookback=0) == 0
