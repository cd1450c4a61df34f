"""driftline's exception root, and the errors of where events enter (Kafka, the broker, state).

Every exception driftline defines derives from :class:`DriftlineError`, so a caller (the
command line above all) catches one class and prints one line. Each error's message says
what happened and what the operator should do about it; :attr:`DriftlineError.hint` holds
the second part when it is not already in the message.

``stream`` is the lowest layer every other package builds on (``detectors`` excepted: it
raises only ``ValueError`` for bad hyperparameters, as River does), so the root lives here.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """The root of driftline's exceptions; ``hint`` says what to do, when the message does not."""

    hint: str = ""

    def __init__(self, message: str = "", hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        """The message and the hint on one line, as the command line prints it."""
        text = " ".join(str(self).split())
        return f"{text}; {self.hint}" if self.hint and self.hint not in text else text


class BrokerError(DriftlineError, RuntimeError):
    """The embedded broker could not be started, reached or stopped.

    The message says what happened and, when a log file was given, quotes its end.
    """

    hint = "check that the address is free (or that `driftline broker` runs there), or use a Kafka cluster"


class CheckpointError(DriftlineError, RuntimeError):
    """A checkpoint could not be written or read back intact."""

    hint = "check the checkpoint store (topic or state_dir); a damaged checkpoint is never half-loaded"


class TopicReadError(DriftlineError, RuntimeError):
    """A topic could not be read to its end (broker gone, topic missing)."""

    hint = "check that the broker at kafka.bootstrap_servers answers and that the topic exists"


class InputError(DriftlineError, ValueError):
    """An input or output file of a command cannot be used (missing, unknown type, unwritable)."""
