"""The HTTP endpoint of a role: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

One small threaded WSGI server per role, on its own port (``0`` picks a free one). The
health checks are callables the role's telemetry provides; each returns ``(ok, details)``
and the endpoint answers 200 or 503 with the details as JSON, so an orchestrator's probe
and a human with ``curl`` read the same thing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, make_wsgi_app

log = logging.getLogger("driftline")

Check = Callable[[], tuple[bool, dict[str, Any]]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("metrics http: " + format, *args)


class HealthServer:
    """Serves ``registry`` on ``/metrics`` and the two checks on ``/healthz`` and ``/readyz``."""

    def __init__(self, registry: CollectorRegistry, healthz: Check, readyz: Check, host: str = "0.0.0.0", port: int = 0):
        self.host = host
        self.requested_port = port
        self._metrics = make_wsgi_app(registry)
        self._checks = {"/healthz": healthz, "/readyz": readyz}
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (the chosen one when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._server = make_server(
            self.host, self.requested_port, self._app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"driftline-http-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return self._metrics(environ, start_response)
        check = self._checks.get(path)
        if check is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics, /healthz or /readyz\n"]
        try:
            ok, details = check()
        except Exception as exc:  # a failing check is an unhealthy answer, not a server error
            ok, details = False, {"error": repr(exc)}
        body = orjson.dumps({"ok": ok, **details}, option=orjson.OPT_NON_STR_KEYS)
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
        return [body]
