"""Segments: per-segment error detectors under the budget, alerts naming the segment, the
rankings at a stream-level alert, the fairness gap; the same in one pass and in many blocks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from driftline.consumers.core.checks import parse_config
from driftline.consumers.core.plan import budget_shares, learner_plan, plan
from driftline.consumers.core.segments.fairness import FairnessGap
from driftline.consumers.core.segments.rank import rise_p_value, shift_term
from driftline.consumers.core.segments.slicing import OTHER, Slicing
from driftline.consumers.core.segments.watch import Block, SegmentWatch
from driftline.consumers.errors import ConfigError
from driftline.detectors.methods import method_params
from driftline.stream.messages import Alert, Position, Window, alert_id

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
import segments_streams as ss

DETECTOR = "[{name: concept, method: bernoulli, kind: concept_drift, options: {direction: up}}]"


def config(**kw):
    return parse_config(ss.config_text(detectors=DETECTOR, **kw))


def blocks_of(cfg, rows, errors, size, predictions=None, labels=None, start=0):
    """Blocks of ``size`` events as the learner hands them over."""
    n = len(rows)
    for lo in range(0, n, size):
        hi = min(n, lo + size)
        yield Block(np.asarray(errors[lo:hi], dtype=float), np.zeros(hi - lo, np.int64),
                    np.arange(start + lo, start + hi, dtype=np.int64), 1000 * np.arange(start + lo, start + hi),
                    [f"e{i}" for i in range(start + lo, start + hi)], rows[lo:hi],
                    list(labels[lo:hi]) if labels is not None else [0] * (hi - lo),
                    list(predictions[lo:hi]) if predictions is not None else [0] * (hi - lo))


def segment_stream(rng, n, rates, shares):
    """Rows with a ``country`` drawn by ``shares`` and 0/1 errors at each country's rate."""
    names = list(rates)
    country = rng.choice(len(names), size=n, p=shares)
    errors = (rng.random(n) < np.array([rates[names[c]] for c in country])).astype(float)
    rows = [{"country": names[c], "gender": "F", "x0": 0.0, "x1": 0.0, "x2": 0.0, "x3": 0.0} for c in country]
    return rows, errors


def test_alert_ids_without_a_segment_are_unchanged_and_the_segment_is_part_of_the_id() -> None:
    import hashlib
    plain = hashlib.sha256(b"s\x1fd\x1f\x1fe1").hexdigest()
    assert alert_id("s", "d", None, "e1") == plain
    assert alert_id("s", "d", None, "e1", {"country": "DE"}) != plain
    assert alert_id("s", "d", None, "e1", {"country": "DE"}) != alert_id("s", "d", None, "e1", {"country": "FR"})
    assert alert_id("s", "d", None, "e1", {"a": "1", "b": "2"}) == alert_id("s", "d", None, "e1", {"b": "2", "a": "1"})


def test_a_slicing_counts_as_one_more_share_of_the_budget_however_many_segments() -> None:
    few = config(segments="{by: [country], max_segments: 2}")
    many = config(segments="{by: [country], max_segments: 50}")
    none = config(segments="{by: []}")
    calibrated = [p for p in plan(few) if "alpha_drift" in method_params(p.method)]
    assert budget_shares(few, calibrated) == budget_shares(many, calibrated) == budget_shares(none, calibrated) + 1
    two = config(segments="{by: [country, gender]}", fairness="{attribute: gender}")
    assert budget_shares(two, calibrated) == budget_shares(none, calibrated) + 3


def test_a_list_of_features_is_the_by_shorthand() -> None:
    assert config(segments="[country, gender]").segments.by == ["country", "gender"]


def test_the_largest_levels_are_tracked_the_rest_pooled() -> None:
    slicing = Slicing(name="country", feature="country", cap=2)
    rows = [{"country": c} for c in "aaabbbbccd"] + [{"country": None}]
    codes = slicing.codes(rows)
    slicing.select(codes)
    seg, names = slicing.segment_codes(slicing.codes([{"country": c} for c in ["a", "b", "c", "z", None]]))
    assert names == ["a", "b", OTHER]
    assert [names[i] for i in seg] == ["a", "b", OTHER, OTHER, OTHER]


def test_a_filter_is_one_segment() -> None:
    cfg = config(segments="{filters: [{name: young, where: {x0: {min: 0, max: 1}, country: [DE, c01]}}]}")
    slicing = Slicing.of_filter(cfg.segments.filters[0])
    codes = slicing.codes([{"x0": 0.5, "country": "DE"}, {"x0": 1.5, "country": "DE"}, {"x0": 0.5, "country": "c02"}])
    seg, names = slicing.segment_codes(codes)
    assert names == ["young"] and seg.tolist() == [0, -1, -1]
    assert slicing.key("young") == {"filter": "young"}


@pytest.mark.parametrize("text, key", [
    ("segments: {by: [x0]}", "segments.by[0]"),
    ("segments: {by: [nope]}", "segments.by[0]"),
    ("segments: {filters: [{name: a, where: {country: {min: 1}}}]}", "segments.filters[0].where.country"),
    ("segments: {by: [country], features: [nope]}", "segments.features[0]"),
    ("segments: {features: [x0]}", "segments.features"),
    ("fairness: {attribute: x1}", "fairness.attribute"),
    ("fairness: {attribute: gender, metric: recall}", "fairness.metric"),
])
def test_bad_segments_and_fairness_name_the_key(text: str, key: str) -> None:
    body = ss.config_text(detectors=DETECTOR).replace("segments: {by: [country]}", text)
    with pytest.raises(ConfigError) as info:
        parse_config(body)
    assert any(k == key for k, _, _ in info.value.problems), info.value.problems


def test_the_confined_change_is_alerted_in_its_segment_and_nowhere_else() -> None:
    """A segment of 10% whose error rate goes from 0.1 to 0.4: its detector fires, naming it,
    within a few hundred stream events; the other segments' do not (20 seeded streams)."""
    cfg = config(segments="{by: [country]}", first_n="5000")
    rates = {"DE": 0.1, **{f"c{i}": 0.1 for i in range(9)}}
    shares = [0.1] + [0.1] * 9
    delays, wrong = [], 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        before_rows, before_err = segment_stream(rng, 25_000, rates, shares)
        after_rows, after_err = segment_stream(rng, 5_000, {**rates, "DE": 0.4}, shares)
        watch = SegmentWatch(cfg, learner_plan(cfg))
        alerts = []
        for block in blocks_of(cfg, before_rows + after_rows, np.concatenate([before_err, after_err]), 97):
            alerts += [a for a in watch.process(block, live=False) if a.severity == "drift"]
        wrong += sum(a.segment != {"country": "DE"} or a.position.offset < 25_000 for a in alerts)
        de = [a.position.offset - 25_000 for a in alerts if a.segment == {"country": "DE"} and a.position.offset >= 25_000]
        delays.append(de[0] if de else None)
    assert None not in delays
    assert np.median(delays) < 1500
    assert wrong == 0


def test_the_same_alerts_in_one_block_or_many_and_after_a_restore() -> None:
    cfg = config(segments="{by: [country], max_segments: 4, min_events: 1000}", first_n="3000",
                 fairness="{attribute: gender, window: 500}")
    rng = np.random.default_rng(7)
    rows, errors = segment_stream(rng, 16_000, {"DE": 0.1, "c1": 0.1, "c2": 0.2, "c3": 0.05, "c4": 0.1, "c5": 0.1},
                                  [0.2, 0.3, 0.2, 0.1, 0.1, 0.1])
    de = np.flatnonzero(np.array([r["country"] == "DE" for r in rows]) & (np.arange(len(rows)) >= 7000))
    errors[de] = (rng.random(de.shape[0]) < 0.5).astype(float)
    for r, g in zip(rows, rng.choice(["F", "M"], len(rows))):
        r["gender"] = str(g)

    def run(size: int, restore_at: int | None = None) -> list[str]:
        watch = SegmentWatch(cfg, learner_plan(cfg))
        out = []
        for block in blocks_of(cfg, rows, errors, size):
            out += watch.process(block, live=False)
            if restore_at is not None and block.offsets[0] <= restore_at < block.offsets[-1] + 1:
                state = json.loads(json.dumps(watch.state_dict()))  # as a checkpoint keeps it
                watch = SegmentWatch(cfg, learner_plan(cfg))
                watch.load_state_dict(state)
        return [a.alert_id for a in out]

    one = run(len(rows))
    assert one and one == run(61) == run(500, restore_at=6000)


def test_segment_ranking_puts_the_segment_that_failed_first() -> None:
    cfg = config(segments="{by: [country]}", first_n="5000")
    rng = np.random.default_rng(3)
    rates = {"DE": 0.1, "c1": 0.1, "c2": 0.1, "c3": 0.1}
    rows, errors = segment_stream(rng, 5_000, rates, [0.25] * 4)
    after_rows, after_err = segment_stream(rng, 1_000, {**rates, "c2": 0.5}, [0.25] * 4)
    watch = SegmentWatch(cfg, learner_plan(cfg))
    for block in blocks_of(cfg, rows + after_rows, np.concatenate([errors, after_err]), 250):
        watch.process(block, live=False)
    alert = Alert(  # a stream-level alert at the last event, its excursion from the change on
alert_id="x", stream="seg", kind="concept_drift", severity="drift", feature=None, detector="concept",
                  statistic=1.0, p_value=None, threshold=1.0, position=Position(partition=0, offset=5999, ts=5_999_000),
                  window=Window(reference_n=5000, current_n=1000, start_ts=5_000_000), detected_at=0)
    details = watch.explain(alert)
    top = details["segment_ranking"][0]
    assert top["segment"] == {"country": "c2"} and top["p_value"] < 1e-6
    assert all(e["p_value"] > 1e-4 for e in details["segment_ranking"][1:])


def test_fisher_rise_p_value_is_calibrated_on_equal_rates() -> None:
    """Under equal error rates the one-sided Fisher p-value is at most alpha with frequency <= alpha."""
    rng = np.random.default_rng(0)
    p = [rise_p_value((2000, rng.binomial(2000, 0.1), 0), (300, rng.binomial(300, 0.1), 0), True)
         for _ in range(4000)]
    for alpha in (0.01, 0.05, 0.2):
        assert np.mean(np.asarray(p) <= alpha) <= alpha * 1.15


def test_shift_term_credits_the_feature_that_moved_into_errors() -> None:
    ref = np.array([[500, 25, 25], [500, 25, 25], [500, 250, 250]], float)  # bin 2: the noisy one
    moved = np.array([[100, 5, 5], [100, 5, 5], [800, 400, 400]], float)
    still = np.array([[333, 17, 17], [333, 17, 17], [334, 167, 167]], float)
    assert shift_term(ref, moved)[0] > 0.2
    assert abs(shift_term(ref, still)[0]) < 0.01


def test_fairness_gap_alerts_when_one_group_falls_and_rarely_otherwise() -> None:
    def run(seed: int, drop: float) -> list[int]:
        rng = np.random.default_rng(seed)
        gap = FairnessGap(reference_size=5000, window=1000, min_group=50, alpha_drift=1e-3, alpha_warning=None)
        n = 25_000
        groups = rng.choice(["F", "M"], n).tolist()
        acc = np.where((np.arange(n) >= 15_000) & (np.array(groups) == "F"), 0.9 - drop, 0.9)
        values = (rng.random(n) < acc).astype(np.int64)
        return [d.index for d in gap.update(groups, values, np.ones(n, bool))]
    found = [run(s, 0.2) for s in range(10)]
    assert all(f and 15_000 <= f[0] < 17_000 for f in found)
    false = sum(len(run(s, 0.0)) for s in range(40))
    assert false <= 40 * 20 * 1e-3 * 3 + 1  # 20 windows a stream at 1e-3 each, generous


def test_prometheus_has_one_label_per_tracked_segment() -> None:
    """The learner's segment table as Prometheus series: one ``segment`` label per tracked level
    and the pool, bounded by ``segments.max_segments`` whatever the feature's cardinality."""
    from driftline.consumers.observe.telemetry import _segments

    cfg = config(segments="{by: [country], max_segments: 3, min_events: 1000}", first_n="2000")
    rng = np.random.default_rng(5)
    names = {f"c{i}": 0.1 for i in range(40)}
    rows, errors = segment_stream(rng, 6000, names, np.full(40, 1 / 40))
    watch = SegmentWatch(cfg, learner_plan(cfg))
    for block in blocks_of(cfg, rows, errors, 300):
        watch.process(block, live=False)
    families = list(_segments(["stream", "role"], ["seg", "learner"], {"segments": watch.table(series=False)}))
    labels = {s.labels["segment"] for f in families for s in f.samples if f.name == "driftline_segment_events"}
    assert len(labels) <= 3 + 1 and "country=(other)" in labels
    total = sum(s.value for f in families for s in f.samples if s.name == "driftline_segment_events_total")
    assert total == 6000


def test_a_backtest_with_fairness_alone_alerts_the_gap_that_opens(tmp_path: Path) -> None:
    """One group's accuracy falls after event 9,000: ``fairness-accuracy-gender`` alerts (kind
    ``performance``, ``details.fairness`` naming the pair), after the change and not before."""
    from driftline.consumers.core.backtest import backtest

    stream = ss.make("fairness", n=16_000, shift_at=9_000, seed=4)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(stream.raws) + b"\n")
    cfg = config(segments="{by: []}", first_n="4000", fairness="{attribute: gender, window: 1000}")
    alerts = [a for a in backtest(cfg, path).alerts if a.detector == "fairness-accuracy-gender"]
    assert alerts and alerts[0].kind == "performance" and alerts[0].feature == "gender"
    assert 9_000 <= alerts[0].position.offset < 12_000
    assert alerts[0].details["fairness"]["pair"] == ["F", "M"]
    assert alerts[0].details["fairness"]["gap"] > alerts[0].details["fairness"]["reference_gap"]


def _backtest(tmp_path: Path, stream: ss.Stream, chunk_size: int = 5000, **kw):
    from driftline.consumers.core.backtest import backtest

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(stream.raws) + b"\n")
    return backtest(parse_config(ss.config_text(**kw)), path, chunk_size=chunk_size)


def test_a_shift_in_one_segment_is_alerted_there_by_the_judge_and_the_same_in_any_chunks(tmp_path: Path) -> None:
    """x0 moves in DE alone (30% of the traffic): the per-segment copies of x0's detectors name
    DE, after the shift; the alerts are the same whatever the chunks the judge is given."""
    stream = ss.make("segment_shift", n=14_000, shift_at=9_000, countries=4, share=0.3, seed=8, scored=True)
    kw = {"first_n": "3000", "segments": "{by: [country], features: [x0], min_events: 1000}", "scored": True}
    result = _backtest(tmp_path, stream, **kw)
    seg = [a for a in result.alerts if a.segment is not None and a.kind == "data_drift" and a.severity == "drift"]
    assert seg and {a.feature for a in seg} == {"x0"}
    assert {tuple(a.segment.items()) for a in seg} == {(("country", "DE"),)}
    assert min(a.position.offset for a in seg) >= 9_000
    other = _backtest(tmp_path, stream, chunk_size=777, **kw)
    assert [a.alert_id for a in other.alerts if a.segment] == [a.alert_id for a in result.alerts if a.segment]
    estimated = result.monitor.segments.estimated()  # CBPE's expected accuracy per segment
    assert set(estimated) >= {"country=DE", "country=c00"}
    assert all(0.5 < v <= 1.0 for v in estimated.values())


def test_a_segments_alert_acts_only_where_a_policy_asks_for_segments() -> None:
    from driftline.consumers.config.model import PolicyConfig
    from driftline.consumers.core.policies import actions_for

    def alert(segment):
        return Alert(alert_id="x", stream="seg", kind="concept_drift", severity="drift", feature=None,
                     detector="concept", statistic=1.0, p_value=None, threshold=1.0,
                     position=Position(partition=0, offset=1), window=Window(reference_n=1, current_n=1),
                     detected_at=0, segment=segment)

    plain = [PolicyConfig.model_validate({"when": {"kind": "concept_drift"}, "do": ["rollback"]})]
    anyseg = [PolicyConfig.model_validate({"when": {"kind": "concept_drift", "segment": "any"}, "do": ["retrain"]})]
    one = [PolicyConfig.model_validate({"when": {"segment": {"country": "DE"}}, "do": ["quarantine"]})]
    assert actions_for(plain, alert(None)) == [("rollback", 0)]
    assert actions_for(plain, alert({"country": "DE"})) == []
    assert actions_for(anyseg, alert({"country": "DE"})) == actions_for(anyseg, alert(None)) == [("retrain", 0)]
    assert actions_for(one, alert({"country": "DE"})) == [("quarantine", 0)]
    assert actions_for(one, alert({"country": "FR"})) == []


@pytest.mark.parametrize("metric", ["positive_rate", "tpr"])
def test_the_fairness_metrics_read_the_learners_predictions(metric: str) -> None:
    """After event 6,000 group F's positive predictions (positive_rate) or its positives'
    (tpr) fall from 0.9 to 0.6 of the labels' 1s: the gap is alerted, after the change."""
    cfg = config(segments="{by: []}", first_n="3000", fairness=f"{{attribute: gender, metric: {metric}, window: 1000}}")
    rng = np.random.default_rng(9)
    n = 12_000
    gender = rng.choice(["F", "M"], n)
    labels = (rng.random(n) < 0.5).astype(int)
    keep = np.where((np.arange(n) >= 6000) & (gender == "F"), 0.6, 0.9)
    preds = np.where(labels == 1, (rng.random(n) < keep).astype(int), (rng.random(n) < 0.1).astype(int))
    rows = [{"country": "DE", "gender": str(g), "x0": 0.0, "x1": 0.0, "x2": 0.0, "x3": 0.0} for g in gender]
    watch = SegmentWatch(cfg, learner_plan(cfg))
    alerts = []
    for block in blocks_of(cfg, rows, (preds != labels).astype(float), 400, predictions=preds, labels=labels):
        alerts += watch.process(block, live=False)
    fired = [a for a in alerts if a.detector == f"fairness-{metric}-gender"]
    assert fired and 6000 <= fired[0].position.offset < 8000
    assert fired[0].details["fairness"]["metric"] == metric


def test_a_stream_level_performance_alert_ranks_on_the_estimated_errors(tmp_path: Path) -> None:
    """x0 gathers near the boundary in DE (30% of the traffic): CBPE's stream-level alert
    carries the rankings on the estimated errors, DE first and x0 first, no label used."""
    stream = ss.make("boundary", n=14_000, shift_at=8_000, countries=4, share=0.3, seed=3, scored=True)
    result = _backtest(tmp_path, stream, first_n="4000", segments="{by: [country], min_events: 1000}", scored=True)
    fired = [a for a in result.alerts if a.kind == "performance" and a.segment is None and a.severity == "drift"]
    assert fired and fired[0].position.offset >= 8_000
    details = fired[0].details
    assert details["segment_ranking"][0]["segment"] == {"country": "DE"}
    assert details["feature_ranking"][0]["feature"] == "x0"
