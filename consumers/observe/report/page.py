"""``driftline report``: one self-contained HTML file of what driftline saw.

A :class:`ReportData` is drawn either from a backtest (:func:`from_backtest`, x axis = event
offset) or from the live topics (:mod:`driftline.consumers.observe.report.live`, x axis = time), and
:func:`render_html` writes it as one file that opens with no network: plotly.js is inlined
once per page, the figures follow. The page records its own JavaScript errors and the
number of plots rendered in ``#driftline-report-status`` (``data-plots``, ``data-expected``,
``data-errors``), which the headless-browser test reads.
"""

from __future__ import annotations

import html
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from driftline.consumers.core.policies import actions_for
from driftline.consumers.observe.report import plots
from driftline.consumers.observe.report import segments as segment_view
from driftline.consumers.observe.series import DetectorInfo, Series
from driftline.stream.messages import Alert

#: distributions drawn per detector: its first alerts (the dropdown lists these)
MAX_DISTRIBUTIONS = 20


@dataclass
class ReportData:
    stream: str
    source: str
    time_axis: bool
    events: int = 0
    alerts: list[Alert] = field(default_factory=list)
    #: (action, status) -> count
    actions: Counter[tuple[str, str]] = field(default_factory=Counter)
    quarantined: int = 0
    dead_letters: int = 0
    info: dict[str, DetectorInfo] = field(default_factory=dict)
    series: dict[tuple[str, int], Series] = field(default_factory=dict)
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    learner: Series = field(default_factory=Series)
    metric_name: str = "accuracy"
    #: (start x, end x, why)
    quarantine_spans: list[tuple[float, float, str]] = field(default_factory=list)
    #: (x, label): rollbacks, promotions, retrains
    model_events: list[tuple[float, str]] = field(default_factory=list)
    #: the performance estimate's windows: estimated and (where labelled) realised metrics
    performance: list[dict[str, Any]] = field(default_factory=list)
    #: the learner's segments (``SegmentWatch.table``): key, events, error rate, alerts, series
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def x_title(self) -> str:
        return "time (UTC)" if self.time_axis else "event (line of the input file)"


def severity_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per watched column, most drifted first: drifts, then warnings, then max stat/threshold."""
    names = set(data.info) | {a.detector for a in data.alerts}
    rows = []
    for name in names:
        info = data.info.get(name)
        alerts = [a for a in data.alerts if a.detector == name]
        ratio = 0.0
        for (det, _), s in data.series.items():
            if det == name:
                ratio = max([ratio, *(st / th for st, th in zip(s.statistic, s.threshold)
                                      if math.isfinite(st) and math.isfinite(th) and th > 0)])
        first = alerts[0] if alerts else None
        rows.append({
            "detector": name,
            "watches": (info.feature if info else None) or (first.feature if first else None)
            or (info.target if info else first.kind if first else ""),
            "kind": info.kind if info else (first.kind if first else ""),
            "drifts": sum(a.severity == "drift" for a in alerts),
            "warnings": sum(a.severity == "warning" for a in alerts),
            "peak": ratio,
            "first_drift": next((a for a in alerts if a.severity == "drift"), None),
        })
    rows.sort(key=lambda r: (-r["drifts"], -r["warnings"], -r["peak"], r["detector"]))
    return rows


def from_backtest(cfg: Any, result: Any, recorder: Any, source: str) -> ReportData:
    """The report of a backtest run with a :class:`~driftline.consumers.observe.stats.StatsRecorder`."""

    data = ReportData(stream=cfg.stream.name, source=source, time_axis=False, events=result.events,
                      alerts=list(result.alerts), quarantined=result.quarantined, dead_letters=len(result.rejects) + len(getattr(result, "unusable", [])),
                      info=dict(recorder.info), series=dict(recorder.series), distributions=dict(recorder.distributions),
                      learner=recorder.learner, metric_name=_metric_name(cfg),
                      performance=list(recorder.performance))
    watch = getattr(getattr(result, "learner", None), "segments", None)
    if watch is not None:
        estimated = result.monitor.segments.estimated() if getattr(result.monitor, "segments", None) else {}
        data.segments = [{**row, "estimated": estimated.get(segment_view.segment_name(row["segment"]))}
                         for row in watch.table()]
    end = float(max(result.events - 1, 0))
    for alert in data.alerts:
        for action, _rule in actions_for(cfg.policies, alert):
            data.actions[(action, "would be taken")] += 1
            if action == "quarantine":
                data.quarantine_spans.append((float(alert.position.offset), end, alert.detector))
            else:
                data.model_events.append((float(alert.position.offset), action))
    return data


def _metric_name(cfg: Any) -> str:
    label = getattr(cfg.stream, "label", None)
    return "MAE" if label is not None and label.type == "regression" else "accuracy"


def render_html(data: ReportData) -> str:
    """The whole page: summary, alert timeline, per-detector statistic and distributions, learner."""
    figures: list[tuple[str, str, Any]] = [("timeline", "Alert timeline", plots.timeline(data))]
    rows = severity_rows(data)
    for row in rows:
        name = row["detector"]
        series = {p: s for (d, p), s in data.series.items() if d == name and len(s)}
        alerts = [a for a in data.alerts if a.detector == name]
        if series or alerts:
            figures.append((f"stat-{name}", name, plots.statistic(data, name, series, alerts)))
        shown = [a for a in alerts if a.alert_id in data.distributions][:MAX_DISTRIBUTIONS]
        if shown:
            figures.append((f"dist-{name}", name, plots.distributions(data, name, shown)))
    if data.performance:
        figures.append(("performance", "Performance", plots.performance(data)))
    if len(data.learner):
        figures.append(("learner", "Learner", plots.learner(data)))
    if data.segments:
        figures.append(("segments", "Segments", segment_view.figure(data.segments, data)))
    body = [_summary(data, rows)]
    section = None
    for key, title, fig in figures:
        if key.startswith(("stat-", "dist-")) and section != "detectors":
            section = "detectors"
            body.append("<h2>Per detector, most drifted first</h2>")
        elif key == "performance":
            body.append("<h2>Performance: estimated without labels, and realised</h2>")
        elif key == "learner":
            body.append("<h2>Learner</h2>")
        elif key == "segments":
            body += ["<h2>Segments</h2>", segment_view.table(data.segments, data.alerts, data.metric_name),
                     segment_view.rankings(data.alerts, data.time_axis)]
        spec = pio.to_json(fig, validate=False).replace("</", "<\\/")
        body.append(f'<div class="figure" data-plot="{html.escape(key)}"><div id="plot-{html.escape(key)}" '
                    f'class="plotly-graph-div" style="height:{fig.layout.height or 300}px"></div>'
                    f'<script type="application/json" class="driftline-figure">{spec}</script></div>')
    return _page(data, "\n".join(body), len(figures))


def write_report(data: ReportData, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render_html(data), encoding="utf-8")
    return path


def _summary(data: ReportData, rows: list[dict[str, Any]]) -> str:
    drifts = sum(a.severity == "drift" for a in data.alerts)
    actions = ", ".join(f"{a} {s}: {n}" for (a, s), n in sorted(data.actions.items())) or "none"
    cards = [("events", f"{data.events:,}"), ("drift alerts", drifts), ("warnings", len(data.alerts) - drifts),
             ("quarantined events", f"{data.quarantined:,}"), ("dead letters", data.dead_letters)]
    out = ['<div class="cards">'] + [f'<div class="card"><b>{v}</b><span>{k}</span></div>' for k, v in cards]
    out += ["</div>", f"<p>Actions: {html.escape(actions)}</p>",
            "<table><tr><th>detector</th><th>watches</th><th>kind</th><th>drifts</th><th>warnings</th>"
            "<th>peak statistic / threshold</th><th>first drift at</th></tr>"]
    for r in rows:
        first = r["first_drift"]
        where = "" if first is None else (
            f"offset {first.position.offset}" if not data.time_axis
            else plots.xs(data, [first.detected_at])[0].strftime("%Y-%m-%d %H:%M:%S"))
        cls = "drift" if r["drifts"] else ("warning" if r["warnings"] else "")
        out.append(f'<tr class="{cls}"><td><a href="#plot-stat-{html.escape(r["detector"])}">{html.escape(r["detector"])}'
                   f'</a></td><td>{html.escape(str(r["watches"]))}</td><td>{r["kind"]}</td><td>{r["drifts"]}</td>'
                   f'<td>{r["warnings"]}</td><td>{r["peak"]:.2f}</td><td>{where}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


_STYLE = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}.cards{display:flex;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:1.6em}.card span{color:#666}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:4px 8px;text-align:left}tr.drift td{background:#fde8e8}
tr.warning td{background:#fff4e0}.figure{margin:8px 0}.side{display:flex;gap:16px;align-items:flex-start}"""

_GUARD = """<script>window.__driftlineErrors=[];
window.addEventListener('error',function(e){window.__driftlineErrors.push(String(e.message||e));});
window.addEventListener('unhandledrejection',function(e){window.__driftlineErrors.push(String(e.reason));});
(function(){var c=console.error;console.error=function(){window.__driftlineErrors.push(
Array.prototype.join.call(arguments,' '));c.apply(console,arguments);};})();</script>"""

_STATUS = """<script>(function(){
var el=document.getElementById('driftline-report-status'),t0=performance.now();
function status(){var n=0;document.querySelectorAll('.js-plotly-plot').forEach(function(p){
if(p._fullLayout&&p.querySelector('.main-svg'))n++;});el.setAttribute('data-plots',String(n));
el.setAttribute('data-errors',JSON.stringify(window.__driftlineErrors));
el.setAttribute('data-ms',String(Math.round(performance.now())));}
/* draw the figures one after the other, yielding to the browser in between: the page
   shows its summary and first plots at once and stays responsive while the rest draw */
var specs=Array.prototype.slice.call(document.querySelectorAll('script.driftline-figure'));
function next(i){if(i>=specs.length){status();return;}
if(i===3)el.setAttribute('data-first-ms',String(Math.round(performance.now())));
var s=specs[i],fig=JSON.parse(s.textContent),div=s.previousElementSibling;
Plotly.newPlot(div,fig.data,fig.layout,{displaylogo:false,responsive:true}).then(function(){
setTimeout(function(){next(i+1);},0);},function(e){window.__driftlineErrors.push(String(e));next(i+1);});}
window.driftlineStatus=status;next(0);})();</script>"""


def _page(data: ReportData, body: str, expected: int) -> str:
    made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>driftline report: '
        f"{html.escape(data.stream)}</title><style>{_STYLE}</style>{_GUARD}"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>driftline report: {html.escape(data.stream)}</h1>"
        f'<p class="sub">{html.escape(data.source)}; generated {made}</p>{body}'
        f'<div id="driftline-report-status" data-expected="{expected}" data-plots="0" data-errors="[]" '
        f'hidden></div>{_STATUS}</body></html>'
    )
