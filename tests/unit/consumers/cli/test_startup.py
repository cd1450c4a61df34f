"""The command line starts without importing the heavy libraries: they come with the command that needs them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "river", "pandas", "plotly", "driftline.detectors", "driftline.consumers.roles")

PROBE = """
import sys
from driftline.consumers.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("MODULES:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def imported_after(*argv: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True,
                         check=True, timeout=60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES:"))
    return [m for m in line.removeprefix("MODULES:").split(",") if m]


def test_help_and_usage_errors_import_nothing_heavy() -> None:
    assert imported_after("--help") == []
    assert imported_after("backtest", "--help") == []
    assert imported_after("backtest") == []  # a usage error: --input and --output missing


def test_a_command_imports_what_it_needs() -> None:
    assert "driftline.detectors" in imported_after("validate", "no-such-file.yaml")
