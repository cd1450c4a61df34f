"""Avro test helpers: two versions of a schema, and a stand-in for a Confluent Schema Registry.

No real Schema Registry runs in the tests: :class:`Registry` is a local HTTP service that
answers the two requests driftline makes of a registry, ``GET /schemas/ids/{id}`` (for Avro,
JSON Schema and Protobuf schemas, with their ``references``) and ``GET
/subjects/{subject}/versions/{version}`` (a referenced schema), as the registry's REST API does.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

V1 = {"type": "record", "name": "Loan", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": "long"},
    {"name": "applicant", "type": {"type": "record", "name": "Applicant", "fields": [
        {"name": "income", "type": ["null", "double"], "default": None}]}}]}
#: v2 adds a field with a default: messages of either version read alike under the reader schema v2
V2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string", "default": "web"}]}


def record(i: int, income: float | None = 1.5) -> dict:
    return {"id": f"e{i}", "ts": 1000 + i, "applicant": {"income": income}}



class Registry:
    """A stand-in for a Confluent Schema Registry: ``GET /schemas/ids/{id}`` and
    ``GET /subjects/{subject}/versions/{version}``, with basic auth, counting requests."""

    def __init__(self, schemas: dict[int, dict | str], auth: str | None = None, types: dict[int, str] | None = None,
                 references: dict[int, list[dict]] | None = None, subjects: dict[tuple[str, int], int] | None = None):
        """``types``: the ``schemaType`` answered per id (none: Avro, as the registry leaves it out);
        ``references``: the ``references`` answered per id (none: left out); ``subjects``: the
        schema id registered as each subject and version."""
        self.schemas, self.requests, self.types = schemas, [], dict(types or {})
        self.references, self.subjects = dict(references or {}), dict(subjects or {})
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                if auth is not None and self.headers.get("Authorization") != auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                status, answer = registry.answer(self.path)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, dict]:
        """The status and JSON answer to ``GET path``, as the registry's REST API gives them."""
        parts = [unquote(p) for p in path.split("/")[1:]]
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            schema_id = int(parts[2])
            if schema_id not in self.schemas:
                return 404, {"error_code": 40403, "message": "Schema not found"}
            return 200, self._registered(schema_id)
        if len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
            subject, version = parts[1], parts[3]
            if not any(s == subject for s, _ in self.subjects):
                return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}
            key = (subject, int(version)) if version.isdigit() else None
            if key not in self.subjects:
                return 404, {"error_code": 40402, "message": f"Version {version} not found."}
            schema_id = self.subjects[key]
            return 200, {"subject": subject, "version": key[1], "id": schema_id, **self._registered(schema_id)}
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _registered(self, schema_id: int) -> dict:
        schema = self.schemas[schema_id]
        answer = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        if schema_id in self.types:
            answer["schemaType"] = self.types[schema_id]
        if schema_id in self.references:
            answer["references"] = self.references[schema_id]
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
