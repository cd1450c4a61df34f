"""Hostile input for the fuzz tests: random configurations, messages, values and label arrivals.

The strategies build what a careless or hostile producer sends: mostly ordinary events (so the
detectors and the learner have something to judge and learn), mixed with every kind of bad
value of every declared type (missing, the wrong type, huge, tiny, unicode, integers past 64
bits written as text, NaN and Infinity written raw), broken bytes, duplicates, numbers as ids,
undeclared fields, and labels that come early, late, twice or for no event at all.

:func:`monitor_run`, :func:`learner_run` and :func:`ledger` feed them through the judging core
exactly as the live roles do and count where every input went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st
from river import linear_model

from driftline.consumers.config.model import DriftlineConfig, stream_schema
from driftline.consumers.core.engine import DriftEngine
from driftline.consumers.core.learner import LearnerCore
from driftline.consumers.core.order.intake import PartitionIntake
from driftline.consumers.core.order.merge import StreamMerge
from driftline.consumers.core.plan import learner_plan, monitor_plan
from driftline.stream.checkpoint import Checkpoint
from driftline.stream.checkpoint import decode as decode_checkpoint
from driftline.stream.checkpoint import encode as encode_checkpoint
from driftline.stream.events import EventBatch, Reject, StreamSchema, parse_events
from driftline.stream.labels import parse_label_messages

FEATURES = {"amount": "numeric", "age": "numeric", "country": "categorical"}
MODELS = {"binary": "river.linear_model.LogisticRegression",
          "multiclass": "river.linear_model.SoftmaxRegression",
          "regression": "river.linear_model.LinearRegression"}
COUNTRIES = ["DE", "FR", "ES", "ÄÖ", "日本", ""]


class NeedsAmount(linear_model.LogisticRegression):
    """A model that cannot take an event without ``amount`` (as a pipeline not built for missing
    values cannot): the events it refuses must be counted and routed, never fatal."""

    def predict_proba_one(self, x: dict[str, Any], **kwargs: Any) -> dict[Any, float]:
        if "amount" not in x:
            raise KeyError("amount")
        return super().predict_proba_one(x, **kwargs)

    def learn_one(self, x: dict[str, Any], y: Any, **kwargs: Any) -> None:
        if "amount" not in x:
            raise KeyError("amount")
        super().learn_one(x, y, **kwargs)
T0 = 1767225600000
#: where the ordinary values drift (so that detectors fire, and quarantines open)
DRIFT_AT = 60


@st.composite
def configs(draw: Any, bootstrap: str = "embedded") -> DriftlineConfig:
    """A valid configuration with random values where they matter to robustness."""
    target = draw(st.sampled_from(["binary", "multiclass", "regression"]))
    drift = draw(st.sampled_from([1e-6, 1e-4, 1e-3, 1e-2]))
    data = {
        "kafka": {"bootstrap_servers": bootstrap},
        "stream": {
            "name": "fuzz", "features": FEATURES,
            "dedupe_window": draw(st.sampled_from([0, 1, 5, 1000])),
            "max_event_bytes": draw(st.sampled_from([1000, 1_000_000])),
            "label": {"field": "label", "type": target},
            **({"prediction": {"field": "prediction", "type": target}} if draw(st.booleans()) else {}),
        },
        "reference": {"first_n": draw(st.integers(10, 60))},
        "false_alarms": {"drift": drift, "warning": draw(st.sampled_from([None, drift * 10, 0.1]))},
        "learner": {
            "model": "fuzz_support.NeedsAmount" if target == "binary" and draw(st.booleans()) else MODELS[target],
            "preprocessing": draw(st.sampled_from([[], ["river.preprocessing.StandardScaler"]])),
            "metric_window": draw(st.integers(10, 50)),
            "max_pending": draw(st.integers(1, 40)),
            "max_pending_age_ms": draw(st.sampled_from([None, 1, 60_000])),
            "concept_detector": draw(st.sampled_from(["auto", "ddm", "adwin", "page_hinkley"]))
            if target != "regression" else draw(st.sampled_from(["auto", "adwin", "page_hinkley"])),
        },
        "policies": [{"when": {"kind": "data_drift", "severity": "warning"}, "do": ["quarantine"]}]
        if draw(st.booleans()) else [],
        "detectors": "auto" if draw(st.integers(0, 2)) == 0 else small_detectors(draw, target),
    }
    return DriftlineConfig.model_validate(data)


def small_detectors(draw: Any, target: str) -> list[dict[str, Any]]:
    """Every kind of detector, with windows small enough to fire within a short stream."""
    small = {"window": draw(st.sampled_from([10, 20, 40])), "stride": draw(st.sampled_from([1, 3, 10]))}
    return [
        {"name": "ks", "method": draw(st.sampled_from(["ks", "cvm"])), "features": ["amount", "age"], "options": small},
        {"name": "cusum", "method": "cusum", "features": ["amount"]},
        {"name": "range", "method": "quality", "kind": "data_quality", "features": ["age"], "options": small},
        {"name": "chi2", "method": "chi2", "features": ["country"], "options": small},
        {"name": "unseen", "method": "quality_cat", "kind": "data_quality", "features": ["country"], "options": small},
        {"name": "pca", "method": "pca", "features": ["amount", "age"], "options": small},
        {"name": "schema", "method": "schema", "kind": "data_quality", "options": small},
        {"name": "labels", "method": "ks" if target == "regression" else "chi2", "kind": "label_drift",
         "options": small},
        {"name": "concept", "method": draw(st.sampled_from(["cusum", "adwin", "page_hinkley"])),
         "kind": "concept_drift"},
    ]


#: raw JSON numbers no JSON library writes: they reach the parser as text
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "18446744073709551616", "-0", "1E-400"]


def hostile_values() -> st.SearchStrategy[Any]:
    """Any JSON value, leaning to the ones that break things."""
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0, 2**53 + 1.0]),
        st.text(max_size=12),
        st.lists(st.integers(0, 3), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
        st.sampled_from([f"<raw>{n}" for n in RAW_NUMBERS]),
    )


def _good_value(draw: Any, kind: str, target: str | None = None, index: int = 0) -> Any:
    """An ordinary value; from event ``DRIFT_AT`` on, numbers shift and new categories come."""
    drifted = index >= DRIFT_AT
    if kind == "numeric":
        return draw(st.floats(-1, 1, allow_nan=False)) * 1000 + (5000 if drifted else 0)
    if kind == "categorical":
        return draw(st.sampled_from(COUNTRIES[2:-1] if drifted else COUNTRIES[:2]))
    if target == "binary":
        return draw(st.sampled_from([0, 1, True, False]))
    if target == "multiclass":
        return draw(st.sampled_from(["a", "b", "c", 3]))
    return draw(st.floats(-1e3, 1e3, allow_nan=False))


def _value(draw: Any, kind: str, target: str | None = None) -> Any:
    return draw(st.one_of(st.just(_good_value(draw, kind, target)), st.just(_good_value(draw, kind, target)),
                          hostile_values()))


def dumps(doc: Any) -> bytes:
    """JSON with ``"<raw>X"`` strings written as the bare token X (NaN, 1e400, ...)."""
    raw = orjson.dumps(doc)
    for token in RAW_NUMBERS:
        raw = raw.replace(f'"<raw>{token}"'.encode(), token.encode())
    return raw


@st.composite
def events(draw: Any, cfg: DriftlineConfig, index: int) -> dict[str, Any]:
    """One event as a document: mostly well-formed, any field possibly hostile, absent or extra."""
    schema = stream_schema(cfg)
    ok = draw(st.integers(0, 9)) < 7
    if ok:
        the_id: Any = draw(st.sampled_from([f"e{index}", index]))
        ts: Any = T0 + index * 1000
    else:
        the_id = draw(st.one_of(st.sampled_from([f"e{index}", index, f"e{max(index - 1, 0)}"]), hostile_values()))
        ts = draw(st.one_of(st.just(T0 + index), st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", 2**63]),
                            hostile_values()))
    features: dict[str, Any] = {}
    for name, kind in schema.features.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # absent: a missing value
        features[name] = _good_value(draw, kind, index=index) if ok else _value(draw, kind)
    if not ok and draw(st.booleans()):
        features[draw(st.sampled_from(["shoe_size", "ünïcode", ""]))] = draw(hostile_values())
    doc: dict[str, Any] = {schema.id_field: the_id, schema.timestamp_field: ts,
                           "features": features if ok or draw(st.integers(0, 9)) else draw(hostile_values())}
    if draw(st.integers(0, 2)):  # a third of the events wait for their label on the labels topic
        doc["label"] = _good_value(draw, "target", schema.label_type) if ok else _value(draw, "target",
                                                                                       schema.label_type)
    if schema.prediction_field:
        doc["prediction"] = _good_value(draw, "target", schema.prediction_type) if ok else draw(hostile_values())
    if not ok and draw(st.integers(0, 4)) == 0:
        doc["colour"] = "red"
    if not ok and draw(st.integers(0, 9)) == 0:
        return {"<bytes>": draw(st.one_of(st.binary(max_size=20), st.sampled_from(
            [b"", b"{", b"[1,2]", b"null", b'"x"', b"\xff\xfe", b"{" + b"x" * 1200 + b"}"])))}
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    return doc["<bytes>"] if "<bytes>" in doc else dumps(doc)


@st.composite
def streams(draw: Any, cfg: DriftlineConfig, max_events: int = 120, min_events: int = 0) -> tuple[list[bytes], list[bytes]]:
    """(event messages, late label messages) of one partition."""
    n = draw(st.integers(min_events, max_events))
    docs = [draw(events(cfg, i)) for i in range(n)]
    schema = stream_schema(cfg)
    labels: list[bytes] = []
    for i, doc in enumerate(docs):
        if "label" in doc or "<bytes>" in doc or draw(st.integers(0, 3)) == 0:
            continue
        labels.append(dumps({"id": doc.get(schema.id_field), "label": _value(draw, "target", schema.label_type),
                             "ts": _label_time(draw, i)}))
    for _ in range(draw(st.integers(0, 5))):  # labels of no event, twice, or of another type
        labels.append(dumps({"id": draw(st.one_of(st.sampled_from(["ghost", "e0", 0]), hostile_values())),
                             "label": _value(draw, "target", schema.label_type), "ts": _label_time(draw, n)}))
    return [encode(d) for d in docs], draw(st.permutations(labels))


def _label_time(draw: Any, index: int) -> Any:
    """When a label became known: mostly a while after its event, sometimes absent or hostile."""
    if draw(st.integers(0, 9)) < 8:
        return T0 + index * 1000 + draw(st.integers(0, 200_000))
    return draw(st.one_of(st.just(None), hostile_values()))


def chunked(draw: Any, items: Sequence[Any]) -> list[list[Any]]:
    """``items`` cut into random consecutive chunks (the polls of a live role)."""
    out, i = [], 0
    while i < len(items):
        size = draw(st.integers(1, max(1, len(items))))
        out.append(list(items[i:i + size]))
        i += size
    return out


def undeclared(schema: StreamSchema, raws: Sequence[bytes | None]) -> int:
    """The undeclared fields of the messages that are JSON objects, counted independently."""
    known = {schema.id_field, schema.timestamp_field, "features", schema.label_field, schema.prediction_field}
    n = 0
    for raw in raws:
        try:
            doc = orjson.loads(raw) if raw is not None and len(raw) <= schema.max_event_bytes else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            n += len(doc.keys() - known)
            if isinstance(doc.get("features"), dict):
                n += len(doc["features"].keys() - schema.features.keys())
    return n


@dataclass
class MonitorLedger:
    """Where the monitor put every message of a partition."""

    judged: list[int] = field(default_factory=list)
    dead: list[Reject] = field(default_factory=list)
    undeclared: int = 0
    alerts: list[Any] = field(default_factory=list)
    batches: list[EventBatch] = field(default_factory=list)


def monitor_run(cfg: DriftlineConfig, polls: list[list[bytes]], live: bool = False,
                restart_at: int | None = None) -> MonitorLedger:
    """The live monitor's and judge's steps over ``polls`` of partition 0: parse, intake
    (duplicates and late events out), the merge behind the watermark, judge; with
    ``restart_at``, their state goes through a checkpoint (encoded, decoded) into new objects
    before that poll, as after a restart or a rebalance. The stream is flushed at the end."""
    schema = stream_schema(cfg)
    plan = monitor_plan(cfg)
    s = cfg.stream

    def fresh() -> tuple[DriftEngine, PartitionIntake, StreamMerge]:
        return (DriftEngine(plan), PartitionIntake.of(cfg, 0),
                StreamMerge([0], s.allowed_lateness_ms, idle_ms=float("inf")))

    engine, intake, merge = fresh()
    out = MonitorLedger()

    def judge(released: Any) -> None:
        if not released.empty:
            out.alerts.extend(engine.process(released.batch, released.messages, live=live))
            out.judged.extend(released.batch.offsets.tolist())

    offset = 0
    for number, raws in enumerate(polls):
        if number == restart_at:
            merge_state, blob = merge.state_dict()
            state = {"engine": engine.state_dict(), "intake": intake.state_dict(), "merge": merge_state}
            saved = decode_checkpoint(encode_checkpoint(Checkpoint("k", {"events": {0: offset}}, state, blob=blob)))
            engine, intake, merge = fresh()
            engine.load_state_dict(saved.state["engine"])
            intake.load_state_dict(saved.state["intake"])
            merge.load_state_dict(saved.state["merge"], saved.blob, 0.0)
        offsets = list(range(offset, offset + len(raws)))
        offset += len(raws)
        batch, rejects = parse_events(schema, 0, offsets, raws)
        batch, dropped, codes = intake.admit(batch, rejects)
        out.dead += rejects + dropped
        merge.add(codes, 0.0)
        judge(merge.release(0.0))
        out.undeclared += batch.undeclared
        out.batches.append(batch)
    judge(merge.release(0.0, flush=True))
    return out


@dataclass
class LearnerLedger:
    """Where the learner put every event and label it was given."""

    admitted: int = 0
    duplicates: int = 0
    invalid: int = 0
    inline_labelled: int = 0
    labels_valid: int = 0
    labels_dead: list[Reject] = field(default_factory=list)
    unusable: list[Reject] = field(default_factory=list)
    expired_labels: int = 0
    alerts: list[Any] = field(default_factory=list)
    core: LearnerCore | None = None


def learner_run(cfg: DriftlineConfig, steps: list[tuple[str, list[bytes]]]) -> LearnerLedger:
    """The live learner's steps: ("events", poll) and ("labels", poll) in the order given, each
    poll followed by the steps it allows; at the end, every step what came allows."""
    schema = stream_schema(cfg)
    core = LearnerCore(cfg, learner_plan(cfg), live=False, label_partitions=[0])
    out = LearnerLedger(core=core)
    offsets = {"events": 0, "labels": 0}

    def took(outcome: Any) -> None:
        out.unusable += outcome.unusable
        out.alerts += outcome.alerts
        out.expired_labels += len(outcome.turned_labels)

    for topic, raws in steps:
        first = offsets[topic]
        offsets[topic] += len(raws)
        numbers = list(range(first, first + len(raws)))
        if topic == "events":
            batch, rejects = parse_events(schema, 0, numbers, raws)
            duplicates = {r.offset for r in core.add_events(batch)}
            out.invalid += len(rejects)
            out.duplicates += len(duplicates)
            out.admitted += len(batch) - len(duplicates)
            out.inline_labelled += sum(v is not None for v, o in zip(batch.label, batch.offsets) if o not in duplicates)
        else:
            parsed, rejects = parse_label_messages(0, numbers, raws, schema.id_field, "label", schema.label_type)
            out.labels_dead += rejects
            out.labels_valid += len(parsed)
            core.add_labels(0, parsed)
        took(core.step())
    took(core.step(flush=True))
    return out


def assert_learner_accounts(run: LearnerLedger) -> None:
    """Every admitted event scored, unusable, waiting or expired; every label used, waiting or
    dead-lettered: each in exactly one place."""
    core = run.core
    assert core is not None
    scored = core.learner.seen
    assert len(run.unusable) == core.unusable
    waiting = len(core.order.waiting) - core.pending  # labelled, their learning time not yet reached
    done = scored + core.unusable + core.sampled_out
    assert done + core.pending + waiting + core.expired_events + core.late_events == run.admitted, (
        scored, core.unusable, core.pending, waiting, core.expired_events, core.late_events, run.admitted)
    joined = sum(e.label_offset >= 0 for e in core.order.waiting.values())
    used = done - run.inline_labelled  # events that were scored (or sampled out) with a label message
    assert used >= 0
    assert used + joined + len(core.order.orphans) + run.expired_labels == run.labels_valid, (
        used, joined, len(core.order.orphans), run.expired_labels, run.labels_valid)
