"""``driftline init --topic T | --input FILE [--output PATH]``: a configuration from sample messages.

Samples up to ``--sample`` messages (from the start of a topic, or of a JSONL, CSV, Parquet
or Avro container file), infers the stream's shape (:mod:`driftline.consumers.config.infer`),
and writes a commented configuration, validated before it is written, to ``--output`` (or
standard output). What was inferred, and what to check, goes to standard error.

A topic's messages framed with a schema id (the Confluent wire format: a zero byte, the 4-byte
id, the body) are decoded with the schemas of ``--registry``: the registry's type of the first
message's id says the format (Avro, JSON Schema or Protobuf), and the configuration reads the
topic in it from that registry. Sampled messages that do not decode are left out of the
inference, and said.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from driftline.consumers.cli.output import check_output, write_atomically
from driftline.consumers.config.infer import infer, render, summary
from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError, InputError
from driftline.stream.kafka.clients import make_consumer
from driftline.stream.kafka.reach import find_broker, reader_client
from driftline.stream.kafka.records import partitions_of
from driftline.stream.replay import check_readable
from driftline.stream.shape.avro import AvroDecoder
from driftline.stream.shape.json_schema import JsonSchemaDecoder
from driftline.stream.shape.protobuf import ProtobufDecoder
from driftline.stream.shape.registry import SchemaRegistry, SchemaUnavailable

#: how long the sampling of a topic waits for more messages before it takes what came (seconds)
QUIET_MS = 2000


def cmd_init(args: argparse.Namespace) -> int:
    if args.sample < 10:
        raise InputError(f"--sample {args.sample}: sample at least 10 messages")
    if args.output:
        check_output(args.output, "--output", [args.input] if args.input else [])
    framing = None
    if args.topic:
        docs, framing, _ = _sample_topic(args)
        source, name = f"topic {args.topic!r}", args.topic
        bootstrap_text = args.bootstrap_servers
    else:
        docs, source, name = _sample_file(args.input, args.sample), args.input, Path(args.input).name.split(".")[0]
        bootstrap_text = "embedded"
    inference = infer(docs)
    if not inference.n:
        raise InputError(f"{source}: no message to sample (or none a JSON object)")
    if not inference.features:
        raise InputError(f"{source}: no field of the sampled messages is a number or a short list of texts",
                         hint="driftline watches numeric and categorical fields")
    text = render(inference, source, args.name or _name(name), bootstrap_text, args.topic, framing,
                  more=len(docs) >= args.sample)
    try:
        parse_config(text, filename="(the inferred configuration)")
    except ConfigError as exc:  # a defect of the inference: say so rather than write a broken file
        raise InputError(f"the inferred configuration does not validate: {exc.one_line()}",
                         hint="please report it, with the sample's shape") from None
    for line in summary(inference):
        print(line, file=sys.stderr)
    if args.output:
        write_atomically(args.output, [text.encode()])
        print(f"wrote {args.output}: check the lines marked CHECK, then `driftline validate {args.output}`",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text) or "stream"


def _sample_topic(args: argparse.Namespace) -> tuple[list[dict[str, Any]], tuple[str, dict[str, Any]] | None, str]:
    """The sampled messages as objects, the format of framed ones and its section (``("avro",
    {"registry": ...})``; None for JSON), and the broker's address."""
    bootstrap = find_broker(args.bootstrap_servers, args.embedded_address)
    consumer = make_consumer(bootstrap, group_id=None, client=reader_client(None), client_id="driftline-init")
    values: list[bytes] = []
    try:
        parts = partitions_of(consumer, args.topic)
        if not parts:
            raise InputError(f"the topic {args.topic!r} does not exist on {bootstrap}",
                             hint="check --topic and --bootstrap-servers")
        consumer.assign(parts)
        consumer.seek_to_beginning()
        while len(values) < args.sample:
            polled = consumer.poll(timeout_ms=QUIET_MS, max_records=args.sample - len(values))
            if not polled:
                break
            values += [m.value for msgs in polled.values() for m in msgs if m.value is not None]
    finally:
        consumer.close()
    if values and all(v[:1] == b"\0" and len(v) > 5 for v in values[:50]):
        return (*_framed(args, values), bootstrap)
    return _json_objects(values), None, bootstrap


#: the formats ``init`` reads framed messages in, by the registry's schema type
_FORMATS = {"AVRO": ("avro", AvroDecoder), "JSON": ("json_schema", JsonSchemaDecoder),
            "PROTOBUF": ("protobuf", ProtobufDecoder)}


def _framed(args: argparse.Namespace, values: list[bytes]) -> tuple[list[dict[str, Any]], tuple[str, dict[str, Any]]]:
    """Messages framed with a schema id, decoded with the schemas of ``--registry``."""
    if not args.registry:
        what = "JSON Schema" if _json_objects([values[0][5:]]) else "Avro or Protobuf"
        raise InputError(f"the topic {args.topic!r} holds {what} messages (Confluent wire format: each framed with "
                         "a schema id)",
                         hint="give --registry URL (a Schema Registry), or write the configuration by hand with "
                              "stream.avro.schemas, stream.json_schema.schemas or stream.protobuf.schemas")
    registry = SchemaRegistry(args.registry)
    first = int.from_bytes(values[0][1:5], "big")
    try:
        kind = registry.kind(first)
    except SchemaUnavailable as exc:
        raise InputError(f"the first message of topic {args.topic!r}: {exc}", hint="check --registry") from None
    if kind not in _FORMATS:
        raise InputError(f"the first message of topic {args.topic!r} has schema id {first}, a {kind} schema in the "
                         f"registry at {registry.url}: driftline init reads Avro, JSON Schema and Protobuf topics",
                         hint="write the configuration by hand")
    fmt, decoder_class = _FORMATS[kind]
    decoder = decoder_class(registry)
    docs: list[dict[str, Any]] = []
    refused: list[str] = []
    for value in values:
        doc, why = decoder.decode(value)
        if doc is None:
            refused.append(why)
        else:
            docs.append(doc)
    if refused and not docs:
        raise InputError(f"no sampled message of topic {args.topic!r} decodes as {kind} (the first: {refused[0]})",
                         hint="check --registry and the topic")
    if refused:
        print(f"left out {len(refused)} of {len(values)} sampled messages that do not decode as {kind} (the "
              f"first: {refused[0]}); they will be dead-lettered", file=sys.stderr)
    return [orjson.loads(orjson.dumps(d, default=str)) for d in docs], (fmt, {"registry": {"url": args.registry}})


def _json_objects(values: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for value in values:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _sample_file(path: str, n: int) -> list[dict[str, Any]]:
    kind = check_readable(path)
    if kind == "jsonl":
        lines = []
        with open(path, "rb") as fh:
            for line in fh:
                lines.append(line)
                if len(lines) >= n:
                    break
        return _json_objects(lines)
    if kind == "avro":
        import fastavro

        with open(path, "rb") as fh:
            records = [r for _, r in zip(range(n), fastavro.reader(fh))]
        return [orjson.loads(orjson.dumps(r, default=str)) for r in records]
    import pandas as pd

    frame = pd.read_csv(path, nrows=n) if kind == "csv" else pd.read_parquet(path).head(n)
    return orjson.loads(frame.to_json(orient="records", date_format="iso"))



