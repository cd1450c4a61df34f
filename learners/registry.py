"""The model registry: every model version driftline knows, its lineage, and its aliases.

A version records its parent, the training data it saw (topic/partition/offset ranges, or a
file with its content hash), the configuration hash, its validation metrics and on what data,
who created it (an alert, a schedule, a command, the reference), when, and the SHA-256 of its
stored artifact. Aliases (``champion``, ``challenger``) point at versions; every move is an
append-only history entry naming its cause. Writes go through a :class:`~.store.Store` under
its lock, so two processes can share one registry.

Loading an artifact checks its hash against the version's record first, and the registry only
ever unpickles bytes that it wrote itself, under a name derived from a version number.

>>> import tempfile
>>> reg = Registry(LocalDirStore(tempfile.mkdtemp()), "demo")
>>> v = reg.register(pickle.dumps({"w": 1}), kind="batch", created_by={"kind": "command", "id": "doc"})
>>> reg.move_alias("champion", v.version, reason="first", cause={"kind": "command", "id": "doc"}).version
1
>>> reg.load(1), reg.aliases()
({'w': 1}, {'champion': 1})
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from driftline.learners.errors import RegistryError
from driftline.learners.store import LocalDirStore, Store
from driftline.stream.clock import now_ms

ALIAS_LOG = "aliases.jsonl"


class ModelVersion(BaseModel):
    """One registered model version and its lineage."""

    model_config = ConfigDict(frozen=True)

    version: int
    stream: str
    kind: Literal["batch", "online"] = "batch"
    parent: int | None = None
    #: [{"topic", "partition", "from_offset", "to_offset", "rows", "excluded": [[a, b], ...]}]
    #: or [{"file", "sha256", "rows"}]
    training_data: list[dict[str, Any]] = Field(default_factory=list)
    config_hash: str = ""
    trainer: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    #: the data the metrics were measured on, in the same shape as ``training_data``
    validated_on: list[dict[str, Any]] = Field(default_factory=list)
    #: {"kind": "alert" | "schedule" | "command" | "reference" | "file", "id": ..., ...}
    created_by: dict[str, Any] = Field(default_factory=dict)
    created_at: int
    artifact_sha256: str
    artifact_bytes: int


class AliasMove(BaseModel):
    """An entry of the alias history: ``alias`` moved from ``previous`` to ``version``."""

    model_config = ConfigDict(frozen=True)

    alias: str
    version: int
    previous: int | None
    reason: str
    cause: dict[str, Any] = Field(default_factory=dict)
    at: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Registry:
    """The versions and aliases of one stream's models in ``store``."""

    def __init__(self, store: Store, stream: str):
        self.store = store
        self.stream = stream

    @classmethod
    def local(cls, directory: str, stream: str) -> Registry:
        return cls(LocalDirStore(f"{directory}/{stream}"), stream)

    # -- versions --------------------------------------------------------------------------
    def register(self, artifact: bytes, *, kind: Literal["batch", "online"] = "batch", **lineage: Any) -> ModelVersion:
        """Store ``artifact`` as the next version; lineage fields as in :class:`ModelVersion`.

        Idempotent per creator: when ``created_by`` carries an ``id`` and a version with the
        same ``created_by`` kind and id exists, that version is returned and nothing is written.
        """
        created_by = lineage.get("created_by") or {}
        with self.store.lock():
            existing = self._by_creator(created_by)
            if existing is not None:
                return existing
            numbers = [v.version for v in self.versions()]
            number = max(numbers, default=0) + 1
            record = ModelVersion(
                version=number, stream=self.stream, kind=kind, created_at=now_ms(),
                artifact_sha256=sha256(artifact), artifact_bytes=len(artifact), **lineage,
            )
            self.store.remove(_artifact(number))  # an orphan of a crash between the two writes
            self.store.create(_artifact(number), artifact)
            self.store.create(_meta(number), orjson.dumps(record.model_dump(mode="json")))  # the commit point
        return record

    def _by_creator(self, created_by: dict[str, Any]) -> ModelVersion | None:
        if not created_by.get("id"):
            return None
        for v in self.versions():
            if v.created_by.get("kind") == created_by.get("kind") and v.created_by.get("id") == created_by.get("id"):
                return v
        return None

    def versions(self) -> list[ModelVersion]:
        out = []
        for name in self.store.list("versions"):
            raw = self.store.read(name)
            if raw is not None:
                out.append(ModelVersion.model_validate_json(raw))
        return sorted(out, key=lambda v: v.version)

    def get(self, version: int) -> ModelVersion:
        raw = self.store.read(_meta(int(version)))
        if raw is None:
            raise RegistryError(f"stream {self.stream!r} has no model version {version}; `driftline models list` shows them")
        return ModelVersion.model_validate_json(raw)

    def artifact(self, version: int) -> bytes:
        """The artifact's bytes, after checking them against the recorded SHA-256."""
        record = self.get(version)
        data = self.store.read(_artifact(record.version))
        if data is None:
            raise RegistryError(f"the artifact of version {version} is missing from {self.store!r}")
        if sha256(data) != record.artifact_sha256:
            raise RegistryError(
                f"the artifact of version {version} does not match its recorded SHA-256 "
                f"({record.artifact_sha256[:12]}…): refusing to load it; restore it or register a new version"
            )
        return data

    def load(self, version: int) -> Any:
        """The model of ``version``: hash verified first, then unpickled (registry-written only)."""
        return pickle.loads(self.artifact(version))  # noqa: S301 - bytes written and hashed by this registry

    def lineage(self, version: int) -> list[ModelVersion]:
        """``version`` and its ancestors, newest first."""
        out, seen = [], set()
        current: int | None = version
        while current is not None and current not in seen:
            seen.add(current)
            record = self.get(current)
            out.append(record)
            current = record.parent
        return out

    # -- aliases ---------------------------------------------------------------------------
    def history(self, alias: str | None = None) -> list[AliasMove]:
        raw = self.store.read(ALIAS_LOG) or b""
        moves = [AliasMove.model_validate_json(line) for line in raw.splitlines() if line.strip()]
        return [m for m in moves if alias is None or m.alias == alias]

    def aliases(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for move in self.history():
            out[move.alias] = move.version
        return out

    def alias(self, name: str) -> int | None:
        return self.aliases().get(name)

    def move_alias(self, alias: str, version: int, *, reason: str, cause: dict[str, Any] | None = None) -> AliasMove:
        """Point ``alias`` at ``version``, appending the move to the history.

        Idempotent per cause: if a move of ``alias`` with the same cause ``id`` and ``action``
        is in the history, that move is returned and nothing is appended.
        """
        cause = dict(cause or {})
        with self.store.lock():
            self.get(version)  # must exist
            history = self.history()
            if cause.get("id"):
                for move in history:
                    if move.alias == alias and move.cause.get("id") == cause["id"] \
                            and move.cause.get("action") == cause.get("action"):
                        return move
            previous = next((m.version for m in reversed(history) if m.alias == alias), None)
            move = AliasMove(alias=alias, version=version, previous=previous, reason=reason, cause=cause,
                             at=now_ms())
            self.store.append(ALIAS_LOG, orjson.dumps(move.model_dump(mode="json")))
        return move


def _meta(version: int) -> str:
    return f"versions/{version:06d}.json"


def _artifact(version: int) -> str:
    return f"artifacts/{version:06d}.pkl"
