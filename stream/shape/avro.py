"""Avro messages in the Confluent wire format, decoded with fastavro.

A message is a zero byte, the writer schema's id (4 bytes, big-endian) and the Avro body.
The writer schema comes from a Confluent Schema Registry (``GET /schemas/ids/{id}``, fetched
once per id and cached) or from local ``.avsc`` files given by id. With a reader schema the
body is read as Avro's schema resolution says (fields added with defaults, removed, promoted);
without, as the writer wrote it. A message that is not in the wire format, whose schema cannot
be had, or whose body does not decode is refused with the reason (it is dead-lettered); the
next message is read as if nothing happened.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import fastavro
import orjson

from driftline.stream.errors import DriftlineError

log = logging.getLogger("driftline")

#: how long a registry that did not answer is not asked again (seconds): its messages are
#: refused meanwhile instead of each waiting for a timeout
RETRY_SECONDS = 5.0
MAGIC = 0
#: an object's address in an exception's text (fastavro names the stream it read from)
_ADDRESS = re.compile(r" (from|in) <[^>]* at 0x[0-9a-f]+>")


class SchemaUnavailable(DriftlineError, LookupError):
    """A writer schema could not be had (unknown id, registry unreachable, unreadable file)."""

    hint = "check stream.avro (the registry's url and credentials, or the .avsc files by schema id)"


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
        self._cache: dict[int, dict[str, Any]] = {}
        self._failed: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The writer schema of ``schema_id`` as JSON; SchemaUnavailable saying why otherwise."""
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

    def _fetch(self, schema_id: int) -> dict[str, Any]:
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
        if body.get("schemaType", "AVRO") != "AVRO":
            raise SchemaUnavailable(f"{where} is a {body['schemaType']} schema: driftline reads Avro only")
        try:
            return orjson.loads(body["schema"])
        except (KeyError, TypeError, orjson.JSONDecodeError):
            raise SchemaUnavailable(f"{where}: the answer holds no schema") from None


def load_avsc(path: str | Path) -> Any:
    """A local ``.avsc`` schema, parsed; SchemaUnavailable saying why it cannot be."""
    try:
        return fastavro.parse_schema(orjson.loads(Path(path).read_bytes()))
    except OSError as exc:
        raise SchemaUnavailable(f"cannot read the Avro schema {path}: {exc.strerror}") from None
    except (orjson.JSONDecodeError, fastavro.schema.SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise SchemaUnavailable(f"{path} is not a valid Avro schema: {exc}") from None


class AvroDecoder:
    """Confluent wire-format messages to records (dicts), or why not."""

    def __init__(self, registry: SchemaRegistry | None = None, schema_files: dict[int, str] | None = None,
                 reader_schema: str | None = None):
        self.registry = registry
        self.schema_files = dict(schema_files or {})
        self._reader_path = reader_schema
        self._parsed: dict[int, Any] = {}
        self._reader: Any = None

    def writer(self, schema_id: int) -> Any:
        if schema_id not in self._parsed:
            if schema_id in self.schema_files:
                parsed = load_avsc(self.schema_files[schema_id])
            elif self.registry is not None:
                parsed = fastavro.parse_schema(self.registry.schema(schema_id))
            else:
                known = ", ".join(map(str, sorted(self.schema_files))) or "none"
                raise SchemaUnavailable(f"schema id {schema_id} is not among stream.avro.schemas (ids {known})")
            self._parsed[schema_id] = parsed
        return self._parsed[schema_id]

    def reader(self) -> Any:
        if self._reader is None and self._reader_path:
            self._reader = load_avsc(self._reader_path)
        return self._reader

    def decode(self, raw: bytes) -> tuple[dict[str, Any] | None, str]:
        if len(raw) < 5 or raw[0] != MAGIC:
            first = f"0x{raw[0]:02x}" if raw else "none"
            return None, (f"not Avro in the Confluent wire format (a zero byte, a 4-byte schema id, the body): "
                          f"{len(raw)} bytes, the first {first}")
        schema_id = int.from_bytes(raw[1:5], "big")
        try:
            writer = self.writer(schema_id)
            reader = self.reader()
        except SchemaUnavailable as exc:
            return None, str(exc)
        body = io.BytesIO(raw[5:])
        try:
            record = fastavro.schemaless_reader(body, writer, reader) if reader is not None else \
                fastavro.schemaless_reader(body, writer)
        except Exception as exc:
            why = _ADDRESS.sub("", f"{type(exc).__name__} {exc}")
            return None, f"Avro body does not decode with schema id {schema_id}: {why}"[:300]
        if body.tell() != len(raw) - 5:
            return None, f"Avro body of schema id {schema_id} has {len(raw) - 5 - body.tell()} bytes left over"
        if not isinstance(record, dict):
            return None, f"schema id {schema_id} is not an Avro record but {type(record).__name__}"
        return record, ""


def encode(schema: Any, schema_id: int, record: dict[str, Any]) -> bytes:
    """A record in the Confluent wire format (for producers, tests and the demo)."""
    out = io.BytesIO()
    out.write(bytes([MAGIC]) + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()
