"""A report opens in a real headless browser: every promised plot renders, no JavaScript error.

Uses Debian's ``chromium`` (``.ci/run`` installs it when missing). The page counts its
rendered plots and records its errors in ``#driftline-report-status``; ``--dump-dom``
prints the DOM after the load event, with virtual time left for plotly to finish.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from driftline.consumers.cli.main import main

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

CONFIG = """
stream:
  name: browser
  features: {income: numeric, age: numeric, score: numeric, country: categorical, device: categorical}
  label: {field: label, type: binary}
  prediction: {field: prediction, type: binary}
reference: {first_n: 3000}
learner: {preprocessing: [river.preprocessing.StandardScaler]}
policies:
  - when: {kind: data_drift, feature: income}
    do: [quarantine]
  - when: {kind: concept_drift}
    do: [rollback, retrain]
"""


def open_in_chromium(page: Path, profile: Path, dom: list[str] | None = None) -> dict[str, str]:
    assert Path(CHROMIUM).exists(), "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    if dom is not None:
        dom.append(proc.stdout)
    tag = re.search(r'<div id="driftline-report-status"[^>]*>', proc.stdout)
    assert tag, "the status element is missing from the rendered page"
    return dict(re.findall(r'(data-[a-z]+)="([^"]*)"', tag.group(0)))


def test_backtest_report_renders_every_plot_without_errors(tmp_path: Path) -> None:
    from driftline.stream.synthetic import default_drifts, generate

    n = 30_000
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(n, default_drifts(n), seed=4)))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    report = tmp_path / "report.html"
    assert main(["backtest", str(config), "--input", str(events), "--output", str(tmp_path / "a.jsonl"),
                 "--report", str(report)]) == 0
    page = report.read_text()
    # the promised plots: timeline, a statistic plot per detector, distributions, the learner
    for key in ("timeline", "stat-ks-income", "stat-chi2-country", "stat-ks-age", "stat-bernoulli-error",
                "dist-ks-income", "dist-chi2-country", "learner"):
        assert f'id="plot-{key}"' in page, key
    started = time.perf_counter()
    status = open_in_chromium(report, tmp_path / "profile")
    seconds = time.perf_counter() - started
    assert status["data-errors"] == "[]", status["data-errors"]
    assert int(status["data-plots"]) == int(status["data-expected"]) >= 8, status
    assert seconds < 60


def test_the_estimated_and_realised_performance_are_drawn_on_one_axis(tmp_path: Path) -> None:
    """A classifier with a score: the report's performance plot shows the estimate (CBPE) and,
    the events being labelled, the realised accuracy of the same windows."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import performance_streams as ps

    stream = ps.classification("covariate", n=14_000, shift_at=9000, labelled=14_000, seed=5)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(stream.raws) + b"\n")
    config = tmp_path / "config.yaml"
    config.write_text(ps.config_text(first_n=4000))
    report = tmp_path / "report.html"
    assert main(["backtest", str(config), "--input", str(events), "--output", str(tmp_path / "a.jsonl"),
                 "--report", str(report)]) == 0
    page = report.read_text()
    assert 'id="plot-performance"' in page and "stat-cbpe-accuracy" in page
    dom: list[str] = []
    status = open_in_chromium(report, tmp_path / "profile", dom)
    assert status["data-errors"] == "[]", status["data-errors"]
    assert int(status["data-plots"]) == int(status["data-expected"]), status
    plot = dom[0][dom[0].index('id="plot-performance"'):]
    plot = plot[:plot.index('class="driftline-figure"')]  # the rendered plot, not its JSON spec
    # both series drawn (their legend entries) and the performance alert marked (a dotted line)
    assert 'data-unformatted="estimated accuracy"' in plot and 'data-unformatted="realised accuracy"' in plot
    assert plot.count('class="scatterlayer') == 1 and plot.count('class="trace scatter') >= 3


def test_the_segment_table_and_an_alerts_ranking_are_shown(tmp_path: Path) -> None:
    """Segments by country on a stream whose accuracy falls with x2's shift: the report's
    segment table (a row per country, its realised accuracy and alerts), each segment's
    accuracy over time, and beside the stream-level concept alert its segment and feature
    rankings, the feature that shifted into the errors first."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import segments_streams as ss

    stream = ss.make("covariate", n=16_000, shift_at=10_000, countries=5, share=0.2, seed=2)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(stream.raws) + b"\n")
    config = tmp_path / "config.yaml"
    config.write_text(ss.config_text(first_n=4000, segments="{by: [country], min_events: 800}",
                                     detectors="[{name: concept, method: bernoulli, kind: concept_drift, "
                                               "options: {direction: up}}]"))
    report = tmp_path / "report.html"
    assert main(["backtest", str(config), "--input", str(events), "--output", str(tmp_path / "a.jsonl"),
                 "--report", str(report)]) == 0
    page = report.read_text()
    assert 'id="plot-segments"' in page
    table = page[page.index('<table class="segments">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") == 1 + 5 and "country=DE" in table
    ranking = page[page.index('<table class="feature-ranking">'):]
    assert ranking.index(">x2<") < min(ranking.index(f">{f}<") for f in ("x0", "x1", "x3"))
    assert '<table class="segment-ranking">' in page
    status = open_in_chromium(report, tmp_path / "profile")
    assert status["data-errors"] == "[]", status["data-errors"]
    assert int(status["data-plots"]) == int(status["data-expected"]), status
