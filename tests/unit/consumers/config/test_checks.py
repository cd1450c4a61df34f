"""The checks that need the detectors: bad option values and a missing reference file are
validation problems with their key and line, and every command prints them, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.consumers.cli.main import main
from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError

MINIMAL = """\
stream:
  name: s
  features:
    income: numeric
    country: categorical
"""


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


@pytest.mark.parametrize("window", ["0", "big", "-5"])
def test_an_option_value_the_detector_refuses_is_a_problem(window: str) -> None:
    text = MINIMAL + f"detectors:\n  - name: k\n    method: ks\n    features: [income]\n    options: {{window: {window}}}\n"
    [(key, line, message)] = problems(text)
    assert key == "detectors[0].options" and line == 10
    assert "window" in message


def test_a_missing_reference_file_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    [(key, line, message)] = problems(MINIMAL + f"reference: {{file: {missing}}}\n")
    assert key == "reference.file" and line == 6 and "does not exist" in message


def test_a_reference_file_of_unknown_type_is_a_problem(tmp_path: Path) -> None:
    odd = tmp_path / "ref.xlsx"
    odd.write_bytes(b"x")
    [(key, _, message)] = problems(MINIMAL + f"reference: {{file: {odd}}}\n")
    assert key == "reference.file" and "unknown file type" in message


@pytest.mark.parametrize("command", ["validate", "backtest", "run"])
def test_every_command_prints_the_problem_not_a_traceback(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(MINIMAL + "detectors:\n  - {name: k, method: ks, features: [income], options: {window: 0}}\n")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    argv = {"validate": ["validate", str(cfg)],
            "backtest": ["backtest", str(cfg), "--input", str(events), "--output", str(tmp_path / "a.jsonl")],
            "run": ["run", str(cfg)]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "detectors[0].options (line 7)" in err and "window" in err
    assert "Traceback" not in err
