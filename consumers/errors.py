"""The errors of the consumer services, their configuration and their commands.

All derive from :class:`~driftline.stream.errors.DriftlineError` (re-exported here); the
command line prints any of them as one line (``-v`` adds the traceback) and exits non-zero.
"""

from __future__ import annotations

from driftline.learners.errors import RegistryError, StoreError
from driftline.stream.errors import BrokerError, CheckpointError, DriftlineError, InputError, TopicReadError

__all__ = [
    "BrokerError", "CheckpointError", "ConfigError", "DriftlineError", "InputError", "ReferenceDataError",
    "RegistryError", "RoleFailed", "StoreError", "TopicReadError",
]


class ConfigError(DriftlineError, ValueError):
    """A configuration that cannot be used; ``problems`` are (key path, line, message)."""

    hint = "fix the keys named above, then `driftline validate CONFIG`"

    def __init__(self, filename: str, problems: list[tuple[str, int | None, str]]):
        self.filename = filename
        self.problems = problems
        super().__init__(self.format())

    def format(self) -> str:
        lines = [f"{self.filename}: {len(self.problems)} problem(s)"]
        for key, line, message in self.problems:
            where = f"line {line}" if line else "?"
            lines.append(f"  {key or '(top level)'} ({where}): {message}")
        return "\n".join(lines)

    def one_line(self) -> str:  # the problems are the message: one per line, as `validate` prints them
        return self.format()


class ReferenceDataError(DriftlineError, ValueError):
    """The reference file cannot be used; says which file and why."""

    hint = "check reference.file (it is read relative to the working directory)"


class RoleFailed(DriftlineError, RuntimeError):
    """A role stopped on an error it could not recover from; the message names the role and the error."""

    hint = "see the log lines above for the cause; a restart resumes from the last checkpoint"
