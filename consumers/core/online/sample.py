"""Which labelled events the learner scores and learns from (``learner.sample``)."""

from __future__ import annotations

import hashlib


def in_sample(event_id: str, share: float) -> bool:
    """Whether ``event_id`` is among ``share`` of all ids: a hash of the id alone (BLAKE2b), so
    the same events on any partitioning, live and in backtest."""
    h = int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")
    return h < share * 2**64
