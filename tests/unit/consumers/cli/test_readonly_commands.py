"""Issue 14, item 6 without a broker: the commands that only look say in one line, within a
few seconds, that nothing answers, naming the address and what to check.

On main ``status``, ``report``, ``quarantine list`` and ``quarantine release`` against an
unreachable ``bootstrap_servers`` each waited about 32 s and printed a 70-line traceback; with
``embedded`` and no ``driftline broker`` running they started a throw-away broker and answered
"no active quarantine" / "0 alerts". (On a real broker: ``tests/integration/test_readonly.py``.)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.consumers.cli.main import main

COMMANDS = [["status"], ["report"], ["quarantine", "list"], ["quarantine", "release"], ["quarantine", "purge"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(tmp_path: Path, kafka: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(f"kafka: {kafka}\nstream: {{name: s, features: {{a: numeric}}}}\n")
    return str(path)


@pytest.fixture
def silent() -> Iterator[str]:
    """An address that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def one_line(argv: list[str], capsys, tmp_path: Path) -> str:
    extra = ["--output", str(tmp_path / "r.html")] if argv[0] == "report" else []
    started = time.monotonic()
    assert main([*argv, *extra]) == 1
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r.html").exists()
    return err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_refused_address(command: list[str], tmp_path: Path, capsys) -> None:
    address = f"127.0.0.1:{free_port()}"
    err = one_line([*command, config(tmp_path, f'{{bootstrap_servers: "{address}"}}')], capsys, tmp_path)
    assert f"cannot reach Kafka at {address}" in err and "refused the connection" in err
    assert "check kafka.bootstrap_servers" in err


@pytest.mark.parametrize("command", COMMANDS[:3], ids=" ".join)
def test_an_address_that_never_answers(command: list[str], tmp_path: Path, capsys, silent: str) -> None:
    err = one_line([*command, config(tmp_path, f'{{bootstrap_servers: "{silent}"}}')], capsys, tmp_path)
    assert "does not answer as a Kafka broker" in err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_embedded_without_a_running_broker_starts_none(command: list[str], tmp_path: Path, capsys) -> None:
    address = f"127.0.0.1:{free_port()}"
    kafka = f'{{bootstrap_servers: embedded, embedded_address: "{address}"}}'
    err = one_line([*command, config(tmp_path, kafka)], capsys, tmp_path)
    assert f"no broker is running at {address}: start `driftline broker`, or set kafka.bootstrap_servers" in err


def test_a_wrong_time_is_said_before_anything_is_touched(tmp_path: Path, capsys) -> None:
    address = f"127.0.0.1:{free_port()}"
    cfg = config(tmp_path, f'{{bootstrap_servers: "{address}"}}')
    assert main(["quarantine", "release", cfg, "--since", "yesterday"]) == 1
    assert "'yesterday' is not a time" in capsys.readouterr().err


def test_models_list_creates_no_registry(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, "{}")
    assert main(["models", "list", cfg]) == 0
    assert "no model registry for stream 's'" in capsys.readouterr().out
    assert main(["models", "show", cfg, "1"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]
