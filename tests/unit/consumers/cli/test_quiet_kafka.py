"""kafka-python's harmless noise is kept out of a normal run; its real errors and every other logger are not."""

from __future__ import annotations

import logging

from driftline.consumers.cli.main import quiet_kafka


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_harmless_kafka_lines_are_dropped_and_real_ones_kept() -> None:
    harmless = [
        ("kafka.net.selector", logging.WARNING, "Task <x> ran for 0.13s (>0.100s threshold). It is blocking the event loop"),
        ("kafka.cluster", logging.ERROR, "Metadata refresh: failed Cancelled"),
        ("kafka.net.transport", logging.ERROR,
         "<KafkaTCPTransport [none] (closed)>: Error receiving network data closing socket"),
    ]
    for name, level, message in harmless:
        assert not quiet_kafka(record(name, level, message)), message
    kept = [
        ("kafka.cluster", logging.ERROR, "Metadata refresh: failed NodeNotReady"),
        ("kafka.net.transport", logging.ERROR, "<KafkaTCPTransport [broker-1] (connected)>: Error receiving network data"),
        ("driftline", logging.WARNING, "failed Cancelled"),  # driftline's own lines always
    ]
    for name, level, message in kept:
        assert quiet_kafka(record(name, level, message)), message
