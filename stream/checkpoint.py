"""Checkpoints: a role's state saved together with the offsets it reflects.

A checkpoint says "this state is what processing every message before these offsets gave".
A role restores the latest one before it consumes and resumes at its offsets, so that
whatever it produces after a crash is what it would have produced without one (the outputs
carry deterministic ids, so the ones produced twice are recognisable).

Two stores share one interface: :class:`KafkaCheckpointStore` keeps them on a compacted topic
keyed by consumer group and partition, so that a role restarted on another machine finds
them; :class:`FileCheckpointStore` keeps them in a local directory (atomic writes).

The encoding is versioned and checked: ``DLCK`` + version byte + SHA-256 of the body + the
zlib-compressed body (JSON header, then an optional binary blob such as a pickled model).
A checkpoint whose digest does not match is refused, never half-loaded.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from kafka import TopicPartition

from driftline.stream.errors import CheckpointError, TopicReadError
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.records import read_to_end

MAGIC = b"DLCK"
VERSION = 1


@dataclass
class Checkpoint:
    key: str
    #: topic -> partition -> the next offset to process
    offsets: dict[str, dict[int, int]]
    state: dict[str, Any]
    blob: bytes = b""
    created_ms: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def offset(self, topic: str, partition: int) -> int | None:
        return self.offsets.get(topic, {}).get(partition)


def encode(cp: Checkpoint) -> bytes:
    header = orjson.dumps(
        {
            "key": cp.key,
            "offsets": {t: {str(p): o for p, o in parts.items()} for t, parts in cp.offsets.items()},
            "state": cp.state,
            "created_ms": cp.created_ms,
            "meta": cp.meta,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    body = struct.pack(">I", len(header)) + header + cp.blob
    packed = zlib.compress(body, 1)
    return MAGIC + bytes([VERSION]) + hashlib.sha256(packed).digest() + packed


def decode(raw: bytes) -> Checkpoint:
    if raw[:4] != MAGIC:
        raise CheckpointError("not a driftline checkpoint")
    if raw[4] != VERSION:
        raise CheckpointError(f"checkpoint version {raw[4]} is not supported (this driftline reads {VERSION})")
    digest, packed = raw[5:37], raw[37:]
    if hashlib.sha256(packed).digest() != digest:
        raise CheckpointError("checkpoint is corrupt (digest mismatch)")
    body = zlib.decompress(packed)
    (size,) = struct.unpack(">I", body[:4])
    header = orjson.loads(body[4 : 4 + size])
    return Checkpoint(
        key=header["key"],
        offsets={t: {int(p): o for p, o in parts.items()} for t, parts in header["offsets"].items()},
        state=header["state"],
        blob=body[4 + size :],
        created_ms=header.get("created_ms", 0),
        meta=header.get("meta", {}),
    )


class CheckpointStore(Protocol):
    def save(self, cp: Checkpoint) -> None:
        """Store ``cp`` durably; returns only once it can be read back."""

    def load(self, key: str) -> Checkpoint | None:
        """The latest checkpoint saved under ``key``, or None."""

    def close(self) -> None: ...


class FileCheckpointStore:
    """One file per key in ``directory``, replaced atomically (write, fsync, rename)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".ckpt")

    def save(self, cp: Checkpoint) -> None:
        path = self._path(cp.key)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode(cp))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, key: str) -> Checkpoint | None:
        path = self._path(key)
        if not path.exists():
            return None
        return decode(path.read_bytes())

    def close(self) -> None:
        pass


class KafkaCheckpointStore:
    """Checkpoints on a compacted topic, keyed by ``key``; the latest record per key wins."""

    def __init__(self, bootstrap_servers: str, topic: str, client: dict[str, Any] | None = None):
        self.topic = topic
        self._producer = make_producer(bootstrap_servers, client=client, compression_type=None)
        self._reader = make_consumer(bootstrap_servers, group_id=None, client=client)
        parts = [TopicPartition(topic, p) for p in sorted(self._reader.partitions_for_topic(topic) or [])]
        if not parts:
            raise CheckpointError(f"checkpoint topic {topic!r} does not exist")
        self._reader.assign(parts)
        self._reader.seek_to_beginning()
        self._parts = parts
        self._latest: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def save(self, cp: Checkpoint) -> None:
        raw = encode(cp)
        try:
            self._producer.send(self.topic, key=cp.key.encode(), value=raw).get(timeout=30)
        except Exception as exc:
            raise CheckpointError(f"could not write checkpoint {cp.key!r}: {exc}") from exc
        with self._lock:
            self._latest[cp.key] = raw

    def load(self, key: str) -> Checkpoint | None:
        with self._lock:
            self._catch_up()
            raw = self._latest.get(key)
        return None if raw is None else decode(raw)

    def _catch_up(self) -> None:
        try:
            for m in read_to_end(self._reader, self._parts):
                if m.key is not None and m.value is not None:
                    self._latest[m.key.decode()] = m.value
        except TopicReadError as exc:
            raise CheckpointError(f"cannot read the checkpoints on {self.topic!r}: {exc}") from exc

    def close(self) -> None:
        self._producer.close(2)
        self._reader.close()
