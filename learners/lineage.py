"""Which version to roll back to: the last champion that was healthy before the drift began.

"Healthy before the drift" is judged from lineage, not from the order of versions: a version
is healthy for a drift that began at offset ``b`` of partition ``p`` of the events topic when
none of its training data on that partition reaches ``b`` (it never learned from the drifted
data). A version trained on a file (the reference) is healthy. Candidates are the versions
that have been champion, the most recent tenure first; the previous champion is skipped when
it, too, saw the drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.learners.registry import ModelVersion, Registry


def drift_start(kind: str, offset: int, current_n: int, lookback: int) -> int:
    """The offset at which a drift alerted at ``offset`` is taken to have begun.

    A window test's current window began ``current_n`` events before the alert. A concept
    drift detector over the cumulative error (DDM) gives no change point, so the drift is
    taken to have begun ``lookback`` events before the alert (a bound on its delay).
    """
    back = lookback if kind == "concept_drift" else current_n
    return max(0, offset - max(0, back))


def saw_drift(version: ModelVersion, topic: str, partition: int, start: int) -> bool:
    """True if ``version`` was trained on events of ``topic[partition]`` at or after ``start``."""
    for part in version.training_data:
        if part.get("topic") == topic and part.get("partition") == partition:
            if int(part.get("to_offset", -1)) >= start:
                return True
    return False


def healthy_target(registry: Registry, topic: str, partition: int, start: int) -> ModelVersion | None:
    """The most recent champion whose training data ends before ``start``, or None."""
    seen: set[int] = set()
    for move in reversed(registry.history("champion")):
        if move.version in seen:
            continue
        seen.add(move.version)
        version = registry.get(move.version)
        if not saw_drift(version, topic, partition, start):
            return version
    return None
