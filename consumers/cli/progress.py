"""A long backtest's progress: events, events/s, alerts so far and time left.

On a terminal one line on standard error is redrawn at most twice a second (and cleared at the
end); otherwise (a log, a pipe) a line is written every ``every`` events. The time left is
estimated from the file's size and the length of its first lines (JSONL, CSV) or its row count
(Parquet); an Avro container file's is not known.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

#: a progress line per this many events when standard error is not a terminal
LOG_EVERY = 100_000
#: how often a terminal's line is redrawn (seconds)
REDRAW_SECONDS = 0.5
#: bytes read from the start of a text file to estimate its events' length
SAMPLE_BYTES = 1 << 16


def estimate_events(path: str | Path, kind: str) -> int | None:
    """About how many events the file holds (None when it cannot be told cheaply)."""
    path = Path(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if kind not in ("jsonl", "csv"):
        return None
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    lines = head.count(b"\n")
    if not lines:
        return 1 if size else 0
    return max(1, round(size * lines / len(head)) - (1 if kind == "csv" else 0))


class Progress:
    """Counts the alerts written (as a wrapper of the output) and the events judged (as the
    backtest's chunk hook), and says so."""

    def __init__(self, out: IO[bytes], total: int | None, stream: IO[str] | None = None, every: int = LOG_EVERY):
        self.out = out
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self.events = 0
        self.alerts = 0
        self.started = time.perf_counter()
        self._shown_at = 0.0
        self._next_log = every

    def write(self, data: bytes) -> int:
        self.alerts += data.count(b"\n")
        return self.out.write(data)

    def chunk(self, _engine: Any, _learner: Any, batch: Any, _alerts: Any) -> None:
        self.events += len(batch)
        now = time.perf_counter()
        if self.tty and now - self._shown_at >= REDRAW_SECONDS:
            self._shown_at = now
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self.stream.flush()
        elif not self.tty and self.events >= self._next_log:
            self._next_log += self.every
            self.stream.write(f"backtest: {self.line(now)}\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        seconds = max(now - self.started, 1e-9)
        rate = self.events / seconds
        text = f"{self.events:,} events ({rate:,.0f} events/s), {self.alerts} alerts"
        if self.total and rate > 0 and self.events < self.total:
            text += f", about {(self.total - self.events) / rate:,.0f} s left"
        return text

    def done(self) -> None:
        if self.tty and self._shown_at:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
