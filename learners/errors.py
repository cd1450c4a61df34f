"""The errors of the model side: the registry and its store."""

from __future__ import annotations

from driftline.stream.errors import DriftlineError


class RegistryError(DriftlineError, RuntimeError):
    """The registry refused an operation (unknown version, hash mismatch); says what to check."""

    hint = "check models.registry (the registry directory) and `driftline models list CONFIG`"


class StoreError(DriftlineError, RuntimeError):
    """A store operation failed; the message says which name and what to check."""

    hint = "check that the registry directory exists, is writable and is not full"
