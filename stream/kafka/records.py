"""Reading driftline's topics back: to their true end, and as typed records.

Every place that reads a topic "to its end" goes through :func:`read_to_end`. The end a
broker announces for ListOffsets(latest) is not always the true one: the embedded broker
answers with the last record batch's base offset + 1, short of the end by that batch's size
less one. The high watermark that comes with every fetch response is right on Kafka and on
the embedded broker alike, so a partition counts as read once the consumer's position has
reached both the announced end and the high watermark of its latest fetch.

:func:`read_records` is the one reader of a topic of driftline's own records (alerts, action
records): each value parsed by the record type, the unreadable ones counted and logged, the
records of other streams left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from driftline.stream.errors import TopicReadError
from driftline.stream.kafka.clients import READ_TIMEOUT_MS, make_consumer

log = logging.getLogger("driftline")

#: how long one poll waits while a partition is still behind its end
POLL_MS = 200


def _behind(consumer: KafkaConsumer, tp: TopicPartition, listed: int) -> bool:
    high = consumer.highwater(tp)
    if high is None:  # no fetch has answered for it yet: only a partition announced empty is surely read
        return listed > 0
    return consumer.position(tp) < max(listed, high)


def read_to_end(
    consumer: KafkaConsumer, partitions: Sequence[TopicPartition], timeout_ms: int = READ_TIMEOUT_MS
) -> Iterator[Any]:
    """Records of ``partitions`` (assigned, positioned) until each is at its true end.

    Raises :class:`~driftline.stream.errors.TopicReadError` when the end is not reached
    within ``timeout_ms`` of the last record read.
    """
    parts = list(partitions)
    if not parts:
        return
    try:
        listed = consumer.end_offsets(parts, timeout_ms=timeout_ms)
    except KafkaError as exc:
        raise TopicReadError(f"cannot look up the end of {_names(parts)}: {exc}") from exc
    deadline = time.monotonic() + timeout_ms / 1000
    while any(_behind(consumer, tp, listed[tp]) for tp in parts):
        polled = consumer.poll(timeout_ms=POLL_MS)
        got = False
        for msgs in polled.values():
            got = got or bool(msgs)
            yield from msgs
        if got:
            deadline = time.monotonic() + timeout_ms / 1000
        elif time.monotonic() > deadline:
            raise TopicReadError(f"{_names(parts)} could not be read to the end within {timeout_ms / 1000:.0f} s")


def _names(parts: Sequence[TopicPartition]) -> str:
    return ", ".join(sorted({tp.topic for tp in parts}))


def partitions_of(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]


def end_offset(consumer: KafkaConsumer, tp: TopicPartition) -> int:
    """The true end of one partition now (its next offset), read off a fetch's high watermark.

    Seeks ``consumer`` (which must not be assigned other partitions) to the announced end's
    last batch and reads it: at most one record batch is fetched.
    """
    consumer.assign([tp])
    listed = int(consumer.end_offsets([tp], timeout_ms=READ_TIMEOUT_MS)[tp])
    if listed == 0:
        return 0
    consumer.seek(tp, listed - 1)
    for _ in read_to_end(consumer, [tp]):
        pass
    return int(consumer.position(tp))


def read_topic(bootstrap_servers: str, topic: str, *, client: dict[str, Any] | None = None) -> list[Any]:
    """Every record of ``topic`` from the beginning to its true end now (no group, no commit)."""
    consumer = make_consumer(bootstrap_servers, group_id=None, client=client)
    try:
        parts = partitions_of(consumer, topic)
        if not parts:  # no such topic (yet): nothing to read, and nothing is created
            return []
        consumer.assign(parts)
        consumer.seek_to_beginning()
        return list(read_to_end(consumer, parts))
    finally:
        consumer.close()


class Record(Protocol):
    """A record type of driftline's topics: parsed from bytes, naming its stream."""

    stream: str

    @classmethod
    def from_json(cls, raw: bytes | str) -> Any: ...


R = TypeVar("R", bound=Record)
T = TypeVar("T")


@dataclass
class Records(Generic[T]):
    """Records read from a topic, in topic order, and how many could not be read."""

    records: list[T] = field(default_factory=list)
    unreadable: int = 0

    def __iter__(self) -> Iterator[T]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def parse_records(
    values: Sequence[bytes | None], parse: Callable[[bytes], T], topic: str,
    keep: Callable[[T], bool] | None = None,
) -> Records[T]:
    """``parse`` of each value, those ``keep`` accepts, in order; the unreadable ones counted.

    A view of a topic skips what it cannot read (and says how many); the topic keeps it.
    """
    out: Records[T] = Records()
    for value in values:
        try:
            record = parse(value if value is not None else b"")
        except ValueError:  # orjson's decode errors and pydantic's validation errors are ValueErrors
            out.unreadable += 1
            continue
        if keep is None or keep(record):
            out.records.append(record)
    if out.unreadable:
        log.warning("skipped %d unreadable records on %s", out.unreadable, topic)
    return out


def read_records(
    bootstrap_servers: str,
    topic: str,
    model: type[R],
    *,
    stream: str | None,
    client: dict[str, Any] | None = None,
) -> Records[R]:
    """The records of ``stream`` on ``topic`` (all streams with None), from the beginning to the end."""
    values = [m.value for m in read_topic(bootstrap_servers, topic, client=client)]
    return parse_records(values, model.from_json, topic, None if stream is None else (lambda r: r.stream == stream))


def tail(consumer: KafkaConsumer, parse: Callable[[str, bytes | None], None]) -> int:
    """Hand every record the consumer's assigned partitions hold past its positions to
    ``parse(topic, value)``, up to their true end now; the number of records read."""
    parts = list(consumer.assignment())
    n = 0
    for m in read_to_end(consumer, parts):
        parse(m.topic, m.value)
        n += 1
    return n


class CaughtUp:
    """Whether a consumer of a group has read a partition to its end: its position at the high
    watermark of its latest fetch, and at the end the broker lists (asked at most once a second
    per partition). The second guards against a stale fetch: a reader that was busy for a
    while (its last fetch long ago) is not read to its end when more has been written since,
    so a busy reader never takes its own busy time for a quiet partition. The listed end may
    fall short of the true end (never past it), so it never keeps a reader that is at the end
    from being so. A partition no fetch has answered for yet (an empty one may never be
    answered for) counts as read only if the broker announces it empty.

    The end is asked through ``lister``, a consumer of no group on a connection of its own:
    asked on the reader's connection it waits behind the reader's fetch, which the broker
    holds up to ``fetch_max_wait_ms`` while there is nothing new (measured on the embedded
    broker: 63 ms a question on the reader's connection, under 1 ms on its own)."""

    def __init__(self, consumer: KafkaConsumer, lister: KafkaConsumer | None = None, every_s: float = 1.0):
        self.consumer = consumer
        self.lister = lister if lister is not None else consumer
        self.every_s = every_s
        self._listed: dict[TopicPartition, tuple[float, int | None]] = {}

    def __call__(self, tp: TopicPartition) -> bool:
        high = self.consumer.highwater(tp)
        position = self.consumer.position(tp)
        if high is not None and position < high:
            return False
        listed = self._listed_end(tp)
        if listed is None:
            return False
        return position >= listed if high is not None else listed == 0 and position == 0

    def _listed_end(self, tp: TopicPartition) -> int | None:
        """The end the broker lists for ``tp``, at most ``every_s`` old (None: it did not answer)."""
        asked_at, end = self._listed.get(tp, (-1e18, None))
        if time.monotonic() - asked_at >= self.every_s:
            try:
                end = self.lister.end_offsets([tp]).get(tp)
            except KafkaError:
                end = None
            self._listed[tp] = (time.monotonic(), end)
        return end
