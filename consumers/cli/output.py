"""Files a command writes: checked before any work, written whole or not at all.

An output path is refused before anything is opened when its directory does not exist, when
it is a directory, or when it is one of the command's inputs (the same file, by any path).
:class:`AtomicOutput` writes to a temporary file beside the output and renames it into place
at the end, so a reader never sees half a file and an existing output is never emptied by a
failed run; interrupted, the partial file is kept as ``<output>.partial``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from driftline.consumers.errors import InputError


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): the same only if they resolve alike
        return a.resolve() == b.resolve()


def check_output(path: str | Path, option: str, inputs: Iterable[str | Path] = ()) -> Path:
    """``path`` as an output of ``option``; InputError naming what is wrong with it."""
    path = Path(path)
    for other in inputs:
        if _same(path, Path(other)):
            raise InputError(f"{option} {path}: that is the input file {other}; writing there would destroy it",
                             hint=f"give {option} another file")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a directory", hint=f"give {option} a file name")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: the directory {parent} does not exist",
                         hint=f"create it first, or give {option} a file in an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the directory {parent} is not writable")
    return path


def check_distinct(paths: dict[str, str | None]) -> None:
    """No two outputs of one command may be the same file."""
    given = [(option, Path(p)) for option, p in paths.items() if p]
    for i, (option, path) in enumerate(given):
        for other_option, other in given[i + 1:]:
            if _same(path, other):
                raise InputError(f"{option} and {other_option} name the same file {path}",
                                 hint="give each output its own file")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A file written under a temporary name beside ``path`` and renamed into place."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._tmp: Path | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The temporary file to write; left in place when the block ends (see below)."""
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._tmp = Path(name)
        os.chmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())

    def commit(self) -> Path:
        """Rename the finished file into place (atomic on one file system)."""
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def keep_partial(self) -> Path:
        """Keep what was written as ``<output>.partial``; the output itself is untouched."""
        assert self._tmp is not None
        os.replace(self._tmp, self.partial)
        self._tmp = None
        return self.partial

    def discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None


def write_atomically(path: str | Path, lines: Iterable[bytes]) -> Path:
    """Write ``lines`` to ``path`` through a temporary file renamed into place."""
    out = AtomicOutput(path)
    try:
        with out.open() as fh:
            for line in lines:
                fh.write(line)
    except BaseException:
        out.discard()
        raise
    return out.commit()
