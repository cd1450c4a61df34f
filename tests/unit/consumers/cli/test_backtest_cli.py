"""Issue 14, items 2, 4, 5 and the backtest part of 8: ``driftline backtest`` as a careless user runs it.

On main: ``--output`` the same file as ``--input`` emptied the input and exited 0; a file of
which nothing could be read exited 0; only 10 unreadable lines were listed, 0-based; Ctrl-C
left a partial alerts file that nothing marked as partial; a missing input, an unknown file
type, a missing output or report directory and Parquet without ``pyarrow`` were tracebacks
(the report's only after the whole backtest ran), and a missing input left an empty output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from driftline.consumers.cli.main import main
from driftline.stream.synthetic import generate

CONFIG = """\
stream:
  name: t
  features: {income: numeric, age: numeric, score: numeric, country: categorical, device: categorical}
  label: {field: label, type: binary}
  prediction: {field: prediction, type: binary}
reference: {first_n: 500}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(CONFIG)
    return str(path)


def events_file(path: Path, n: int = 3000) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(n, [], seed=5)))
    return path


def run(*args: str) -> int:
    return main(["backtest", *args])


def test_output_the_same_file_as_input_is_refused_and_the_input_kept(tmp_path: Path, cfg: str, capsys) -> None:
    source = events_file(tmp_path / "copy.jsonl")
    before = source.read_bytes()
    assert run(cfg, "--input", str(source), "--output", str(source)) == 1
    assert source.read_bytes() == before
    err = capsys.readouterr().err
    assert "that is the input file" in err and len(err.strip().splitlines()) == 1
    os.symlink(source, tmp_path / "link.jsonl")  # the same file by another name
    assert run(cfg, "--input", str(source), "--output", str(tmp_path / "link.jsonl")) == 1
    assert run(cfg, "--input", str(source), "--output", str(tmp_path / "a.jsonl"), "--report", str(source)) == 1
    assert source.read_bytes() == before


def test_the_output_is_written_whole_at_the_end(tmp_path: Path, cfg: str) -> None:
    out = tmp_path / "alerts.jsonl"
    out.write_bytes(b"the previous run's alerts\n")
    assert run(cfg, "--input", str(events_file(tmp_path / "e.jsonl")), "--output", str(out)) == 0
    assert b"previous" not in out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "cfg.yaml", "e.jsonl"]  # no temporary left
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_nothing_readable_exits_non_zero_and_writes_no_output(tmp_path: Path, cfg: str, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{oops\nnot json\n[1]\n")
    assert run(cfg, "--input", str(bad), "--output", str(tmp_path / "a.jsonl")) == 1
    err = capsys.readouterr().err
    assert "none of its 3 lines could be read" in err and "line 1: not valid JSON" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert run(cfg, "--input", str(empty), "--output", str(tmp_path / "a.jsonl")) == 1
    assert "no event in the file" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("")
    assert run(cfg, "--input", str(tmp_path / "empty.csv"), "--output", str(tmp_path / "a.jsonl")) == 1
    assert not (tmp_path / "a.jsonl").exists()


def test_every_unreadable_line_goes_to_rejects_1_based_and_ten_are_shown(tmp_path: Path, cfg: str, capsys) -> None:
    lines = [orjson.dumps(e) for e in generate(3000, [], seed=5)]
    broken = list(range(0, 40, 2))  # 0-based: 20 broken lines
    for i in broken:
        lines[i] = b"{broken %d" % i
    source = tmp_path / "e.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    assert run(cfg, "--input", str(source), "--output", str(tmp_path / "a.jsonl"), "--rejects", str(rejects)) == 0
    err = capsys.readouterr().err.splitlines()
    shown = [line for line in err if line.startswith("  line ")]
    assert [int(line.split()[1].rstrip(":")) for line in shown] == [i + 1 for i in broken[:10]]
    assert "... and 10 more (all of them are in" in err[-1]
    docs = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [d["line"] for d in docs] == [i + 1 for i in broken]
    assert all("not valid JSON" in d["reason"] and d["stage"] == "read" for d in docs)
    assert docs[0]["raw"] == "{broken 0"


def test_without_rejects_the_message_says_how_to_see_them_all(tmp_path: Path, cfg: str, capsys) -> None:
    lines = [b"x"] * 12 + [orjson.dumps(e) for e in generate(600, [], seed=5)]
    source = tmp_path / "e.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    assert run(cfg, "--input", str(source), "--output", str(tmp_path / "a.jsonl")) == 0
    assert "... and 2 more (--rejects FILE writes all of them)" in capsys.readouterr().err


def test_ctrl_c_keeps_the_partial_output_marked_and_exits_130(tmp_path: Path, cfg: str) -> None:
    source = events_file(tmp_path / "big.jsonl", 150_000)
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "driftline.consumers.cli.main", "backtest", cfg, "--input",
                             str(source), "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".alerts.jsonl.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not out.exists()
    assert (tmp_path / "alerts.jsonl.partial").exists()
    assert "interrupted" in err and "alerts.jsonl.partial (partial)" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".alerts.jsonl.*.tmp"))


def test_a_missing_input_is_one_line_and_creates_no_output(tmp_path: Path, cfg: str, capsys) -> None:
    assert run(cfg, "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "a.jsonl")) == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert not (tmp_path / "a.jsonl").exists()


def test_an_unknown_file_type_is_one_line(tmp_path: Path, cfg: str, capsys) -> None:
    (tmp_path / "e.txt").write_text("{}\n")
    assert run(cfg, "--input", str(tmp_path / "e.txt"), "--output", str(tmp_path / "a.jsonl")) == 1
    err = capsys.readouterr().err
    assert "unknown file type (use .jsonl" in err and len(err.strip().splitlines()) == 1


def test_missing_output_and_report_directories_are_said_before_the_backtest(tmp_path: Path, cfg: str,
                                                                            capsys, monkeypatch) -> None:
    import driftline.consumers.cli.backtest as command

    monkeypatch.setattr(command, "backtest", lambda *a, **k: pytest.fail("the backtest ran"))
    source = str(events_file(tmp_path / "e.jsonl"))
    assert run(cfg, "--input", source, "--output", str(tmp_path / "no" / "a.jsonl")) == 1
    assert "the directory" in capsys.readouterr().err
    assert run(cfg, "--input", source, "--output", str(tmp_path / "a.jsonl"),
               "--report", str(tmp_path / "no" / "r.html")) == 1
    err = capsys.readouterr().err
    assert "--report" in err and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert run(cfg, "--input", source, "--output", str(tmp_path)) == 1
    assert "is a directory" in capsys.readouterr().err


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, cfg: str, capsys, monkeypatch) -> None:
    (tmp_path / "e.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    assert run(cfg, "--input", str(tmp_path / "e.parquet"), "--output", str(tmp_path / "a.jsonl")) == 1
    assert "pip install 'driftline[parquet]'" in capsys.readouterr().err


def test_a_csv_pandas_cannot_parse_is_one_line(tmp_path: Path, cfg: str, capsys) -> None:
    (tmp_path / "e.csv").write_text('id,ts,income\n1,2,3\n4,5,6,7,8\n"9,1,1\n')
    assert run(cfg, "--input", str(tmp_path / "e.csv"), "--output", str(tmp_path / "a.jsonl")) == 1
    err = capsys.readouterr().err
    assert "not a readable CSV file" in err and len(err.strip().splitlines()) == 1
