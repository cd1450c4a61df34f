"""The wall clock, in the one unit driftline's messages use: epoch milliseconds."""

from __future__ import annotations


def now_ms() -> int:
    """The current wall-clock time in epoch milliseconds."""
    return now_ms()
