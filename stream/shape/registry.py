"""The part of a Confluent Schema Registry's REST API driftline needs: a writer schema by its id.

``GET /schemas/ids/{id}`` answers ``{"schema": "<text>", "schemaType": "AVRO" | "JSON" |
"PROTOBUF"}`` (no type: Avro). Each id is fetched once and cached; an id that could not be had
is not asked again for :data:`RETRY_SECONDS` (its messages are refused meanwhile, instead of
each waiting for a timeout). Avro (:mod:`.avro`), JSON Schema (:mod:`.json_schema`) and
Protobuf (:mod:`.protobuf`) messages share this client.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from driftline.stream.errors import DriftlineError

#: how long a registry that did not answer is not asked again (seconds): its messages are
#: refused meanwhile instead of each waiting for a timeout
RETRY_SECONDS = 5.0
#: the schema types driftline reads, and what a message of another type is told
_READERS = {"AVRO": "format avro reads Avro schemas only", "JSON": "format json_schema reads JSON Schemas only",
            "PROTOBUF": "format protobuf reads Protobuf schemas only"}
#: the schema types whose text is JSON (a Protobuf schema is ``.proto`` text)
_JSON_TEXT = ("AVRO", "JSON")


class SchemaUnavailable(DriftlineError, LookupError):
    """A writer schema could not be had (unknown id, registry unreachable, unreadable file)."""

    hint = ("check stream.avro, stream.json_schema or stream.protobuf (the registry's url and credentials, or the "
            "schema files by schema id)")


class SchemaRegistry:
    """The part of the Schema Registry REST API driftline needs: a schema by its id, cached."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 timeout_seconds: float = 5.0):
        self.url = url.rstrip("/")
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self.timeout = timeout_seconds
        self._cache: dict[int, tuple[str, Any]] = {}
        self._failed: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int, schema_type: str = "AVRO") -> Any:
        """The writer schema of ``schema_id``: parsed from its JSON text (``AVRO``, ``JSON``), or
        the ``.proto`` text (``PROTOBUF``); SchemaUnavailable saying why otherwise, also when the
        registry holds it as another type than ``schema_type``."""
        kind, schema = self._schema(schema_id)
        if kind != schema_type:
            why = _READERS[schema_type] if kind in _READERS else \
                f"driftline reads Avro, JSON Schema and Protobuf, not {kind}"
            raise SchemaUnavailable(f"schema id {schema_id} from the registry at {self.url} is a {kind} schema: {why}")
        return schema

    def kind(self, schema_id: int) -> str:
        """The registry's type of ``schema_id`` (``AVRO``, ``JSON``, ``PROTOBUF``, ...);
        SchemaUnavailable when it cannot be had."""
        return self._schema(schema_id)[0]

    def _schema(self, schema_id: int) -> tuple[str, Any]:
        with self._lock:
            if schema_id in self._cache:
                return self._cache[schema_id]
            failed = self._failed.get(schema_id)
            if failed is not None and time.monotonic() < failed[0]:
                raise SchemaUnavailable(failed[1])
            try:
                schema = self._fetch(schema_id)
            except SchemaUnavailable as exc:
                self._failed[schema_id] = (time.monotonic() + RETRY_SECONDS, str(exc))
                raise
            self._cache[schema_id] = schema
            return schema

    def _fetch(self, schema_id: int) -> tuple[str, Any]:
        request = urllib.request.Request(f"{self.url}/schemas/ids/{schema_id}",
                                         headers={"Accept": "application/vnd.schemaregistry.v1+json"})
        if self._auth:
            request.add_header("Authorization", self._auth)
        where = f"schema id {schema_id} from the registry at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            what = "unknown to it" if exc.code == 404 else f"HTTP {exc.code}"
            raise SchemaUnavailable(f"cannot fetch {where}: {what}") from None
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise SchemaUnavailable(f"cannot fetch {where}: {getattr(exc, 'reason', exc)}") from None
        if not isinstance(body, dict):
            raise SchemaUnavailable(f"{where}: the answer holds no schema")
        kind = str(body.get("schemaType", "AVRO"))
        if kind not in _READERS:  # a type driftline does not read: refused by schema()
            return kind, None
        try:
            return kind, (orjson.loads(body["schema"]) if kind in _JSON_TEXT else str(body["schema"]))
        except (KeyError, TypeError, orjson.JSONDecodeError):
            raise SchemaUnavailable(f"{where}: the answer holds no schema") from None
