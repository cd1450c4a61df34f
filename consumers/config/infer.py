"""``driftline init``'s guesswork: a stream's shape inferred from sample messages, as a configuration.

Every leaf of the sample's objects is a candidate field, named by its dotted path. Numbers are
numeric features and short-listed texts categorical ones; an id is a field unique in the sample
(its name helping: ``id``, ``*_id``, ``uuid``, ``key``); an event time a field of epoch
milliseconds or seconds in a plausible range, or ISO-8601 text; a label and a prediction are
found by their names (``label``, ``target``, ``outcome``; ``prediction``, ``decision``, ...)
and typed by their values. Nothing here is certain: :func:`render` writes the guesses as a
commented YAML configuration, and :class:`Inference` keeps what the user should check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: a text field with at most this many distinct values (and under half the sample) is categorical
MAX_LEVELS = 50
#: epoch ranges taken for an event time: 2000-01-01 to 2100-01-01, in ms and in s
MS_RANGE = (946_684_800_000, 4_102_444_800_000)
S_RANGE = (MS_RANGE[0] / 1000, MS_RANGE[1] / 1000)
_ID_NAME = re.compile(r"(^|[._-])(id|uuid|guid|key|event_?id|request_?id)$", re.IGNORECASE)
_TS_NAME = re.compile(r"(^|[._-])(ts|time|timestamp|event_?time|created(_at)?|sent(_at)?|date(time)?)$", re.IGNORECASE)
_LABEL_NAME = re.compile(r"(^|[._-])(label|target|y|outcome|ground_?truth|actual|class|is_fraud|churn(ed)?|"
                         r"default(ed)?)$", re.IGNORECASE)
_PREDICTION_NAME = re.compile(r"(^|[._-])(prediction|predicted|pred|decision|y_?hat)$", re.IGNORECASE)


@dataclass
class Column:
    """What the sample holds at one path."""

    path: str
    values: list[Any] = field(default_factory=list)

    @property
    def present(self) -> list[Any]:
        return [v for v in self.values if v is not None]

    def kinds(self) -> set[str]:
        return {_kind(v) for v in self.present}


@dataclass
class Inference:
    """The guessed shape, and what the user should check about it."""

    n: int
    id_field: str | None = None
    timestamp_field: str | None = None
    timestamp_unit: str = "ms"
    features: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, path)
    label: tuple[str, str] | None = None  # (path, type)
    prediction: tuple[str, str] | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why
    notes: list[str] = field(default_factory=list)


def columns(docs: Iterable[dict[str, Any]]) -> tuple[dict[str, Column], int]:
    """Every leaf path of the documents with its values (None where a document lacks it)."""
    cols: dict[str, Column] = {}
    n = 0
    for doc in docs:
        seen: set[str] = set()
        for path, value in _leaves(doc, ""):
            col = cols.get(path)
            if col is None:
                col = cols[path] = Column(path, [None] * n)
            col.values.append(value)
            seen.add(path)
        for path, col in cols.items():
            if path not in seen:
                col.values.append(None)
        n += 1
    return cols, n


def _leaves(doc: dict[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def infer(docs: Iterable[dict[str, Any]]) -> Inference:
    cols, n = columns(docs)
    out = Inference(n=n)
    if not n:
        return out
    out.id_field = _best(cols, n, _id_score)
    out.timestamp_field = _best({p: c for p, c in cols.items() if p != out.id_field}, n, _ts_score)
    if out.timestamp_field and cols[out.timestamp_field].kinds() <= {"int", "float"}:
        values = cols[out.timestamp_field].present
        out.timestamp_unit = "s" if all(S_RANGE[0] <= v <= S_RANGE[1] for v in values) else "ms"
    rest = {p: c for p, c in cols.items() if p not in (out.id_field, out.timestamp_field)}
    out.label = _target(rest, _LABEL_NAME)
    if out.label:
        rest.pop(out.label[0])
    out.prediction = _target(rest, _PREDICTION_NAME)
    if out.prediction:
        rest.pop(out.prediction[0])
    names: dict[str, str] = {}
    for path, col in rest.items():
        kind, why = _feature_kind(col, n)
        if kind is None:
            out.skipped[path] = why
            continue
        name = path.rsplit(".", 1)[-1]
        if name in names:  # two paths end alike: both by their whole path
            name = path.replace(".", "_")
        names[name] = path
        out.features[name] = (kind, path)
    if out.id_field is None:
        out.notes.append("no field is unique in the sample: set stream.id_field (or id_source: key) yourself")
    if out.timestamp_field is None:
        out.notes.append("no field looks like an event time: set stream.timestamp_field (or timestamp_source: record)")
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _best(cols: dict[str, Column], n: int, score: Any) -> str | None:
    scored = [(s, path) for path, col in cols.items() if (s := score(col, n)) > 0]
    return max(scored)[1] if scored else None


def _id_score(col: Column, n: int) -> float:
    present = col.present
    if len(present) < n or not col.kinds() <= {"str", "int"} or len(set(present)) < n:
        return 0.0
    return 2.0 if _ID_NAME.search(col.path) else 1.0


def _ts_score(col: Column, n: int) -> float:
    present = col.present
    if len(present) < 0.99 * n:
        return 0.0
    kinds = col.kinds()
    if kinds <= {"int", "float"}:
        ok = all(MS_RANGE[0] <= v <= MS_RANGE[1] or S_RANGE[0] <= v <= S_RANGE[1] for v in present)
    elif kinds == {"str"}:
        ok = all(_iso(v) for v in present[:200])
    else:
        ok = False
    return (2.0 if _TS_NAME.search(col.path) else 1.0) if ok else 0.0


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return len(text) >= 10


def _target(cols: dict[str, Column], name: re.Pattern[str]) -> tuple[str, str] | None:
    for path, col in cols.items():
        if not name.search(path) or not col.present:
            continue
        kinds, levels = col.kinds(), set(col.present)
        if levels <= {0, 1}:  # True and False are 1 and 0
            return path, "binary"
        if kinds <= {"str", "int"} and len(levels) <= MAX_LEVELS:
            return path, "multiclass"
        if kinds <= {"int", "float"}:
            return path, "regression"
    return None


def _feature_kind(col: Column, n: int) -> tuple[str | None, str]:
    present = col.present
    if not present:
        return None, "always null in the sample"
    kinds = col.kinds()
    if kinds <= {"int", "float"}:
        if all(isinstance(v, float) and math.isnan(v) for v in present):
            return None, "never a number"
        return "numeric", ""
    if kinds <= {"str", "int"}:
        levels = len(set(present))
        if levels <= MAX_LEVELS and levels <= max(2, len(present) // 2):
            return "categorical", ""
        return None, f"text of {levels} distinct values in {len(present)} (free text or an identifier?)"
    return None, f"of type {'/'.join(sorted(kinds))}, which driftline does not watch"


def render(inf: Inference, source: str, name: str, bootstrap: str, topic: str | None,
           framing: tuple[str, dict[str, Any]] | None = None, more: bool = True) -> str:
    """The inference as a commented configuration (YAML); ``framing``: the format of messages
    framed with a schema id and its section (``("avro", {"registry": {"url": ...}})``);
    ``more``: the source holds more messages than were sampled (the reference is then the
    first 10,000 events)."""
    paths = [p for _, p in inf.features.values()]
    heads = {p.split(".")[0] for p in paths}
    flat = all("." not in p for p in paths)
    shared = len(heads) == 1 and all(p.count(".") == 1 for p in paths)
    lines = [
        f"# written by `driftline init` from {inf.n} messages of {source}",
        "# check every line marked CHECK, then: driftline validate THIS_FILE",
        "kafka:",
        f"  bootstrap_servers: {bootstrap!s}",
        "topics:",
        f"  events: {topic or 'events'}",
        "stream:",
        f"  name: {name}",
    ]
    if framing:
        fmt, section = framing
        lines += [f"  format: {fmt:<29}# Confluent wire format", f"  {fmt}:"]
        lines += [f"    {line}" for line in _yaml_lines(section)]
    if inf.id_field:
        lines.append(f"  id_field: {inf.id_field}                # CHECK: unique per event in the sample")
    else:
        lines.append("  id_source: key                       # CHECK: no unique field found; the message key is the id")
    if inf.timestamp_field:
        lines.append(f"  timestamp_field: {inf.timestamp_field}")
        lines.append(f"  timestamp_unit: {inf.timestamp_unit}                  # epoch ms or s; ISO-8601 text is read "
                     "either way")
    else:
        lines.append("  timestamp_source: record             # CHECK: no event-time field found; the Kafka "
                     "record's timestamp")
    if shared:
        lines.append(f"  features_path: {next(iter(heads))}")
    elif flat:
        lines.append("  features_path: null                  # the features are at the top level")
    lines.append("  features:                            # CHECK: numeric or categorical, and what to leave out")
    for fname, (kind, path) in inf.features.items():
        if shared or flat:
            lines.append(f"    {_key(fname)}: {kind}")
        else:
            lines.append(f"    {_key(fname)}: {{type: {kind}, path: {path}}}")
    for path, why in inf.skipped.items():
        lines.append(f"    # left out {path}: {why}")
    for what, found in (("label", inf.label), ("prediction", inf.prediction)):
        if found:
            lines.append(f"  {what}: {{field: {found[0]}, type: {found[1]}}}    # CHECK: found by its name")
        else:
            lines.append(f"  # {what}: {{field: ..., type: binary}}  # none found by its name")
    first_n = 10_000 if more else max(100, inf.n // 2)
    lines += [
        "reference:",
        f"  first_n: {first_n}                      # the first events are the reference the rest is compared with",
        "detectors: auto",
        "false_alarms:",
        "  drift: 1 per 1000000 events",
        "  warning: 1 per 10000 events",
    ]
    if inf.label is None:
        lines += ["learner:", "  enabled: false                       # no label: nothing to learn"]
    else:
        model = {"regression": "river.linear_model.LinearRegression",
                 "multiclass": "river.tree.HoeffdingTreeClassifier"}.get(inf.label[1],
                                                                         "river.linear_model.LogisticRegression")
        lines += ["learner:                               # test-then-train on the labelled events",
                  f"  model: {model}",
                  "  preprocessing: [river.preprocessing.StandardScaler]"]
    return "\n".join(lines) + "\n"


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) else f'"{name}"'


def _yaml_lines(data: dict[str, Any], indent: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"{indent}{key}:")
            out += _yaml_lines(value, indent + "  ")
        else:
            out.append(f"{indent}{key}: {value}")
    return out


def summary(inf: Inference) -> list[str]:
    """What was inferred, for the terminal."""
    lines = [f"sampled {inf.n} messages",
             (f"  id: {inf.id_field or '(none found)'}; event time: {inf.timestamp_field or '(none found)'}"
              + (f" (epoch {inf.timestamp_unit})" if inf.timestamp_field else "")),
             (f"  label: {inf.label[0] + ' (' + inf.label[1] + ')' if inf.label else '(none found)'}; "
              f"prediction: {inf.prediction[0] + ' (' + inf.prediction[1] + ')' if inf.prediction else '(none found)'}")]
    numeric = [n for n, (k, _) in inf.features.items() if k == "numeric"]
    categorical = [n for n, (k, _) in inf.features.items() if k == "categorical"]
    lines.append(f"  {len(numeric)} numeric features: {', '.join(numeric) or '-'}")
    lines.append(f"  {len(categorical)} categorical features: {', '.join(categorical) or '-'}")
    for path, why in inf.skipped.items():
        lines.append(f"  left out {path}: {why}")
    lines += [f"  check: {note}" for note in inf.notes]
    return lines
