"""Protobuf messages in the Confluent wire format, compiled at run time from their ``.proto`` text.

A message is a zero byte, the writer schema's id (4 bytes, big-endian), the message indexes (a
zigzag-varint count, then that many zigzag-varint indexes; a single zero byte means ``[0]``, the
schema's first message) and the Protobuf payload. The indexes pick the message type: the first
among the schema's top-level messages, each next among the nested messages of the one before.
The schema comes from a Confluent Schema Registry (``schemaType`` PROTOBUF, the ``.proto`` text;
the client Avro uses, fetched once per id and cached) or from local ``.proto`` files by id.

A schema is compiled by ``protoc`` as :mod:`grpc_tools` ships it (the package ``grpcio-tools``),
run once per schema id, into a descriptor set that the ``protobuf`` runtime turns into message
classes. protoc, rather than a pure-Python ``.proto`` parser (``proto-schema-parser``), because it
is the reference compiler: the whole language (proto2, proto3 and editions, imports, options,
maps, oneofs, nested and well-known types) with its own error messages, giving the descriptors
the runtime takes as they are; a parser's syntax tree would still need a hand-written
translation into descriptors (name scopes, map entries, field presence), the part most easily
got wrong. The well-known types (``google/protobuf/timestamp.proto``, ...) are importable. A
registered schema's imports of other registered schemas (the registry's ``references``, followed
recursively by :meth:`.SchemaRegistry.dependencies`) are written into the compile's include
directory under their reference's ``name``, the import path (``other/common.proto``), and
compiled with it; a name that would leave that directory (absolute, or with ``..``) is refused.
A local ``.proto`` file imports from its own directory. An import that is none of these is
refused, saying so.

A payload becomes an object of the fields by their ``.proto`` names, as JSON would hold them:
nested messages as objects (addressed by dotted paths, as for JSON and Avro), an enum as its
value's name, a repeated field as a list, a map as an object, bytes as base64 text, a
``google.protobuf.Timestamp`` as ISO-8601 text and a wrapper (``DoubleValue``, ...) as its value.
A field that tracks presence (a message, ``optional``, proto2, a oneof's) and is not set is
``null``, a missing value; a proto3 scalar without presence reads as its default (0, ""), as
Protobuf has it. A message that is not in the wire format, whose schema cannot be had or is
not Protobuf, whose indexes name no message of it, or whose payload does not decode is refused
with the reason (it is dead-lettered); the next message is read as if nothing happened.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from driftline.stream.shape.registry import SchemaRegistry, SchemaUnavailable

__all__ = ["Compiled", "ProtobufDecoder", "compile_proto", "encode", "load_proto"]

MAGIC = 0
#: at most this much of a refusal's reason
MAX_REASON = 300
#: at most this many message indexes (nesting levels) are read
MAX_INDEXES = 32
#: how long protoc may take to compile one schema (seconds)
COMPILE_SECONDS = 60.0
#: the name a registry's schema text is compiled under
_REGISTERED = "registered.proto"
_WRAPPERS = {f"google.protobuf.{t}Value" for t in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool",
                                                  "String", "Bytes")}


class Compiled:
    """One compiled schema: its file's message types, by the wire format's message indexes."""

    def __init__(self, file: Any, where: str):
        from google.protobuf import message_factory

        self.where = where
        self.file = file
        self._classes: dict[tuple[int, ...], Any] = {}
        self._factory = message_factory.GetMessageClass

    def message_class(self, indexes: tuple[int, ...]) -> tuple[Any, str]:
        """The message class the indexes name, or None and why."""
        if indexes in self._classes:
            return self._classes[indexes], ""
        types = list(self.file.message_types_by_name.values())
        descriptor = None
        for depth, index in enumerate(indexes):
            if not 0 <= index < len(types):
                inside = f"message {descriptor.full_name}" if descriptor is not None else "the schema"
                kind = "top-level" if depth == 0 else "nested"
                return None, (f"message index {list(indexes)} is out of range: {inside} has {len(types)} {kind} "
                              f"message type{'' if len(types) == 1 else 's'} ({self.where})")
            descriptor = types[index]
            types = list(descriptor.nested_types)
        if descriptor is None:
            return None, f"no message index ({self.where})"
        self._classes[indexes] = cls = self._factory(descriptor)
        return cls, ""


def _include_dirs() -> list[str]:
    import grpc_tools

    return [str(Path(grpc_tools.__file__).parent / "_proto")]


def compile_proto(path: Path, include: Path, where: str, shown: str | None = None) -> Compiled:
    """The schema in ``path`` (importing from ``include`` and the well-known types), compiled by
    protoc; SchemaUnavailable with protoc's objection otherwise (where in ``path`` it is, after ``shown``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    shown = shown or f"{path.name}:"

    with tempfile.TemporaryDirectory(prefix="driftline-proto-") as tmp:
        out = Path(tmp) / "set.pb"
        command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", *(f"-I{d}" for d in _include_dirs()),
                   "--include_imports", f"--descriptor_set_out={out}", str(path)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchemaUnavailable(f"{where}: protoc could not be run: {exc}"[:MAX_REASON]) from None
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout or f"exit code {done.returncode}").split())
            missing = re.findall(r'Import "([^"]+)" was not found', said)
            if missing:
                raise SchemaUnavailable(f"{where} imports {', '.join(missing)}, which driftline cannot resolve: it "
                                        "is none of the schema's references to other registered schemas, a local "
                                        "file's neighbours or Google's well-known types"[:MAX_REASON]) from None
            said = said.replace(f"{include}/", "").replace(f"{path.name}:", shown)
            raise SchemaUnavailable(f"{where} is not a valid Protobuf schema: {said}"[:MAX_REASON]) from None
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for proto in files:
        pool.Add(proto)
    return Compiled(pool.FindFileByName(files[-1].name), where)


def load_proto(path: str | Path) -> Compiled:
    """A local ``.proto`` schema (importing from its own directory), compiled; SchemaUnavailable saying why not."""
    path = Path(path)
    try:
        path.read_bytes()
    except OSError as exc:
        raise SchemaUnavailable(f"cannot read the Protobuf schema {path}: {exc.strerror}") from None
    include = path.resolve().parent
    return compile_proto(include / path.name, include, str(path))


def compile_text(text: str, where: str, imports: Mapping[str, str] | None = None) -> Compiled:
    """A schema's ``.proto`` text (from a registry), compiled with ``imports`` (the ``.proto``
    text of each referenced schema by its import path) importable; SchemaUnavailable saying why
    not, also when an import path would leave the include directory."""
    with tempfile.TemporaryDirectory(prefix="driftline-proto-") as tmp:
        include = Path(tmp)
        for name, imported in (imports or {}).items():
            _write_import(include, name, imported, where)
        (include / _REGISTERED).write_text(text, encoding="utf-8")
        return compile_proto(include / _REGISTERED, include, where, shown="line ")


def _write_import(include: Path, name: str, text: str, where: str) -> None:
    """``text`` written to ``include`` / ``name``; SchemaUnavailable when ``name`` is not a
    relative path inside ``include`` (absolute, with ``..``, a backslash or a drive) or cannot be written."""
    path = PurePosixPath(name)
    if (not name or "\\" in name or "\0" in name or ":" in path.parts[0] or path.is_absolute()
            or any(part in ("..", ".") for part in path.parts) or name == _REGISTERED):
        raise SchemaUnavailable(f"{where}: the reference name {name!r} is refused: a reference's name is the "
                                "relative import path of a .proto file, inside the schema's directory"[:MAX_REASON])
    target = include.joinpath(*path.parts)
    if not target.resolve().is_relative_to(include.resolve()):
        raise SchemaUnavailable(f"{where}: the reference name {name!r} leaves the schema's directory"[:MAX_REASON])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SchemaUnavailable(f"{where}: the referenced schema {name!r} cannot be written for protoc: "
                                f"{exc.strerror}"[:MAX_REASON]) from None


class ProtobufDecoder:
    """Confluent wire-format Protobuf messages to objects (dicts), or why not."""

    def __init__(self, registry: SchemaRegistry | None = None, schema_files: dict[int, str] | None = None):
        self.registry = registry
        self.schema_files = dict(schema_files or {})
        self._compiled: dict[int, Compiled] = {}
        #: the schemas that do not compile, and why (their text does not change: not compiled again)
        self._refused: dict[int, str] = {}
        self._lock = threading.Lock()

    def compiled(self, schema_id: int) -> Compiled:
        """The compiled schema of ``schema_id`` (compiled once); SchemaUnavailable saying why it cannot be had."""
        with self._lock:
            if schema_id in self._refused:
                raise SchemaUnavailable(self._refused[schema_id])
            if schema_id not in self._compiled:
                if schema_id in self.schema_files:
                    text, where, imports = None, "", {}
                elif self.registry is not None:  # fetched (or refused) as the registry client caches it
                    text = self.registry.schema(schema_id, "PROTOBUF")
                    imports = {d.name: d.schema for d in self.registry.dependencies(schema_id, "PROTOBUF")}
                    where = self.registry.where(schema_id)
                else:
                    known = ", ".join(map(str, sorted(self.schema_files))) or "none"
                    raise SchemaUnavailable(f"schema id {schema_id} is not among stream.protobuf.schemas (ids {known})")
                try:
                    compiled = load_proto(self.schema_files[schema_id]) if text is None else \
                        compile_text(text, where, imports)
                except SchemaUnavailable as exc:
                    self._refused[schema_id] = str(exc)
                    raise
                self._compiled[schema_id] = compiled
            return self._compiled[schema_id]

    def decode(self, raw: bytes) -> tuple[dict[str, Any] | None, str]:
        """The message's payload as an object, or None and the reason."""
        from google.protobuf.message import DecodeError

        if len(raw) < 6 or raw[0] != MAGIC:
            first = f"0x{raw[0]:02x}" if raw else "none"
            return None, ("not Protobuf in the Confluent wire format (a zero byte, a 4-byte schema id, the message "
                          f"indexes, the payload): {len(raw)} bytes, the first {first}")
        schema_id = int.from_bytes(raw[1:5], "big")
        indexes, start, why = message_indexes(raw, 5)
        if indexes is None:
            return None, f"the message indexes of schema id {schema_id} do not read: {why}"
        try:
            compiled = self.compiled(schema_id)
        except SchemaUnavailable as exc:
            return None, str(exc)[:MAX_REASON]
        cls, why = compiled.message_class(indexes)
        if cls is None:
            return None, why[:MAX_REASON]
        message = cls()
        try:
            message.ParseFromString(raw[start:])
        except (DecodeError, ValueError, RuntimeError) as exc:
            return None, (f"the payload does not decode as {cls.DESCRIPTOR.full_name} of schema id {schema_id}: "
                          f"{exc}")[:MAX_REASON]
        if not message.IsInitialized():  # proto2's required fields
            missing = ", ".join(message.FindInitializationErrors())
            return None, (f"the payload does not decode as {cls.DESCRIPTOR.full_name} of schema id {schema_id}: "
                          f"required fields not set: {missing}")[:MAX_REASON]
        return as_object(message), ""


def message_indexes(raw: bytes, at: int) -> tuple[tuple[int, ...] | None, int, str]:
    """The message indexes from ``at``, where the payload starts, and why not ("" if they read)."""
    count, at = _zigzag(raw, at)
    if count is None:
        return None, at, "the bytes end inside them"
    if count == 0:
        return (0,), at, ""
    if not 0 < count <= MAX_INDEXES:
        return None, at, f"a count of {count} (at most {MAX_INDEXES})"
    out = []
    for _ in range(count):
        index, at = _zigzag(raw, at)
        if index is None:
            return None, at, "the bytes end inside them"
        out.append(index)
    return tuple(out), at, ""


def _zigzag(raw: bytes, at: int) -> tuple[int | None, int]:
    """A zigzag varint from ``at`` and where the next starts; None when the bytes end first."""
    value = shift = 0
    while at < len(raw) and shift < 64:
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), at
        shift += 7
    return None, at


def _zigzag_bytes(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def as_object(message: Any) -> dict[str, Any]:
    """A message's fields by name, as JSON would hold them (see the module's docstring)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            out[field.name] = None
            continue
        value = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {str(k): _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _value(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            moment = datetime.fromtimestamp(value.seconds, tz=UTC).replace(microsecond=value.nanos // 1000)
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if name in _WRAPPERS:
            return _value(field.message_type.fields_by_name["value"], value.value)
        return as_object(value)
    if field.enum_type is not None:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def encode(schema_id: int, message: Any, indexes: tuple[int, ...] = (0,)) -> bytes:
    """A message in the Confluent wire format (for producers, tests and the demo)."""
    head = b"\0" if indexes == (0,) else _zigzag_bytes(len(indexes)) + b"".join(map(_zigzag_bytes, indexes))
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big") + head + message.SerializeToString()
