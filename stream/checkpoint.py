"""Checkpoints: a role's state saved together with the offsets it reflects.

A checkpoint says "this state is what processing every message before these offsets gave".
A role restores the latest one before it consumes and resumes at its offsets, so that
whatever it produces after a crash is what it would have produced without one (the outputs
carry deterministic ids, so the ones produced twice are recognisable).

Two stores share one interface: :class:`KafkaCheckpointStore` keeps them on a compacted topic
keyed by consumer group and partition, so that a role restarted on another machine finds
them; :class:`FileCheckpointStore` keeps them in a local directory (atomic writes).

The encoding is versioned and checked: ``DLCK`` + version byte + a 32-byte tag + the
zlib-compressed body (JSON header, then an optional binary blob such as a pickled model).
Version 2 (with a key) tags the body with HMAC-SHA256 under the state key
(``DRIFTLINE_STATE_KEY``), so that nobody without the key can write a checkpoint a role
accepts: the blob is unpickled only after the tag is verified. Version 1 (no key) carries a
plain SHA-256 digest, which catches damage, not forgery; it is accepted only when no key is
set, and the Kafka store (a topic others may write to) requires a key. A checkpoint whose tag
does not match is refused, never half-loaded.
"""

from __future__ import annotations

import hashlib
import hmac
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

from driftline.stream.errors import CheckpointError, DriftlineError, TopicReadError
from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.records import read_to_end

MAGIC = b"DLCK"
#: 1: SHA-256 digest (no key); 2: HMAC-SHA256 under the state key
UNSIGNED, SIGNED = 1, 2
#: the environment variable that holds the key checkpoints are signed with
STATE_KEY_ENV = "DRIFTLINE_STATE_KEY"
#: the shortest key accepted (bytes)
MIN_KEY_BYTES = 16


class UntrustedCheckpoint(DriftlineError):
    """A checkpoint not signed with this key (or signed, while no key is set): refused, never
    unpickled. Not retried: the role stops and says what to do."""


def state_key(required: bool = False) -> bytes | None:
    """The checkpoint signing key from ``DRIFTLINE_STATE_KEY`` (None when unset and not required)."""
    raw = os.environ.get(STATE_KEY_ENV, "")
    if not raw:
        if required:
            raise DriftlineError(
                f"checkpoints on Kafka must be signed: set {STATE_KEY_ENV} to a secret of at least {MIN_KEY_BYTES} "
                f"characters (for example: export {STATE_KEY_ENV}=$(openssl rand -hex 32)), the same for every "
                "driftline process of this deployment"
            )
        return None
    if len(raw.encode()) < MIN_KEY_BYTES:
        raise DriftlineError(f"{STATE_KEY_ENV} is too short: give at least {MIN_KEY_BYTES} characters")
    return raw.encode()


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


def encode(cp: Checkpoint, key: bytes | None = None) -> bytes:
    """The checkpoint's bytes: signed with ``key`` (version 2), else with a SHA-256 digest."""
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
    if key is None:
        return MAGIC + bytes([UNSIGNED]) + hashlib.sha256(packed).digest() + packed
    return MAGIC + bytes([SIGNED]) + hmac.new(key, packed, hashlib.sha256).digest() + packed


def decode(raw: bytes, key: bytes | None = None) -> Checkpoint:
    """The checkpoint in ``raw``, its tag verified before anything in it is read: with ``key``,
    only one signed with it; without, only an unsigned one (whose digest catches damage)."""
    if raw[:4] != MAGIC:
        raise CheckpointError("not a driftline checkpoint")
    version, tag, packed = raw[4], raw[5:37], raw[37:]
    if version not in (UNSIGNED, SIGNED):
        raise CheckpointError(f"checkpoint version {version} is not supported (this driftline reads 1 and 2)")
    if key is not None and version == UNSIGNED:
        raise UntrustedCheckpoint(
            f"an unsigned checkpoint was found while {STATE_KEY_ENV} is set: refused, its state never loaded (it "
            "was written without the key, or by someone without it); delete it from the checkpoint store to start "
            "that role afresh"
        )
    if key is None and version == SIGNED:
        raise UntrustedCheckpoint(f"a signed checkpoint was found: set {STATE_KEY_ENV} to the key it was signed with")
    if version == SIGNED:
        if not hmac.compare_digest(hmac.new(key or b"", packed, hashlib.sha256).digest(), tag):
            raise UntrustedCheckpoint(
                f"a checkpoint's signature does not match {STATE_KEY_ENV}: refused, its state never loaded (forged, "
                "damaged, or signed with another key); set the key the deployment uses, or delete the checkpoint"
            )
    elif hashlib.sha256(packed).digest() != tag:
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

    def __init__(self, directory: str | Path, key: bytes | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = key

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".ckpt")

    def save(self, cp: Checkpoint) -> None:
        path = self._path(cp.key)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode(cp, self.key))
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
        return decode(path.read_bytes(), self.key)

    def close(self) -> None:
        pass


class KafkaCheckpointStore:
    """Checkpoints on a compacted topic, keyed by ``key``; the latest record per key wins.
    Anyone who can write to the topic could write a checkpoint, so they are signed: ``key``
    (default: ``DRIFTLINE_STATE_KEY``) is required."""

    def __init__(self, bootstrap_servers: str, topic: str, client: dict[str, Any] | None = None,
                 key: bytes | None = None):
        self.key = key if key is not None else state_key(required=True)
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
        raw = encode(cp, self.key)
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
        return None if raw is None else decode(raw, self.key)

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
