"""Label-free performance estimation live, on a real broker: the monitor and its judge over two
partitions give the same ``performance`` alerts (ids included) as a backtest of the same events,
and the judge exports the estimated and realised metrics to Prometheus and ``driftline status``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from roles_support import fresh_config, judged_all, produce, run_roles, wait_for
from test_metrics import samples, total

from driftline.consumers.core.backtest import backtest
from driftline.consumers.observe.status import gather, render
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import performance_streams as ps

pytestmark = pytest.mark.integration

PARTITIONS = 2


def test_live_performance_alerts_equal_backtest_and_the_metrics_show_both(bootstrap_servers: str, tmp_path) -> None:
    cfg = fresh_config(bootstrap_servers, reference=5000, partitions=PARTITIONS)
    data = cfg.model_dump(mode="json", by_alias=True)
    data["stream"].update(features={"x1": "numeric", "x2": "numeric"},
                          prediction={"field": "prediction", "type": "binary", "score": "proba"})
    data["learner"] = {"enabled": False}
    data["metrics"] = {"port": 0, "host": "127.0.0.1"}
    data["stats"] = {"every_seconds": 0.5}
    cfg = type(cfg).model_validate(data)
    # every event labelled, so that the realised accuracy is there to compare (CBPE uses none
    # of the labels after the reference: tests/unit/consumers/core/test_performance.py)
    stream = ps.classification("covariate", n=11_000, shift_at=8000, labelled=11_000, seed=21)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(stream.raws) + b"\n")
    expected = backtest(cfg, path).alerts
    assert [a for a in expected if a.kind == "performance"], "the backtest has no performance alert"

    for p in range(PARTITIONS):
        produce(bootstrap_servers, cfg.topics.events, stream.raws[p::PARTITIONS], partition=p)
    runner = run_roles(cfg, bootstrap_servers, ["monitor"])
    try:
        port = {role.name: role.metrics_port for role in runner.roles}["judge"]
        wait_for(lambda: judged_all(runner, len(stream.raws)), timeout=90, what="every event judged")
        metrics = samples(port)
        estimated = total(metrics, "driftline_estimated_metric", metric="accuracy")
        realised = total(metrics, "driftline_realised_metric", metric="accuracy")
        assert 0.6 < estimated < 0.9 and 0.6 < realised < 0.9, (estimated, realised)
        assert abs(estimated - realised) < 0.06
        assert total(metrics, "driftline_estimated_metric", metric="roc_auc") > 0.5
        wait_for(lambda: gather(cfg, bootstrap_servers)["performance"]["estimated"], timeout=30,
                 what="a judge snapshot with the estimate")
    finally:
        runner.shutdown()
    assert not runner.errors

    live = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    assert {a.alert_id for a in live} == {a.alert_id for a in expected}
    by_id = {a.alert_id: a for a in live}
    for alert in (a for a in expected if a.kind == "performance"):
        assert by_id[alert.alert_id].details == alert.details
        assert (by_id[alert.alert_id].position.event_id, by_id[alert.alert_id].position.ts) == \
            (alert.position.event_id, alert.position.ts)
    drifts = [a for a in expected if a.kind == "performance" and a.severity == "drift"]
    assert drifts and 8000 <= int(drifts[0].position.event_id[1:]) < 10_000, drifts

    view = gather(cfg, bootstrap_servers)
    assert view["performance"]["metric"] == "accuracy"
    assert set(view["performance"]["realised"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    text = render(cfg, view)
    assert "estimated without labels" in text and "realised" in text, text
