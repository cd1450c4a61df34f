"""Avro test helpers: two versions of a schema, and a stand-in for a Confluent Schema Registry.

No real Schema Registry runs in the tests: :class:`Registry` is a local HTTP service that
answers the one request driftline makes of a registry, ``GET /schemas/ids/{id}`` (for Avro,
JSON Schema and Protobuf schemas).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

V1 = {"type": "record", "name": "Loan", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": "long"},
    {"name": "applicant", "type": {"type": "record", "name": "Applicant", "fields": [
        {"name": "income", "type": ["null", "double"], "default": None}]}}]}
#: v2 adds a field with a default: messages of either version read alike under the reader schema v2
V2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string", "default": "web"}]}


def record(i: int, income: float | None = 1.5) -> dict:
    return {"id": f"e{i}", "ts": 1000 + i, "applicant": {"income": income}}



class Registry:
    """A stand-in for a Confluent Schema Registry: ``GET /schemas/ids/{id}``, with basic auth, counting requests."""

    def __init__(self, schemas: dict[int, dict | str], auth: str | None = None, types: dict[int, str] | None = None):
        """``types``: the ``schemaType`` answered per id (none: Avro, as the registry leaves it out)."""
        self.schemas, self.requests, self.types = schemas, [], dict(types or {})
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                if auth is not None and self.headers.get("Authorization") != auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                schema_id = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/schemas/ids/") else -1
                if schema_id not in registry.schemas:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b'{"error_code": 40403, "message": "Schema not found"}')
                    return
                schema = registry.schemas[schema_id]
                answer = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
                if schema_id in registry.types:
                    answer["schemaType"] = registry.types[schema_id]
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
