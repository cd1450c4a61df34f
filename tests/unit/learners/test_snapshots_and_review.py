"""Online-learner snapshots for rollback, and the quarantine review's selection and records."""

from __future__ import annotations

import pytest

from driftline.consumers.cli.quarantine import end_record, parse_time, select
from driftline.learners.snapshots import SnapshotRing
from driftline.stream.messages import ActionRecord
from driftline.stream.quarantines import fold_quarantines


def test_snapshot_before_a_drift_is_a_copy_that_learned_nothing_from_its_start_on() -> None:
    ring = SnapshotRing(every=2, keep=3)
    model = {"w": 0}
    # learned in learning order, not in event time: the times go back and forth
    times = [100, 104, 101, 103, 106, 102, 108, 107, 109, 105]
    for trained, (offset, ts) in enumerate(zip(range(100, 110), times), start=1):
        model["w"] = offset
        ring.maybe_take(model, offset % 2, offset, trained, ts)
    assert len(ring) == 3  # taken after 2, 4, 6, 8 and 10 trained; the newest three kept
    assert [s.max_ts for s in ring._ring] == [106, 108, 109]  # the running maximum of the learned times
    snap = ring.before(107)
    assert snap is not None and snap.trained == 6 and snap.pipeline == {"w": 105}
    assert snap.pipeline is not model
    assert ring.before(106) is None  # the older ones were dropped
    assert ring.before(110).trained == 10
    assert ring.restore(snap) == {"w": 105} and len(ring) == 1  # the later ones were of the model given up
    assert ring.max_ts == 106
    ring.maybe_take(model, 0, 110, 7, 90)  # learning goes on from the restored model
    assert ring.max_ts == 106
    with pytest.raises(ValueError):
        SnapshotRing(every=0, keep=1)


def test_snapshots_of_an_earlier_version_without_times_are_never_restored() -> None:
    ring = SnapshotRing(every=1, keep=3)
    ring.maybe_take({"w": 1}, 0, 0, 1, 10)
    state = ring.state_dict()
    # as written before the times were kept: each partition's newest offset learned in their place
    state["snapshots"] = [[*row[:4], {"0": row[1]}] for row in state["snapshots"]]
    state["learned"] = {"0": 0}
    del state["max_ts"]
    old = SnapshotRing(every=1, keep=3)
    old.load_state_dict(state, ring.blob())
    assert len(old) == 1 and old.before(10**9) is None


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
