"""Issue 14, item 8: arguments a careless user types are one line (a usage error, exit 2),
never a traceback or a hang; and ``driftline --version``."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from driftline.consumers.cli.main import main

CLI = [sys.executable, "-m", "driftline.consumers.cli.main"]


def test_version_is_the_distribution_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"driftline {version('driftline')}"


@pytest.mark.parametrize(("argv", "said"), [
    (["run", "cfg.yaml", "--metrics-port", "99999"], "'99999' is not a port number (0 to 65535)"),
    (["run", "cfg.yaml", "--metrics-port", "-1"], "is not a port number"),
    (["demo", "--events", "-5"], "the demo needs at least 1000 events"),
    (["demo", "--events", "0"], "the demo needs at least 1000 events"),
    (["demo", "--events", "many"], "'many' is not a whole number"),
    (["demo", "--rate", "0"], "give a positive number of events per second"),
    (["report", "cfg.yaml", "--since", "banana"], "'banana' is not a span"),
])
def test_a_wrong_argument_is_a_usage_error_before_anything_runs(argv: list[str], said: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"driftline {argv[0]}: error:")


def test_the_command_line_says_it_in_one_line_as_a_process() -> None:
    proc = subprocess.run([*CLI, "demo", "--events", "-5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "the demo needs at least 1000 events" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_with_a_missing_report_directory_is_one_line(tmp_path, capsys) -> None:
    assert main(["demo", "--events", "1000", "--report", str(tmp_path / "no" / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err
