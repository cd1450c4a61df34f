"""Where the model registry keeps its files: a small store interface and a local directory.

The registry needs four things of a store: an exclusive lock (two processes may register at
once), reading a named blob, creating a blob that must not exist yet (atomically: readers see
all of it or nothing), and appending a line to an append-only log. :class:`LocalDirStore` does
this on a local (or shared POSIX) directory with ``flock``, ``link`` and ``O_APPEND``; a shared
store (S3, a database) implements the same :class:`Store` protocol.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from driftline.learners.errors import StoreError


class Store(Protocol):
    def lock(self) -> AbstractContextManager[None]:
        """An exclusive lock across threads and processes, as a context manager."""

    def read(self, name: str) -> bytes | None:
        """The blob ``name``, or None when there is none."""

    def create(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically; FileExistsError if it exists."""

    def append(self, name: str, line: bytes) -> None:
        """Append one line (no newline in it) to the log ``name``."""

    def list(self, folder: str) -> list[str]:
        """Names of the blobs directly in ``folder``, sorted."""

    def remove(self, name: str) -> None:
        """Remove a blob (only ever an orphan artifact)."""


def _safe(name: str) -> None:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise StoreError(f"refusing the store name {name!r}: names are relative, without '..'")


class LocalDirStore:
    """A :class:`Store` in a directory; every write is fsynced before it becomes visible."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalDirStore({str(self.root)!r})"

    @contextmanager
    def lock(self) -> Iterator[None]:
        # flock is per open file description: threads of one process exclude each other too
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def read(self, name: str) -> bytes | None:
        _safe(name)
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def create(self, name: str, data: bytes) -> None:
        _safe(name)
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)  # atomic, and fails if ``name`` exists: never overwrites
        finally:
            os.unlink(tmp)
        _fsync_dir(path.parent)

    def append(self, name: str, line: bytes) -> None:
        _safe(name)
        if b"\n" in line:
            raise StoreError(f"a log line of {name!r} may not contain a newline")
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def list(self, folder: str) -> list[str]:
        _safe(folder)
        path = self.root / folder
        if not path.is_dir():
            return []
        return sorted(f"{folder}/{p.name}" for p in path.iterdir() if p.is_file() and not p.name.startswith("."))

    def remove(self, name: str) -> None:
        """Remove an orphan blob (an artifact whose version was never committed)."""
        _safe(name)
        (self.root / name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
