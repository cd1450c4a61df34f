"""``driftline init --topic T | --input FILE [--output PATH]``: a configuration from sample messages.

Samples up to ``--sample`` messages (from the start of a topic, or of a JSONL, CSV, Parquet
or Avro container file), infers the stream's shape (:mod:`driftline.consumers.config.infer`),
and writes a commented configuration, validated before it is written, to ``--output`` (or
standard output). What was inferred, and what to check, goes to standard error.
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
from driftline.stream.shape.avro import AvroDecoder, SchemaRegistry

#: how long the sampling of a topic waits for more messages before it takes what came (seconds)
QUIET_MS = 2000


def cmd_init(args: argparse.Namespace) -> int:
    if args.sample < 10:
        raise InputError(f"--sample {args.sample}: sample at least 10 messages")
    if args.output:
        check_output(args.output, "--output", [args.input] if args.input else [])
    avro = None
    if args.topic:
        docs, avro, _ = _sample_topic(args)
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
    text = render(inference, source, args.name or _name(name), bootstrap_text, args.topic, avro,
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


def _sample_topic(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
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
    avro = None
    if values and all(v[:1] == b"\0" and len(v) > 5 for v in values[:50]):
        if not args.registry:
            raise InputError(f"the topic {args.topic!r} holds Avro messages (Confluent wire format)",
                             hint="give --registry URL (a Schema Registry), or write the configuration by hand with "
                                  "stream.avro.schemas")
        decoder = AvroDecoder(SchemaRegistry(args.registry))
        avro = {"registry": {"url": args.registry}}
        docs = [d for d, _ in map(decoder.decode, values) if d is not None]
        return [orjson.loads(orjson.dumps(d, default=str)) for d in docs], avro, bootstrap
    return _json_objects(values), avro, bootstrap


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



