"""The part of a Confluent Schema Registry's REST API driftline needs: a writer schema by its id,
and the registered schemas it references.

``GET /schemas/ids/{id}`` answers ``{"schema": "<text>", "schemaType": "AVRO" | "JSON" |
"PROTOBUF", "references": [{"name", "subject", "version"}, ...]}`` (no type: Avro; no
references: none). A reference names another registered schema by its subject and version,
fetched by ``GET /subjects/{subject}/versions/{version}`` (answering ``schema``,
``schemaType``, ``references``, ``id``, ``subject``, ``version``); its ``name`` is how the
referring schema names it (a Protobuf import path, an Avro type's full name). References are
followed recursively, each subject-version fetched once, within :data:`MAX_REFERENCE_DEPTH`
and :data:`MAX_REFERENCES`; a cycle is refused. Each id and each subject-version is fetched
once and cached; one that could not be had is not asked again for :data:`RETRY_SECONDS` (its
messages are refused meanwhile, instead of each waiting for a timeout). Avro (:mod:`.avro`),
JSON Schema (:mod:`.json_schema`) and Protobuf (:mod:`.protobuf`) messages share this client.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from driftline.stream.errors import DriftlineError

#: how long a registry that did not answer is not asked again (seconds): its messages are
#: refused meanwhile instead of each waiting for a timeout
RETRY_SECONDS = 5.0
#: at most this many references deep (a reference of a reference of ...) a schema may reach
MAX_REFERENCE_DEPTH = 16
#: at most this many distinct registered schemas a schema may reference, directly or not
MAX_REFERENCES = 100
#: the schema types driftline reads, and what a message of another type is told
_READERS = {"AVRO": "format avro reads Avro schemas only", "JSON": "format json_schema reads JSON Schemas only",
            "PROTOBUF": "format protobuf reads Protobuf schemas only"}
#: the schema types whose text is JSON (a Protobuf schema is ``.proto`` text)
_JSON_TEXT = ("AVRO", "JSON")
#: what the registry's error codes of a 404 mean
_NOT_FOUND = {40401: "subject not found", 40402: "version not found", 40403: "schema not found"}


class SchemaUnavailable(DriftlineError, LookupError):
    """A writer schema could not be had (unknown id, registry unreachable, unreadable file)."""

    hint = ("check stream.avro, stream.json_schema or stream.protobuf (the registry's url and credentials, or the "
            "schema files by schema id)")


@dataclass(frozen=True)
class Reference:
    """One entry of a schema's ``references``: the registered schema ``subject`` at ``version``,
    named ``name`` by the schema that refers to it."""

    name: str
    subject: str
    version: int | str

    def __str__(self) -> str:
        return f"{self.name} (subject {self.subject!r}, version {self.version})"


@dataclass(frozen=True)
class Registered:
    """One registered schema as the registry answered it: its type, its schema (parsed JSON for
    ``AVRO`` and ``JSON``, the ``.proto`` text for ``PROTOBUF``, None for a type driftline does
    not read) and its references, in the registry's order."""

    kind: str
    schema: Any
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Dependency:
    """A registered schema another one references, directly or not: the ``name`` it is referred
    to by, where it is registered, and its schema (as :class:`Registered` holds it)."""

    name: str
    subject: str
    version: int | str
    schema: Any


class SchemaRegistry:
    """The part of the Schema Registry REST API driftline needs: a schema by its id and the
    schemas it references, cached."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 timeout_seconds: float = 5.0):
        self.url = url.rstrip("/")
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self.timeout = timeout_seconds
        self._cache: dict[int | tuple[str, str], Registered] = {}
        self._failed: dict[int | tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def where(self, schema_id: int) -> str:
        """How errors name ``schema_id`` of this registry."""
        return f"schema id {schema_id} from the registry at {self.url}"

    def schema(self, schema_id: int, schema_type: str = "AVRO") -> Any:
        """The writer schema of ``schema_id``: parsed from its JSON text (``AVRO``, ``JSON``), or
        the ``.proto`` text (``PROTOBUF``); SchemaUnavailable saying why otherwise, also when the
        registry holds it as another type than ``schema_type``."""
        found = self._by_id(schema_id)
        _check_kind(found.kind, schema_type, self.where(schema_id))
        return found.schema

    def kind(self, schema_id: int) -> str:
        """The registry's type of ``schema_id`` (``AVRO``, ``JSON``, ``PROTOBUF``, ...);
        SchemaUnavailable when it cannot be had."""
        return self._by_id(schema_id).kind

    def dependencies(self, schema_id: int, schema_type: str) -> list[Dependency]:
        """Every registered schema ``schema_id`` references, directly or through another
        reference, each once and each after the schemas it references itself (none: an empty
        list). SchemaUnavailable naming the reference when one cannot be had, is not of
        ``schema_type``, when the references form a cycle, reach deeper than
        :data:`MAX_REFERENCE_DEPTH`, number more than :data:`MAX_REFERENCES`, or when two of
        them share a name but not their subject and version."""
        where = self.where(schema_id)
        root = self._by_id(schema_id)
        _check_kind(root.kind, schema_type, where)
        out: dict[tuple[str, str], Dependency] = {}
        names: dict[str, Reference] = {}
        for reference in root.references:
            self._follow(reference, schema_type, where, (), out, names)
        return list(out.values())

    def _follow(self, reference: Reference, schema_type: str, where: str, path: tuple[Reference, ...],
                out: dict[tuple[str, str], Dependency], names: dict[str, Reference]) -> None:
        """Adds ``reference`` and (first) its own references to ``out``, depth first."""
        key = (reference.subject, str(reference.version))
        chain = " -> ".join(map(str, (*path, reference)))
        if any((r.subject, str(r.version)) == key for r in path):
            raise SchemaUnavailable(f"{where}: its references form a cycle: {chain}")
        if len(path) >= MAX_REFERENCE_DEPTH:
            raise SchemaUnavailable(f"{where}: its references reach deeper than {MAX_REFERENCE_DEPTH}: {chain}")
        known = names.setdefault(reference.name, reference)
        if (known.subject, str(known.version)) != key:
            raise SchemaUnavailable(f"{where}: two references are named {reference.name!r}: {known} and {reference}")
        if key in out:
            return
        if len(out) + len(path) >= MAX_REFERENCES:  # those on the path are not in out yet
            raise SchemaUnavailable(f"{where}: it references more than {MAX_REFERENCES} registered schemas")
        try:
            found = self._by_version(reference)
        except SchemaUnavailable as exc:
            raise SchemaUnavailable(f"{where}: its reference {chain} cannot be had: {exc}") from None
        _check_kind(found.kind, schema_type, f"{where}: its reference {chain}")
        for inner in found.references:
            self._follow(inner, schema_type, where, (*path, reference), out, names)
        out[key] = Dependency(reference.name, reference.subject, reference.version, found.schema)

    def _by_id(self, schema_id: int) -> Registered:
        where = self.where(schema_id)
        return self._cached(schema_id, f"/schemas/ids/{schema_id}", where)

    def _by_version(self, reference: Reference) -> Registered:
        subject = urllib.parse.quote(reference.subject, safe="")
        version = urllib.parse.quote(str(reference.version), safe="")
        where = f"subject {reference.subject!r} version {reference.version}"
        return self._cached((reference.subject, str(reference.version)),
                            f"/subjects/{subject}/versions/{version}", where)

    def _cached(self, key: int | tuple[str, str], path: str, where: str) -> Registered:
        """The registered schema at ``path``, fetched once; a failure is remembered for
        :data:`RETRY_SECONDS` and said again meanwhile."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            failed = self._failed.get(key)
            if failed is not None and time.monotonic() < failed[0]:
                raise SchemaUnavailable(failed[1])
            try:
                found = self._fetch(path, where)
            except SchemaUnavailable as exc:
                self._failed[key] = (time.monotonic() + RETRY_SECONDS, str(exc))
                raise
            self._cache[key] = found
            return found

    def _fetch(self, path: str, where: str) -> Registered:
        body = self._get(path, where)
        if not isinstance(body, dict):
            raise SchemaUnavailable(f"{where}: the answer holds no schema")
        kind = str(body.get("schemaType") or "AVRO")
        references = _references(body.get("references"), where)
        if kind not in _READERS:  # a type driftline does not read: refused by _check_kind
            return Registered(kind, None, references)
        try:
            schema = orjson.loads(body["schema"]) if kind in _JSON_TEXT else str(body["schema"])
        except (KeyError, TypeError, orjson.JSONDecodeError):
            raise SchemaUnavailable(f"{where}: the answer holds no schema") from None
        return Registered(kind, schema, references)

    def _get(self, path: str, where: str) -> Any:
        """The registry's JSON answer to ``GET path``; SchemaUnavailable saying why not."""
        request = urllib.request.Request(f"{self.url}{path}",
                                         headers={"Accept": "application/vnd.schemaregistry.v1+json"})
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            what = f"unknown to it ({_not_found(exc)})" if exc.code == 404 else f"HTTP {exc.code}"
            raise SchemaUnavailable(f"cannot fetch {where}: {what}") from None
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise SchemaUnavailable(f"cannot fetch {where}: {getattr(exc, 'reason', exc)}") from None


def _check_kind(kind: str, schema_type: str, where: str) -> None:
    """SchemaUnavailable when a schema of the registry's type ``kind`` is not of ``schema_type``."""
    if kind != schema_type:
        why = _READERS[schema_type] if kind in _READERS else \
            f"driftline reads Avro, JSON Schema and Protobuf, not {kind}"
        raise SchemaUnavailable(f"{where} is a {kind} schema: {why}")


def _references(raw: Any, where: str) -> tuple[Reference, ...]:
    """The ``references`` of an answer (absent or null: none); SchemaUnavailable when malformed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SchemaUnavailable(f"{where}: the answer's references are not a list")
    out = []
    for entry in raw:
        try:
            name, subject, version = entry["name"], entry["subject"], entry["version"]
        except (KeyError, TypeError):
            raise SchemaUnavailable(f"{where}: a reference lacks its name, subject or version: {entry!r}"[:300]) \
                from None
        if not (isinstance(name, str) and isinstance(subject, str) and isinstance(version, int | str)) \
                or isinstance(version, bool):
            raise SchemaUnavailable(f"{where}: a reference is malformed: {entry!r}"[:300])
        out.append(Reference(name, subject, version))
    return tuple(out)


def _not_found(exc: urllib.error.HTTPError) -> str:
    """What a 404 of the registry says is missing (its error code), "not found" without one."""
    try:
        code = orjson.loads(exc.read()).get("error_code")
    except Exception:  # an answer without a readable body: only its status is known
        return "not found"
    return _NOT_FOUND.get(code, "not found")
