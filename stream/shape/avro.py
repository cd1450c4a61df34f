"""Avro messages in the Confluent wire format, decoded with fastavro.

A message is a zero byte, the writer schema's id (4 bytes, big-endian) and the Avro body.
The writer schema comes from a Confluent Schema Registry (``GET /schemas/ids/{id}``, fetched
once per id and cached) or from local ``.avsc`` files given by id. A registered schema that
references other registered schemas (the registry's ``references``, followed recursively by
:meth:`.SchemaRegistry.dependencies`) is parsed after them, so the named types they define
(records, enums, fixed) are known to it by their full names. With a reader schema the
body is read as Avro's schema resolution says (fields added with defaults, removed, promoted);
without, as the writer wrote it. A message that is not in the wire format, whose schema cannot
be had, or whose body does not decode is refused with the reason (it is dead-lettered); the
next message is read as if nothing happened.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import fastavro
import orjson

from driftline.stream.shape.registry import SchemaRegistry, SchemaUnavailable

__all__ = ["AvroDecoder", "SchemaRegistry", "SchemaUnavailable", "encode", "load_avsc"]

MAGIC = 0
#: an object's address in an exception's text (fastavro names the stream it read from)
_ADDRESS = re.compile(r" (from|in) <[^>]* at 0x[0-9a-f]+>")


def load_avsc(path: str | Path) -> Any:
    """A local ``.avsc`` schema, parsed; SchemaUnavailable saying why it cannot be."""
    try:
        return fastavro.parse_schema(orjson.loads(Path(path).read_bytes()))
    except OSError as exc:
        raise SchemaUnavailable(f"cannot read the Avro schema {path}: {exc.strerror}") from None
    except (orjson.JSONDecodeError, fastavro.schema.SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise SchemaUnavailable(f"{path} is not a valid Avro schema: {exc}") from None


def _parse(schema: Any, named: dict[str, Any], where: str) -> Any:
    """``schema`` parsed by fastavro, knowing (and adding to) the named types in ``named``;
    SchemaUnavailable naming ``where`` when it is not a valid Avro schema (a type it uses unknown)."""
    try:
        return fastavro.parse_schema(schema, named_schemas=named)
    except fastavro.schema.UnknownType as exc:
        raise SchemaUnavailable(f"{where} uses the type {exc.name}, which neither it nor its references to "
                                "other registered schemas define"[:300]) from None
    except (fastavro.schema.SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise SchemaUnavailable(f"{where} is not a valid Avro schema: {exc}"[:300]) from None


def registered(registry: SchemaRegistry, schema_id: int) -> Any:
    """The registry's Avro schema of ``schema_id``, parsed with the named types of the schemas it
    references; SchemaUnavailable saying why it cannot be had or parsed."""
    schema = registry.schema(schema_id, "AVRO")
    named: dict[str, Any] = {}
    where = registry.where(schema_id)
    for dependency in registry.dependencies(schema_id, "AVRO"):
        what = f"{where}: its reference {dependency.name} (subject {dependency.subject!r}, version " \
               f"{dependency.version})"
        _parse(dependency.schema, named, what)
    return _parse(schema, named, where)


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
                parsed = registered(self.registry, schema_id)
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
