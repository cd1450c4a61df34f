"""Changes confined to one segment, on a real broker: the live roles (three partitions) give
the same segment alerts, ids included, as a backtest of the same events."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import orjson
import pytest
from roles_support import fresh_config, produce, run_until

from driftline.consumers.config.segments import SegmentsConfig
from driftline.consumers.core.backtest import backtest
from driftline.stream.kafka.records import read_topic
from driftline.stream.messages import Alert

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import segments_streams as ss

pytestmark = pytest.mark.integration

N, SHIFT, PARTITIONS = 8000, 5000, 3
FEATURES = {"country": "categorical", "gender": "categorical", "x0": "numeric", "x1": "numeric", "x2": "numeric",
            "x3": "numeric"}


@pytest.mark.parametrize("kind, kinds", [("confined", {"concept_drift"}), ("segment_shift", {"data_drift"})])
def test_live_roles_give_the_backtest_segment_alerts(bootstrap_servers: str, tmp_path: Path, kind: str,
                                                     kinds: set[str]) -> None:
    """The learner's segment alerts (a concept change in DE) and the judge's (x0 moving in DE)."""
    stream = ss.make(kind, n=N, shift_at=SHIFT, countries=4, share=0.3, seed=11)
    cfg = fresh_config(bootstrap_servers, reference=2000, partitions=PARTITIONS, features=FEATURES)
    cfg = cfg.model_copy(update={"segments": SegmentsConfig(by=["country"], features=["x0"], min_events=1000)})
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(stream.raws) + b"\n")
    expected = [a for a in backtest(cfg, tmp_path / "events.jsonl").alerts if a.segment is not None]
    assert any(a.segment == {"country": "DE"} and a.severity == "drift" and a.kind in kinds for a in expected)

    parts: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    for raw in stream.raws:
        parts[zlib.crc32(orjson.loads(raw)["id"].encode()) % PARTITIONS].append(raw)
    for p, raws in parts.items():
        produce(bootstrap_servers, cfg.topics.events, raws, partition=p)
    run_until(cfg, bootstrap_servers, ["monitor", "learner"],
              lambda r: r.stats["learner"].extra.get("seen", 0) >= N, "the learner to score every event", timeout=180)
    live = [Alert.from_json(m.value) for m in read_topic(bootstrap_servers, cfg.topics.alerts)]
    assert sorted(a.alert_id for a in live if a.segment is not None) == sorted(a.alert_id for a in expected)
