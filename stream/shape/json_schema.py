"""JSON Schema messages in the Confluent wire format, validated with ``jsonschema``.

A message is a zero byte, the writer schema's id (4 bytes, big-endian) and a UTF-8 JSON body.
The schema comes from a Confluent Schema Registry (``GET /schemas/ids/{id}``, ``schemaType``
JSON; the client Avro uses, fetched once per id and cached) or from local schema files given by
id. The body must be a JSON object that the schema accepts; then it is read like any JSON event
(the stream's field mapping). A message that is not in the wire format, whose schema cannot be
had, that is not JSON, or that the schema refuses is refused with the reason (it is
dead-lettered); the next message is read as if nothing happened.

The schema's draft is the one its ``$schema`` names (Draft 2020-12 without one). ``$ref`` to
places inside the schema are followed, and so are ``$ref`` to other registered schemas (the
registry's ``references``, followed recursively by :meth:`.SchemaRegistry.dependencies`): each
referenced schema is known by its reference's ``name`` (the URL its ``$ref`` gives, resolved
against the schema's ``$id`` when it has one) and by its own ``$id``. A ``$ref`` to a schema that
is neither inside the schema nor among its references is not fetched: a message whose validation
needs one is refused, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import orjson

from driftline.stream.shape.registry import Dependency, SchemaRegistry, SchemaUnavailable

__all__ = ["JsonSchemaDecoder", "encode", "load_schema_file", "validator_for"]

MAGIC = 0
#: at most this much of a refusal's reason (the value that failed is quoted in it)
MAX_REASON = 300


def validator_for(schema: Any, where: str, dependencies: Sequence[Dependency] = ()) -> Any:
    """A ``jsonschema`` validator of ``schema`` (its draft by ``$schema``) whose ``$ref`` can reach
    the registered schemas in ``dependencies``; SchemaUnavailable when ``schema`` or one of them is
    not a valid JSON Schema."""
    cls = _checked(schema, where)
    if not dependencies:
        return cls(schema)
    base = schema.get("$id", "") if isinstance(schema, dict) else ""
    resources = []
    for dependency in dependencies:
        what = f"{where}: its reference {dependency.name} (subject {dependency.subject!r}, version " \
               f"{dependency.version})"
        resources.extend(_resources(dependency, base if isinstance(base, str) else "", what))
    import referencing

    return cls(schema, registry=referencing.Registry().with_resources(resources))


def _checked(schema: Any, where: str) -> Any:
    """The validator class of ``schema`` (its draft by ``$schema``); SchemaUnavailable when it is
    not a valid JSON Schema."""
    import jsonschema  # imported with the first JSON Schema: other streams never need it

    if not isinstance(schema, dict | bool):
        raise SchemaUnavailable(f"{where} is not a JSON Schema (an object or a boolean), but {type(schema).__name__}")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaUnavailable(f"{where} is not a valid JSON Schema: {exc.message}"[:MAX_REASON]) from None
    return cls


def _resources(dependency: Dependency, base: str, where: str) -> list[tuple[str, Any]]:
    """A referenced schema as ``referencing`` resources, by every URI a ``$ref`` may reach it at:
    its reference's name, that name resolved against ``base`` (the referring schema's ``$id``),
    and its own ``$id``."""
    import referencing
    from referencing.exceptions import CannotDetermineSpecification
    from referencing.jsonschema import DRAFT202012, UnknownDialect

    _checked(dependency.schema, where)
    try:
        resource = referencing.Resource.from_contents(dependency.schema, default_specification=DRAFT202012)
    except (CannotDetermineSpecification, UnknownDialect) as exc:
        raise SchemaUnavailable(f"{where}: its $schema is a draft driftline does not know: {exc}"[:MAX_REASON]) \
            from None
    uris = {dependency.name, urljoin(base, dependency.name) if base else dependency.name}
    own = dependency.schema.get("$id") if isinstance(dependency.schema, dict) else None
    if isinstance(own, str):
        uris.add(own)
    return [(uri, resource) for uri in sorted(uris)]


def load_schema_file(path: str | Path) -> Any:
    """A local JSON Schema file's validator; SchemaUnavailable saying why it cannot be had."""
    try:
        schema = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise SchemaUnavailable(f"cannot read the JSON Schema {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise SchemaUnavailable(f"{path} is not JSON: {exc}") from None
    return validator_for(schema, str(path))


class JsonSchemaDecoder:
    """Confluent wire-format JSON Schema messages to objects (dicts), or why not."""

    def __init__(self, registry: SchemaRegistry | None = None, schema_files: dict[int, str] | None = None):
        self.registry = registry
        self.schema_files = dict(schema_files or {})
        self._validators: dict[int, Any] = {}

    def validator(self, schema_id: int) -> Any:
        """The validator of ``schema_id`` (made once); SchemaUnavailable saying why it cannot be had."""
        if schema_id not in self._validators:
            if schema_id in self.schema_files:
                validator = load_schema_file(self.schema_files[schema_id])
            elif self.registry is not None:
                where = self.registry.where(schema_id)
                schema = self.registry.schema(schema_id, "JSON")
                validator = validator_for(schema, where, self.registry.dependencies(schema_id, "JSON"))
            else:
                known = ", ".join(map(str, sorted(self.schema_files))) or "none"
                raise SchemaUnavailable(f"schema id {schema_id} is not among stream.json_schema.schemas (ids {known})")
            self._validators[schema_id] = validator
        return self._validators[schema_id]

    def decode(self, raw: bytes) -> tuple[dict[str, Any] | None, str]:
        """The message's JSON object, validated by its schema; or None and the reason."""
        if len(raw) < 5 or raw[0] != MAGIC:
            first = f"0x{raw[0]:02x}" if raw else "none"
            return None, ("not JSON Schema in the Confluent wire format (a zero byte, a 4-byte schema id, the JSON "
                          f"body): {len(raw)} bytes, the first {first}")
        schema_id = int.from_bytes(raw[1:5], "big")
        try:
            validator = self.validator(schema_id)
        except SchemaUnavailable as exc:
            return None, str(exc)
        try:
            doc = orjson.loads(raw[5:])
        except orjson.JSONDecodeError as exc:
            return None, f"the body of schema id {schema_id} is not valid JSON: {getattr(exc, 'msg', exc)}"
        if not isinstance(doc, dict):
            return None, f"the body of schema id {schema_id} is not a JSON object but {type(doc).__name__}"
        objection = _objection(validator, doc, schema_id)
        if objection is not None:
            return None, objection[:MAX_REASON]
        return doc, ""


def _objection(validator: Any, doc: dict[str, Any], schema_id: int) -> str | None:
    """The most relevant of the schema's objections to ``doc``, with where it is; None if none."""
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    try:
        error = best_match(validator.iter_errors(doc))
    except Unresolvable as exc:  # a $ref to a schema neither inside this one nor among its references
        return (f"schema id {schema_id} refers to a schema driftline cannot resolve (neither inside it nor among its "
                f"references to other registered schemas): {exc}")
    if error is None:
        return None
    where = ".".join(map(str, error.absolute_path))
    message = f"{error.message} (at {where})" if where else error.message
    return f"the body does not match schema id {schema_id}: {message}"


def encode(schema_id: int, doc: dict[str, Any]) -> bytes:
    """A JSON object in the Confluent wire format (for producers, tests and the demo)."""
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big") + orjson.dumps(doc)
