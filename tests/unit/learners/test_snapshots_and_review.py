"""Online-learner snapshots for rollback, and the quarantine review's selection and records."""

from __future__ import annotations

import pytest

from driftline.consumers.cli.quarantine import end_record, parse_time, select
from driftline.learners.snapshots import SnapshotRing
from driftline.stream.messages import ActionRecord
from driftline.stream.quarantines import fold_quarantines


def test_snapshot_before_a_drift_is_a_copy_taken_before_it() -> None:
    ring = SnapshotRing(every=2, keep=3)
    model = {"w": 0}
    for trained, offset in enumerate(range(100, 110), start=1):
        model["w"] = offset
        ring.maybe_take(model, 0, offset, trained)
    assert len(ring) == 3  # taken at 101, 103, 105, 107, 109; the newest three kept
    snap = ring.before(0, 106)
    assert snap is not None and snap.offset == 105 and snap.pipeline == {"w": 105}
    assert snap.pipeline is not model
    assert ring.before(0, 104) is None  # older ones were dropped
    assert ring.before(1, 0) is snap_newest(ring)  # nothing learned of partition 1: every snapshot precedes it
    ring.maybe_take(model, 1, 50, 12)  # learned partition 1 up to 50
    assert ring.before(1, 50).learned == {0: 109} and ring.before(0, 110).learned == {0: 109, 1: 50}
    with pytest.raises(ValueError):
        SnapshotRing(every=0, keep=1)


def snap_newest(ring: SnapshotRing):
    return ring.before(0, 10**9)


def _q(alert: str, ts: int) -> ActionRecord:
    return ActionRecord(action_id=alert, action="quarantine", stream="s", alert_id=alert, status="started",
                        scope={"partition": 0, "from_offset": 10}, ts=ts)


def test_review_selects_by_alert_or_time_and_records_the_range() -> None:
    records = [_q("a", 1000), _q("b", 2000), _q("c", 3000)]
    purge = ActionRecord(action_id="p", action="purge", stream="s", alert_id="c", status="purged", ts=4000)
    active = fold_quarantines([*records, purge]).active
    assert list(active) == ["a", "b"]
    assert [r.alert_id for r in select(active, None, 1500, None)] == ["b"]
    assert [r.alert_id for r in select(active, "a", None, None)] == ["a"]
    assert select(active, "c", None, None) == []
    assert parse_time("1970-01-01T00:00:02Z") == 2000 and parse_time("5") == 5

    class Cfg:
        class stream:
            name = "s"

    record = end_record(Cfg, "purge", active["a"], [12, 10, 11], "by command")  # type: ignore[arg-type]
    assert record.status == "purged" and record.scope == {"partition": 0, "from_offset": 10, "to_offset": 12, "events": 3,
                                                          "condition": "command"}
