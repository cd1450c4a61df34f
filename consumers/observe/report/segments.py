"""The report's segments: their table, each one's metric over time, and the rankings of the
stream-level alerts that carry them (``details.segment_ranking``, ``details.feature_ranking``)."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from driftline.consumers.core.segments.slicing import segment_label as segment_name
from driftline.consumers.observe.report.plots import LAYOUT, xs
from driftline.stream.messages import Alert

#: ranked stream-level alerts shown, at most
MAX_RANKINGS = 10


def _metric(error_rate: float | None, metric: str) -> str:
    if error_rate is None:
        return ""
    return f"{error_rate:.4f}" if metric == "MAE" else f"{1.0 - error_rate:.4f}"


def table(rows: list[dict[str, Any]], alerts: list[Alert], metric: str) -> str:
    """One row per segment: events, realised metric, estimated metric (when known), alerts."""
    out = [('<table class="segments"><tr><th>segment</th><th>events</th>'
           f"<th>realised {html.escape(metric)}</th><th>estimated {html.escape(metric)}</th>"
           "<th>drifts</th><th>warnings</th></tr>")]
    for r in rows:
        mine = [a for a in alerts if a.segment == r["segment"]]
        drifts = sum(a.severity == "drift" for a in mine)
        cls = "drift" if drifts else ("warning" if mine else "")
        estimated = r.get("estimated")
        out.append(f'<tr class="{cls}"><td>{html.escape(segment_name(r["segment"]))}</td><td>{r["events"]:,}</td>'
                   f'<td>{_metric(r["error_rate"], metric)}</td>'
                   f'<td>{"" if estimated is None else f"{estimated:.4f}"}</td>'
                   f"<td>{drifts}</td><td>{len(mine) - drifts}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def rankings(alerts: list[Alert], time_axis: bool) -> str:
    """Beside each ranked alert: the segments whose error rate rose most, and the features whose
    shift explains most of it."""
    out = []
    for alert in [a for a in alerts if "segment_ranking" in a.details][:MAX_RANKINGS]:
        where = f"offset {alert.position.offset}" if not time_axis else f"event {alert.position.event_id}"
        method = alert.details.get("attribution", {}).get("method", "")
        segs = "".join(
            f'<tr><td>{html.escape(segment_name(e["segment"]))}</td><td>{e["before"]["events"]:,}</td>'
            f'<td>{e["after"]["events"]:,}</td><td>{e["rise"]:+.4f}</td><td>{e["p_value"]:.3g}</td></tr>'
            for e in alert.details["segment_ranking"])
        feats = "".join(
            f'<tr><td>{html.escape(e["feature"])}</td><td>{e["explained"]:+.4f}</td><td>{e["shift"]:.3f}</td></tr>'
            for e in alert.details.get("feature_ranking", []))
        out.append(
            f'<div class="ranking" data-alert="{html.escape(alert.alert_id)}"><h3>{html.escape(alert.detector)} '
            f"{alert.severity} at {where}</h3><div class=\"side\">"
            '<table class="segment-ranking"><tr><th>segment</th><th>events before</th><th>events after</th>'
            f"<th>error rate rise</th><th>p-value (one-sided)</th></tr>{segs}</table>"
            '<table class="feature-ranking"><tr><th>feature</th><th>error change its shift explains</th>'
            f"<th>shift (total variation)</th></tr>{feats}</table></div>"
            f'<p class="sub">{html.escape(method)}</p></div>')
    return "\n".join(out)


def figure(rows: list[dict[str, Any]], data: Any) -> go.Figure:
    """Each segment's realised metric per ``segments.every`` of its events."""
    fig = go.Figure()
    for r in rows:
        series = r["series"]
        x = xs(data, [float(p[0] if data.time_axis else p[1]) for p in series])
        y = [p[3] if data.metric_name == "MAE" else 1.0 - p[3] for p in series]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=segment_name(r["segment"])))
    fig.update_layout(**LAYOUT, title=f"Segments: realised {data.metric_name} over time", xaxis_title=data.x_title,
                      yaxis_title=data.metric_name)
    return fig
