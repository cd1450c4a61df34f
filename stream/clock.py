"""The wall clock, in the one unit driftline's messages use: epoch milliseconds; spans of time as people write them."""

from __future__ import annotations

import re
import time


def now_ms() -> int:
    """The current wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_span(text: str) -> float:
    """``90s``, ``30m``, ``6h``, ``2d``, ``1w`` (or plain seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a span: give one like 30m, 6h or 2d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
