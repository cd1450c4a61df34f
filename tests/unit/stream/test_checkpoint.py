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


KEY = b"k" * 32


class Evil:
    """A pickle that, unpickled, leaves a file behind: the sign that forged state ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_signed_checkpoint_round_trips_and_a_forged_one_is_never_unpickled(tmp_path) -> None:
    import pickle

    from driftline.stream.checkpoint import UntrustedCheckpoint

    signed = encode(sample(), KEY)
    assert decode(signed, KEY) == sample()
    marker = tmp_path / "ran"
    evil = Checkpoint(key="learner", offsets={}, state={}, blob=pickle.dumps(Evil(str(marker))))
    store = FileCheckpointStore(tmp_path / "cp", key=KEY)
    forgers = {
        "another key": FileCheckpointStore(tmp_path / "cp", key=b"x" * 32),
        "no key (a matching SHA-256 digest)": FileCheckpointStore(tmp_path / "cp"),
    }
    for who, forger in forgers.items():
        forger.save(evil)
        with pytest.raises(UntrustedCheckpoint, match="refused, its state never loaded"):
            store.load("learner")
        assert not marker.exists(), who
    with pytest.raises(UntrustedCheckpoint, match="set DRIFTLINE_STATE_KEY"):
        decode(signed)  # signed, read without the key
    tampered = bytearray(signed)
    tampered[-1] ^= 1
    with pytest.raises(UntrustedCheckpoint, match="signature does not match"):
        decode(bytes(tampered), KEY)


def test_the_kafka_store_requires_a_key(monkeypatch) -> None:
    from driftline.stream.checkpoint import KafkaCheckpointStore
    from driftline.stream.errors import DriftlineError

    monkeypatch.delenv("DRIFTLINE_STATE_KEY", raising=False)
    with pytest.raises(DriftlineError, match="export DRIFTLINE_STATE_KEY"):
        KafkaCheckpointStore("127.0.0.1:1", "driftline-checkpoints")
    monkeypatch.setenv("DRIFTLINE_STATE_KEY", "short")
    with pytest.raises(DriftlineError, match="too short"):
        KafkaCheckpointStore("127.0.0.1:1", "driftline-checkpoints")
