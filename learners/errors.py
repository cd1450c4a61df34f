"""The errors of the model side: the registry and its store, an event a model cannot use."""

from __future__ import annotations

from driftline.stream.errors import DriftlineError


class RegistryError(DriftlineError, RuntimeError):
    """The registry refused an operation (unknown version, hash mismatch); says what to check."""

    hint = "check models.registry (the registry directory) and `driftline models list CONFIG`"


class StoreError(DriftlineError, RuntimeError):
    """A store operation failed; the message says which name and what to check."""

    hint = "check that the registry directory exists, is writable and is not full"


class UnusableEvent(DriftlineError, ValueError):
    """The online model could not predict or learn from one event; the event is counted and
    dead-lettered with this reason, and the learner goes on."""

    hint = "the event is on the dead-letter topic with this reason; check learner.model and learner.preprocessing"
