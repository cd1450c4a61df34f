"""Configuration: the contract's example validates; problems name the key, the line and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.consumers.cli.main import main
from driftline.consumers.core.checks import load_config, parse_config
from driftline.consumers.core.plan import plan
from driftline.consumers.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]
CONTRACT = ROOT.parent / "shared" / "contract.yaml"

MINIMAL = """\
stream:
  name: s
  features:
    income: numeric
    country: categorical
  label: {field: label, type: binary}
"""


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.stream.features
    assert plan(cfg)


def test_contract_example_validates_as_it_stands() -> None:
    if not CONTRACT.exists():
        pytest.fail(f"the contract's example is missing at {CONTRACT}")
    cfg = load_config(CONTRACT)
    assert cfg.false_alarms.drift == pytest.approx(1e-6)
    assert cfg.reference.first_n == 10000
    assert [p.do for p in cfg.policies] == [["quarantine"], ["rollback", "retrain"]]


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return info.value.problems


def test_unknown_key_is_named_with_its_line() -> None:
    [(key, line, message)] = problems(MINIMAL + "learner:\n  modle: x\n")
    assert (key, line, message) == ("learner.modle", 8, "unknown key")


def test_wrong_type_and_unknown_method() -> None:
    text = MINIMAL + "detectors:\n  - name: a\n    method: kss\n    features: [income]\n"
    [(key, line, message)] = problems(text)
    assert key == "detectors[0].method" and line == 9 and "unknown detector method 'kss'" in message


def test_detector_naming_an_undeclared_feature() -> None:
    text = MINIMAL + "detectors:\n  - name: a\n    method: ks\n    features: [salary]\n"
    [(key, line, message)] = problems(text)
    assert key == "detectors[0].features" and line == 10 and "'salary' is not declared" in message


def test_method_of_the_wrong_type_for_the_feature() -> None:
    text = MINIMAL + "detectors:\n  - name: a\n    method: ks\n    features: [country]\n"
    [(key, _, message)] = problems(text)
    assert key == "detectors[0].method" and "takes numeric values" in message


def test_secrets_come_from_the_environment() -> None:
    text = "kafka:\n  client: {sasl_plain_password: '${KAFKA_PASSWORD}'}\n" + MINIMAL
    cfg = parse_config(text, env={"KAFKA_PASSWORD": "s3cret"})
    assert cfg.kafka.client["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(cfg)
    [(key, line, message)] = problems(text)
    assert key == "kafka.client.sasl_plain_password" and line == 2 and "KAFKA_PASSWORD is not set" in message


def test_false_alarm_rates_and_reference_choice() -> None:
    [(key, _, message)] = problems(MINIMAL + "false_alarms: {drift: often}\n")
    assert key == "false_alarms.drift" and "not understood" in message
    [(key, _, message)] = problems(MINIMAL + "reference: {first_n: 100, file: ref.parquet}\n")
    assert key == "reference" and "exactly one" in message


def test_auto_plans_a_detector_per_feature_label_and_error() -> None:
    cfg = parse_config(MINIMAL)
    names = [(p.name, p.kind) for p in plan(cfg)]
    assert names == [
        ("ks-income", "data_drift"), ("cusum-income", "data_drift"), ("cusum-fast-income", "data_drift"),
        ("quality-income", "data_quality"),
        ("chi2-country", "data_drift"), ("quality-country", "data_quality"), ("schema-errors", "data_quality"),
        ("bernoulli-label", "label_drift"), ("bernoulli-error", "concept_drift"),
    ]
    other = parse_config(MINIMAL + "learner: {concept_detector: adwin}\n")
    assert [p.name for p in plan(other) if p.kind == "concept_drift"] == ["adwin-error"]


def test_a_sliding_reference_reaches_the_windowed_tests() -> None:
    from driftline.consumers.core.plan import build

    cfg = parse_config(MINIMAL + "reference: {sliding: 5000}\n")
    built = {p.name: d for p, d in zip(plan(cfg), build(cfg, plan(cfg)))}
    assert built["ks-income"].sliding and built["ks-income"].reference_size == 5000
    assert built["cusum-income"].reference_size == 5000  # first 5000, renewed after a drift
    [(key, _, message)] = problems(MINIMAL + "reference: {first_n: 100, sliding: 100}\n")
    assert key == "reference" and "exactly one" in message


def test_validate_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    assert main(["validate", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "kafka: {partitions: zero}\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "kafka.partitions (line 7)" in err


def test_a_listed_schema_detector_watches_the_messages() -> None:
    cfg = parse_config(MINIMAL + "detectors:\n  - {name: bad-messages, method: schema, kind: data_quality}\n")
    [planned] = plan(cfg)
    assert (planned.name, planned.target, planned.feature, planned.kind) == (
        "bad-messages", "messages", None, "data_quality")
    wrong = problems(MINIMAL + "detectors:\n  - {name: s, method: schema, kind: data_drift, features: [income]}\n")
    assert {key for key, _, _ in wrong} == {"detectors[0].kind", "detectors[0].features"}
    assert any("watches the messages' schema" in message for _, _, message in wrong)
