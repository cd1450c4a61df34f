"""A long backtest says how far it is: a redrawn line on a terminal, a line per N events in a log."""

from __future__ import annotations

import io
from pathlib import Path

from driftline.consumers.cli.progress import Progress, estimate_events


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Batch:
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


def test_a_log_gets_a_line_per_n_events_with_alerts_and_time_left() -> None:
    log, out = io.StringIO(), io.BytesIO()
    progress = Progress(out, total=100, stream=log, every=30)
    for _ in range(5):
        progress.write(b'{"alert": 1}\n')
        progress.chunk(None, None, Batch(20), [])
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("backtest: 40 events (")
    assert "2 alerts" in lines[0] and "s left" in lines[0] and "s left" not in lines[-1]
    assert out.getvalue().count(b"\n") == 5  # the alerts go through to the output


def test_a_terminal_gets_one_line_redrawn_and_cleared() -> None:
    tty = Terminal()
    progress = Progress(io.BytesIO(), total=None, stream=tty)
    progress.chunk(None, None, Batch(10), [])
    progress.chunk(None, None, Batch(10), [])  # within the redraw interval: not drawn again
    progress.done()
    assert tty.getvalue().count("\r") == 2 and "10 events" in tty.getvalue() and "\n" not in tty.getvalue()


def test_the_events_of_a_file_are_estimated(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"id": "a"}\n' * 1000)
    assert estimate_events(path, "jsonl") == 1000
    assert estimate_events(path, "avro") is None
