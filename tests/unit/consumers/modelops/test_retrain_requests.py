"""Retrain requests: one retrain queued or running per stream; alerts debounced, schedules not."""

from __future__ import annotations

import threading

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.modelops.retrain import RetrainWorker
from driftline.stream.messages import Alert


def _cfg() -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "stream": {"name": "s", "features": {"x": "numeric"}, "label": {"field": "label", "type": "binary"}},
        "reference": {"first_n": 100},
        "models": {"retrain": {"debounce_seconds": 600, "schedule": {"interval_seconds": 60}}},
    })


def _alert(n: int) -> Alert:
    return Alert.model_validate({
        "alert_id": f"a{n}", "stream": "s", "kind": "concept_drift", "severity": "drift", "feature": None,
        "detector": "ddm", "statistic": 1.0, "p_value": None, "threshold": 0.5,
        "position": {"partition": 0, "offset": 1000 * n}, "window": {"reference_n": 0, "current_n": 0}, "detected_at": 0,
    })


def _drain(worker: RetrainWorker) -> list[str]:
    keys = []
    while not worker._queue.empty():
        keys.append(worker._queue.get_nowait().key)
    return keys


def test_a_schedule_neither_is_debounced_nor_debounces_the_alerts() -> None:
    worker = RetrainWorker(_cfg(), "unused:9092", ops=None)  # type: ignore[arg-type]  # never started
    assert worker.request(None, None, "schedule:1").status == "started"
    skipped = worker.request(_alert(1), 0, "a1")
    assert skipped.status == "skipped" and "already running or queued" in skipped.detail
    assert _drain(worker) == ["schedule:1"]
    # the schedule's retrain is done: an alert's retrain starts at once (a schedule is no drift storm)
    assert worker.request(_alert(2), 0, "a2").status == "started"
    assert _drain(worker) == ["a2"]
    # a second alert within debounce_seconds of the first is the same storm: skipped
    storm = worker.request(_alert(3), 0, "a3")
    assert storm.status == "skipped" and "debounce 600 s" in storm.detail
    # while a schedule is not debounced by it
    assert worker.request(None, None, "schedule:2").status == "started"
    assert _drain(worker) == ["schedule:2"]


def test_concurrent_requests_queue_exactly_one_retrain() -> None:
    worker = RetrainWorker(_cfg(), "unused:9092", ops=None)  # type: ignore[arg-type]
    go = threading.Barrier(8)
    statuses: list[str] = []

    def ask(i: int) -> None:
        go.wait()
        statuses.append(worker.request(None, None, f"schedule:{i}").status)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["skipped"] * 7 + ["started"]
    assert len(_drain(worker)) == 1


def test_a_job_cut_short_by_the_shutdown_is_no_failure_and_records_nothing(caplog) -> None:
    """Stopping while a retrain runs: its clients close under it. That is said in one warning
    (the job is resumed at the next start, its request having no outcome), not audited as failed."""
    import logging

    class ClosedOps:
        audited: list = []

        def audit(self, record) -> None:
            self.audited.append(record)

    worker = RetrainWorker(_cfg(), "unused:9092", ops=ClosedOps())  # type: ignore[arg-type]
    started = threading.Event()

    def run(job):
        started.set()
        worker._stop.wait(5)  # the shutdown begins while the job runs ...
        raise RuntimeError("KafkaProducer already closed!")  # ... and closes the clients under it

    worker._run = run  # type: ignore[method-assign]
    worker.request(_alert(1), 0, "a1")
    worker.start()
    assert started.wait(5)
    with caplog.at_level(logging.WARNING, logger="driftline"):
        worker.close()
    assert ClosedOps.audited == []
    assert "cut short by the shutdown" in caplog.text and "failed" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
