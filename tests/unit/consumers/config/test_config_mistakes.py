"""Issue 14, item 8: configurations main accepted silently, now each a problem with its key and line."""

from __future__ import annotations

import pytest

from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError

BASE = """\
stream:
  name: s
  features: {a: numeric, b: numeric, c: categorical}
  label: {field: label, type: binary}
  prediction: {field: prediction, type: binary}
"""


def problems(extra: str, base: str = BASE) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(base + extra)
    return err.value.problems


def test_the_base_is_valid() -> None:
    parse_config(BASE)


def test_partitions_true_is_not_one() -> None:
    [(key, line, message)] = problems("kafka: {partitions: true}\n")
    assert key == "kafka.partitions" and line == 6 and "expected a number, got true" in message
    [(key, _, _)] = problems("learner: {max_pending: false}\n")
    assert key == "learner.max_pending"


def test_an_empty_detector_list_watches_nothing() -> None:
    [(key, line, message)] = problems("detectors: []\n")
    assert key == "detectors" and line == 6 and "runs no detector at all" in message


def test_a_warning_budget_stricter_than_the_drift_budget() -> None:
    [(key, _, message)] = problems("false_alarms: {drift: 1 per 1000 events, warning: 1 per 1000000 events}\n")
    assert key == "false_alarms.warning" and "stricter than the drift budget" in message
    parse_config(BASE + "false_alarms: {drift: 1 per 1000000 events, warning: null}\n")


def test_a_prediction_field_that_is_the_label_field() -> None:
    base = BASE.replace("{field: prediction,", "{field: label,")
    [(key, line, message)] = problems("", base)
    assert key == "stream.prediction.field" and line == 5 and "is also stream.label.field" in message
    [(key, _, message)] = problems("", BASE.replace("{field: label,", "{field: id,"))
    assert key == "stream.label.field" and "already stream.id_field" in message


def test_an_unknown_kafka_client_key() -> None:
    [(key, _, message)] = problems("kafka: {client: {bogus_key: 1}}\n")
    assert key == "kafka.client" and "'bogus_key'" in message
    parse_config(BASE + "kafka: {client: {session_timeout_ms: 6000, security_protocol: PLAINTEXT}}\n")
