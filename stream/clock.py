"""The wall clock, in the one unit driftline's messages use: epoch milliseconds."""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)
