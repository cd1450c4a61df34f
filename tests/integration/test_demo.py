"""``driftline demo`` runs to completion on a fresh embedded broker and catches the drifts."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_and_detects_every_injected_drift() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "driftline.consumers.cli.main", "demo", "--events", "60000", "--rate", "20000"],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "summary" in out
    assert out.count("DETECTED") == 3, out
    assert "MISSED" not in out
    assert "quarantine: started" in out
    assert "3 malformed messages dead-lettered" in out
