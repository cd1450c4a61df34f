"""Reading a topic to its end reads every record, records in multi-record batches included.

Some brokers (the embedded one among them) announce a topic's end at the last record batch's
base offset + 1; the readers must not stop there.
"""

from __future__ import annotations

import pytest

from driftline.stream.kafka.clients import make_consumer, make_producer
from driftline.stream.kafka.records import partitions_of, read_records, read_to_end, read_topic
from driftline.stream.messages import ActionRecord

pytestmark = pytest.mark.integration


def _produce_in_batches(bootstrap: str, topic: str, values: list[bytes], singles: int) -> None:
    producer = make_producer(bootstrap)
    for value in values[:singles]:  # one record per batch
        producer.send(topic, value).get(timeout=30)
    producer.close()
    producer = make_producer(bootstrap, linger_ms=500, batch_size=1 << 20)  # the rest: one batch
    futures = [producer.send(topic, value, partition=0) for value in values[singles:]]
    producer.flush()
    for f in futures:
        f.get(timeout=30)
    producer.close()


def test_read_topic_reads_the_last_batch_whole(bootstrap_servers: str, topic_factory) -> None:
    topic = topic_factory("end")
    values = [f"v{i}".encode() for i in range(42)]
    _produce_in_batches(bootstrap_servers, topic, values, singles=37)
    assert [m.value for m in read_topic(bootstrap_servers, topic)] == values


def test_read_to_end_from_a_position_inside_the_topic(bootstrap_servers: str, topic_factory) -> None:
    topic = topic_factory("end-pos")
    values = [f"v{i}".encode() for i in range(30)]
    _produce_in_batches(bootstrap_servers, topic, values, singles=10)
    consumer = make_consumer(bootstrap_servers, group_id=None)
    try:
        parts = partitions_of(consumer, topic)
        consumer.assign(parts)
        consumer.seek(parts[0], 12)
        assert [m.value for m in read_to_end(consumer, parts)] == values[12:]
        # a second read from the end reads nothing, and returns
        assert list(read_to_end(consumer, parts)) == []
    finally:
        consumer.close()


def test_read_records_types_filters_and_counts(bootstrap_servers: str, topic_factory) -> None:
    topic = topic_factory("records")
    mine = [ActionRecord.new("quarantine", "s1", "started", alert_id=f"a{i}", ts=i) for i in range(6)]
    other = ActionRecord.new("quarantine", "s2", "started", alert_id="b", ts=1)
    values = [r.to_json() for r in mine[:3]] + [b"{not json", other.to_json()] + [r.to_json() for r in mine[3:]]
    _produce_in_batches(bootstrap_servers, topic, values, singles=2)
    read = read_records(bootstrap_servers, topic, ActionRecord, stream="s1")
    assert read.records == mine
    assert read.unreadable == 1


def test_caught_up_on_an_empty_partition_and_only_at_the_end_of_a_full_one(bootstrap_servers: str,
                                                                            topic_factory) -> None:
    from kafka import TopicPartition

    from driftline.stream.kafka.records import CaughtUp

    empty, full = topic_factory("caught-empty"), topic_factory("caught-full")
    _produce_in_batches(bootstrap_servers, full, [f"v{i}".encode() for i in range(42)], singles=37)
    consumer = make_consumer(bootstrap_servers, group_id=None)
    try:
        tps = [TopicPartition(empty, 0), TopicPartition(full, 0)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        caught = CaughtUp(consumer, every_s=0.0)
        assert caught(tps[0])  # nothing there: read to its end without any fetch answering for it
        assert not caught(tps[1])
        n = 0
        while n < 42:
            n += sum(len(v) for v in consumer.poll(timeout_ms=500).values())
            assert n == 42 or not caught(tps[1])
        assert caught(tps[1])
    finally:
        consumer.close()


@pytest.mark.parametrize("own_lister", [False, True], ids=["asked-on-its-connection", "asked-by-a-lister"])
def test_a_reader_busy_since_its_last_fetch_is_not_read_to_the_end_when_more_was_written(
        bootstrap_servers: str, topic_factory, own_lister: bool) -> None:
    """Its last fetch's high watermark says "at the end"; the broker's listed end says more came
    (asked on the reader's own connection, or by a lister of its own, as the roles ask it)."""
    from kafka import TopicPartition

    from driftline.stream.kafka.records import CaughtUp

    topic = topic_factory("caught-stale")
    _produce_in_batches(bootstrap_servers, topic, [f"v{i}".encode() for i in range(10)], singles=10)
    consumer = make_consumer(bootstrap_servers, group_id=None)
    lister = make_consumer(bootstrap_servers, group_id=None) if own_lister else None
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning()
        caught = CaughtUp(consumer, lister, every_s=0.0)
        n = 0
        while n < 10:
            n += sum(len(v) for v in consumer.poll(timeout_ms=500).values())
        assert caught(tp)
        _produce_in_batches(bootstrap_servers, topic, [f"w{i}".encode() for i in range(5)], singles=5)
        assert consumer.highwater(tp) == consumer.position(tp) == 10  # no fetch since: its view is stale
        assert not caught(tp)
    finally:
        consumer.close()
        if lister is not None:
            lister.close()
