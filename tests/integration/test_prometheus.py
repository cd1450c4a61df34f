"""A real Prometheus scrapes the three roles: every dashboard query has data, the alert rules
load and fire, and its counters equal what the topics hold.

Prometheus is Debian's package (``apt-get install -y prometheus``: ``/usr/bin/prometheus``
and ``promtool``), run by the test on a free loopback port with a temporary configuration
and storage, scraping every second, and stopped by it. Without the binary the test fails.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from roles_support import fresh_config, learned_all, produce, run_until

from driftline.stream.synthetic import Drift, generate

pytestmark = pytest.mark.integration

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
DASHBOARD = DASHBOARDS / "driftline.json"
ALERT_RULES = DASHBOARDS / "alerts.yml"
JOB = "driftline"  # the scrape job the alert rules expect (dashboards/prometheus.yml)

SHIFT = [Drift("income mean shift", "data_drift", "income", 5000, "x1.5")]
BAD = [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"id": "x", "ts": 1, "features": {"income": "high"}}']

#: Grafana's interval variables, at durations that suit a 1 s scrape
INTERVALS = {"__rate_interval": "15s", "__interval": "5s", "__interval_ms": "5000", "__range": "1m",
             "__range_s": "60", "__range_ms": "60000"}


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(path).is_file():
        pytest.fail("the prometheus binary is missing: install Debian's package "
                    "(apt-get update && apt-get install -y prometheus); .ci/run does")
    return path


def free_port_run(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports (the roles' metrics port base)."""
    for _ in range(100):
        base = random.randint(20000, 60000)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise AssertionError(f"no {n} consecutive free ports")


class Prometheus:
    """A Prometheus process of the test's (started by the test, stopped by the fixture) and its HTTP API."""

    def __init__(self, workdir: Path, targets: list[str]):
        self.workdir = workdir
        self.port = free_port_run(1)
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERT_RULES)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log_path = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Run the binary (in the test, so that a missing one fails the test) and wait until it is ready."""
        binary = prometheus_binary()
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.wait_ready()

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path} {params}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return data["result"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        result = self.query(expr, at)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def metrics_base() -> int:
    return free_port_run(4)


@pytest.fixture
def prometheus(tmp_path: Path, metrics_base: int) -> Iterator[Prometheus]:
    """Prometheus to scrape the monitor, learner, actions roles and the judge at metrics_base + 0, 1, 2, 3.

    The test starts it (``start()``); it is stopped here, whatever the test did.
    """
    prom = Prometheus(tmp_path, [f"127.0.0.1:{metrics_base + i}" for i in range(4)])
    try:
        yield prom
    finally:
        prom.stop()


def read_whole(bootstrap: str, topic: str, quiet: float = 1.0) -> list[Any]:
    """Every record of ``topic``: polled until none came for ``quiet`` s, up to each high watermark."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        assert parts, f"topic {topic} has no partitions"
        consumer.assign(parts)
        consumer.seek_to_beginning()
        out: list[Any] = []
        last = time.monotonic()
        while time.monotonic() - last < quiet or any(consumer.highwater(tp) is None for tp in parts):
            fetched = consumer.poll(timeout_ms=200)
            for msgs in fetched.values():
                out += msgs
            if any(fetched.values()):
                last = time.monotonic()
            assert time.monotonic() - last < 30, f"no high watermark of {topic} after 30 s"
        for tp in parts:
            assert consumer.position(tp) == consumer.highwater(tp), (tp, consumer.position(tp), consumer.highwater(tp))
        assert len(out) == sum(consumer.highwater(tp) for tp in parts)
        return out
    finally:
        consumer.close()


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel, rows' panels included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            out.extend((panel.get("title", ""), t["expr"]) for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return out


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's ``$name``, ``${name}`` and ``${name:format}`` replaced; an unknown one fails."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in variables, f"dashboard variable ${name} (in {expr!r}) has no value in this test"
        return variables[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)


class Scenario:
    """The roles' run, step by step: produce once all three are scraped, then wait until the
    roles caught up, Prometheus's counters equal theirs and the drift rules fired, for 3 s."""

    def __init__(self, prom: Prometheus, bootstrap: str, topic: str, values: list[bytes]):
        self.prom, self.bootstrap, self.topic, self.values = prom, bootstrap, topic, values
        self.produced = False
        self.settled: tuple[float, tuple[Any, ...]] | None = None
        self.at: float | None = None
        # /api/v1/rules and /api/v1/alerts at ``at``: the rules evaluated on the roles' series
        self.rules: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []

    def __call__(self, runner: Any) -> bool:
        prom = self.prom
        if not self.produced:  # the roles' series exist before their first alert or dead letter
            if len(prom.query(f'up{{job="{JOB}"}} == 1')) < 4:
                return False
            produce(self.bootstrap, self.topic, self.values)
            self.produced = True
            return False
        stats = runner.stats
        alerts = stats["judge"].alerts + stats["learner"].alerts
        theirs = (len(self.values), alerts, stats["learner"].quarantined, stats["monitor"].dead_letters, 0.0)
        if not learned_all(runner, len(self.values)) or stats["actions"].consumed < alerts \
                or stats["actions"].actions < 1:
            return False
        scraped = (prom.value('sum(driftline_events_consumed_total{role="learner"})'),
                   prom.value("sum(driftline_alerts_total)"), prom.value("sum(driftline_quarantined_events_total)"),
                   prom.value("sum(driftline_dead_letters_total)"), prom.value("sum(driftline_consumer_lag)"))
        firing = {a["metric"]["alertname"] for a in prom.query('ALERTS{alertstate="firing"}')}
        champion = prom.value("max(driftline_champion_version)")
        if scraped != tuple(float(x) for x in theirs) or champion is None \
                or not {"DriftlineDrift", "DriftlineDeadLetters"} <= firing:
            self.settled = None
            return False
        now = time.time()
        if self.settled is None or self.settled[1] != theirs:
            self.settled = (now, theirs)
            return False
        if now - self.settled[0] < 3.0:  # three more scrapes and evaluations, nothing new
            return False
        self.rules = prom.api("rules")["groups"]
        self.alerts = prom.api("alerts")["alerts"]
        self.at = now
        return True


def test_dashboard_and_alert_rules_on_a_real_prometheus(
    bootstrap_servers: str, prometheus: Prometheus, metrics_base: int, tmp_path: Path
) -> None:
    prometheus.start()
    cfg = fresh_config(
        bootstrap_servers,
        policies=[{"when": {"kind": "data_drift", "severity": "drift"}, "do": ["quarantine"]}],
    )
    cfg = cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"port": metrics_base, "host": "127.0.0.1"}),
                                 "state_dir": str(tmp_path / "state")})
    values: list[bytes] = [orjson.dumps(e) for e in generate(9000, SHIFT, seed=3)]
    for i, raw in enumerate(BAD):
        values.insert(2500 + i * 500, raw)

    scenario = Scenario(prometheus, bootstrap_servers, cfg.topics.events, values)
    run_until(cfg, bootstrap_servers, ["monitor", "learner", "actions"], scenario,
              "Prometheus to scrape the roles' final counters and fire the drift alert")
    at = scenario.at
    assert at is not None

    # the counters equal what the topics hold, read whole
    alerts = [orjson.loads(m.value) for m in read_whole(bootstrap_servers, cfg.topics.alerts)]
    held = read_whole(bootstrap_servers, cfg.topics.quarantine)
    dead = read_whole(bootstrap_servers, cfg.topics.deadletter)
    assert alerts and held
    assert prometheus.value("sum(driftline_alerts_total)", at) == len(alerts)
    assert prometheus.value("sum(driftline_quarantined_events_total)", at) == len(held)
    assert prometheus.value("sum(driftline_dead_letters_total)", at) == len(dead) == len(BAD)
    by_kind = {(s["metric"]["kind"], s["metric"]["severity"]): float(s["value"][1])
               for s in prometheus.query("sum by (kind, severity) (driftline_alerts_total)", at)}
    assert by_kind == {k: float(n) for k, n in Counter((a["kind"], a["severity"]) for a in alerts).items()}

    # every query of every panel, the dashboard's variables substituted, has data
    variables = {**INTERVALS, "stream": f"({cfg.stream.name})", "datasource": "Prometheus"}
    queries = dashboard_queries()
    assert len(queries) >= 11
    empty, miscounted = [], []
    for title, expr in queries:
        result = prometheus.query(substitute(expr, variables), at)
        if not any(float(s["value"][1]) == float(s["value"][1]) for s in result):  # a value, not NaN
            empty.append((title, expr, result))
        # a per-5-min panel of alerts or dead letters counts them all (the run is shorter), the
        # first of each series included (it appears at 1, where increase() alone sees none)
        for metric, n in (("driftline_alerts_total", len(alerts)), ("driftline_dead_letters_total", len(dead))):
            if f"increase({metric}" in expr.replace(" ", "") and \
                    round(sum(float(s["value"][1]) for s in result), 6) != n:
                miscounted.append((title, n, result))
    assert not empty, f"dashboard queries without data: {empty}"
    assert not miscounted, f"dashboard panels that miscount: {miscounted}"

    # the shipped rules load and evaluate without error; what fired is what happened
    rules = [r for g in scenario.rules for r in g["rules"]]
    assert {g["file"] for g in scenario.rules} == {str(ALERT_RULES)} and len(rules) >= 10
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy, unhealthy
    firing = [a for a in scenario.alerts if a["state"] == "firing"]
    assert {a["labels"]["alertname"] for a in firing} == {"DriftlineDrift", "DriftlineDeadLetters"}, firing
    drift = {a["labels"]["kind"] for a in firing if a["labels"]["alertname"] == "DriftlineDrift"}
    assert drift == {a["kind"] for a in alerts if a["severity"] == "drift"}
    assert all("error expanding template" not in text for a in firing for text in a["annotations"].values()), firing
    income = next(a for a in firing if a["labels"].get("kind") == "data_drift")
    assert income["labels"]["stream"] == cfg.stream.name and income["labels"]["severity"] == "warning"
    assert "driftline report CONFIG --since 1h" in income["annotations"]["runbook"]
