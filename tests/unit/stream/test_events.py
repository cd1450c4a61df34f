"""Parsing a poll's messages into columns: every input is kept or rejected with a reason."""

from __future__ import annotations

import math

import numpy as np
import orjson

from driftline.stream.events import StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages
from driftline.stream.messages import Alert, Position, Window, alert_id

SCHEMA = StreamSchema(
    "s", {"income": "numeric", "country": "categorical"}, label_field="label", label_type="binary",
    prediction_field="prediction", prediction_type="binary",
)


def event(i: int, **over) -> bytes:
    doc = {"id": f"e{i}", "ts": 1000 + i, "features": {"income": 1.5 * i, "country": "DE"}, "label": i % 2}
    doc.update(over)
    return orjson.dumps(doc)


def test_valid_events_become_columns() -> None:
    raws = [event(0), event(1, ts="2026-01-01T00:00:00Z"), event(2, features={"income": None, "extra": 1})]
    batch, rejects = parse_events(SCHEMA, 3, [10, 11, 12], raws)
    assert rejects == []
    assert batch.ids == ["e0", "e1", "e2"] and batch.offsets.tolist() == [10, 11, 12]
    assert batch.ts.tolist() == [1000, 1767225600000, 1002]
    assert batch.numeric["income"][:2].tolist() == [0.0, 1.5] and math.isnan(batch.numeric["income"][2])
    assert batch.categorical["country"].tolist() == ["DE", "DE", None]
    assert batch.label.tolist() == [0, 1, 0]
    assert batch.undeclared == 1


def test_each_bad_message_is_rejected_with_its_reason_and_offset() -> None:
    cases = {
        b"\xff\xfe": "not UTF-8",
        b"{oops": "not valid JSON",
        b"[1]": "not a JSON object",
        event(0, id=None): "'id' must be a non-empty string",
        event(0, ts="yesterday"): "'ts' must be epoch milliseconds or ISO-8601",
        event(0, features={"income": "high"}): "feature 'income' is numeric",
        event(0, features={"income": True}): "feature 'income' is numeric",
        event(0, features={"country": 1.5}): "feature 'country' is categorical",
        event(0, features=[1]): "'features' must be an object",
        event(0, label=7): "label 7 is not a valid binary value",
        None: "empty message",
    }
    raws = [event(100), *cases, event(101)]
    batch, rejects = parse_events(SCHEMA, 0, list(range(len(raws))), raws)
    assert batch.ids == ["e100", "e101"]
    assert [r.offset for r in rejects] == list(range(1, len(raws) - 1))
    for reject, expected in zip(rejects, cases.values()):
        assert expected in reject.error, (reject.error, expected)
    assert len(batch) + len(rejects) == len(raws)


def test_late_labels() -> None:
    raws = [b'{"id": "e1", "label": 1, "ts": 5}', b'{"label": 1, "ts": 5}', b'{"id": "e2", "label": "yes", "ts": 5}',
            b'{"id": "e3", "label": 0}', b'{"id": "e4", "label": 0, "ts": "2026-01-01T00:00:00Z"}']
    labels, rejects = parse_label_messages(0, [0, 1, 2, 3, 4], raws, "id", "label", "binary")
    assert labels == [("e1", 1, 0, 5), ("e4", 0, 4, 1767225600000)]
    assert [r.offset for r in rejects] == [1, 2, 3]
    assert "'ts' must be the time the label became known" in rejects[2].error


def test_alert_id_is_deterministic_and_distinct() -> None:
    # a function of (stream, detector, feature, the firing event's id): where the event lives
    # (partition, offset) is not part of it, so any partitioning gives the same id
    a = alert_id("s", "ks-income", "income", "evt-42")
    assert a == alert_id("s", "ks-income", "income", "evt-42")
    assert len({a, alert_id("t", "ks-income", "income", "evt-42"), alert_id("s", "ks-income", "income", "evt-43"),
                alert_id("s", "ks-age", "income", "evt-42"), alert_id("s", "ks-income", None, "evt-42")}) == 5


def test_alert_round_trips_and_carries_cloudevent_headers() -> None:
    alert = Alert(
        alert_id="ab", stream="s", kind="data_drift", severity="drift", feature="income", detector="ks-income",
        statistic=0.1, p_value=1e-8, threshold=1e-6, position=Position(partition=0, offset=5),
        window=Window(reference_n=10, current_n=5, start_ts=1, end_ts=2), detected_at=1767225600123,
    )
    assert Alert.from_json(alert.to_json()) == alert
    headers = dict(alert.cloudevent_headers())
    assert headers["ce_id"] == b"ab" and headers["ce_source"] == b"driftline/s"
    assert headers["ce_time"] == b"2026-01-01T00:00:00.123000Z"
    assert alert.key == b"s/income"
    assert np.isclose(orjson.loads(alert.to_json())["p_value"], 1e-8)
