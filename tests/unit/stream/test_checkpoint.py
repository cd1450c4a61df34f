"""Checkpoints: exact round trips, corruption refused, atomic file replacement."""

from __future__ import annotations

import pytest

from driftline.stream.checkpoint import Checkpoint, CheckpointError, FileCheckpointStore, decode, encode


def sample() -> Checkpoint:
    return Checkpoint(
        key="g/events/0", offsets={"events": {0: 42, 3: 7}, "labels": {1: 5}},
        state={"engine": {"ks-income": {"ref": [1.5, 2.5], "n": 3}}}, blob=b"\x00model\xff", created_ms=1,
    )


def test_encode_decode_round_trip() -> None:
    cp = decode(encode(sample()))
    assert cp == sample()
    assert cp.offset("events", 3) == 7 and cp.offset("events", 9) is None


@pytest.mark.parametrize("where", [10, 40, -1])
def test_a_flipped_byte_is_refused(where: int) -> None:
    raw = bytearray(encode(sample()))
    raw[where] ^= 0x01
    with pytest.raises(CheckpointError, match="corrupt|not a driftline|version"):
        decode(bytes(raw))


def test_other_versions_and_foreign_bytes_are_refused() -> None:
    raw = encode(sample())
    with pytest.raises(CheckpointError, match="version 9"):
        decode(raw[:4] + bytes([9]) + raw[5:])
    with pytest.raises(CheckpointError, match="not a driftline checkpoint"):
        decode(b"PK\x03\x04whatever")


def test_file_store_keeps_the_latest_per_key_and_no_temp_files(tmp_path) -> None:
    store = FileCheckpointStore(tmp_path)
    assert store.load("g/events/0") is None
    first = sample()
    store.save(first)
    second = Checkpoint(key=first.key, offsets={"events": {0: 99}}, state={}, created_ms=2)
    store.save(second)
    other = Checkpoint(key="g/events/1", offsets={"events": {1: 1}}, state={})
    store.save(other)
    assert store.load(first.key) == second and store.load(other.key) == other
    assert sorted(p.name.startswith(".tmp-") for p in tmp_path.iterdir()) == [False, False]
