"""The figures of a drift report, as plotly figures (interactive: zoom, hover values).

Every function takes a :class:`~driftline.consumers.observe.report.page.ReportData` (or part of it) and
returns one ``plotly.graph_objects.Figure``; :mod:`driftline.consumers.observe.report.page` lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from driftline.consumers.observe.series import Series
from driftline.stream.messages import Alert

if TYPE_CHECKING:
    from driftline.consumers.observe.report.page import ReportData

SEVERITY_COLOR = {"drift": "#d62728", "warning": "#ff7f0e"}
KIND_SYMBOL = {"data_drift": "circle", "label_drift": "square", "prediction_drift": "diamond",
               "concept_drift": "x", "data_quality": "triangle-up", "performance": "star"}
LAYOUT = dict(template="plotly_white", height=300, margin=dict(l=60, r=20, t=40, b=40), hovermode="closest")


def xs(data: ReportData, values: Sequence[float]) -> list[Any]:
    """Axis values: datetimes for a live report (epoch ms), event offsets for a backtest."""
    if data.time_axis:
        return [datetime.fromtimestamp(v / 1000, tz=timezone.utc) for v in values]
    return list(values)


def alert_x(data: ReportData, alert: Alert) -> float:
    return float(alert.detected_at if data.time_axis else alert.position.offset)


def _label(alert: Alert) -> str:
    if alert.feature:
        return alert.feature
    return alert.detector if alert.kind in ("data_drift", "data_quality") else alert.kind.replace("_drift", "")


def timeline(data: ReportData) -> go.Figure:
    """Every alert, one row per feature (or label, prediction, error), coloured by severity."""
    fig = go.Figure()
    for severity in ("warning", "drift"):
        alerts = [a for a in data.alerts if a.severity == severity]
        fig.add_trace(go.Scatter(
            x=xs(data, [alert_x(data, a) for a in alerts]), y=[_label(a) for a in alerts], mode="markers",
            name=severity, marker=dict(color=SEVERITY_COLOR[severity], size=11,
                                       symbol=[KIND_SYMBOL.get(a.kind, "circle") for a in alerts]),
            customdata=[[a.detector, a.kind, a.statistic, a.p_value, a.position.offset] for a in alerts],
            hovertemplate="%{y} by %{customdata[0]} (%{customdata[1]})<br>statistic %{customdata[2]:.4g}"
                          "<br>p %{customdata[3]:.3g}<br>offset %{customdata[4]}<extra>%{fullData.name}</extra>",
        ))
    rows = len({_label(a) for a in data.alerts})
    fig.update_layout(**{**LAYOUT, "height": max(220, 60 + 28 * rows)}, title="Alert timeline",
                      xaxis_title=data.x_title)
    return fig


def statistic(data: ReportData, name: str, series: dict[int, Series], alerts: list[Alert]) -> go.Figure:
    """One detector's statistic over time against its drift threshold, alerts marked."""
    fig = go.Figure()
    for partition, s in sorted(series.items()):
        suffix = f" p{partition}" if len(series) > 1 else ""
        x = xs(data, s.ts if data.time_axis else s.x)
        fig.add_trace(go.Scatter(x=x, y=s.statistic, mode="lines", name=f"statistic{suffix}", line=dict(width=1.5)))
        fig.add_trace(go.Scatter(x=x, y=s.threshold, mode="lines", name=f"threshold{suffix}",
                                 line=dict(dash="dash", color="#7f7f7f", width=1)))
    for severity in ("warning", "drift"):
        marks = [a for a in alerts if a.severity == severity]
        if marks:
            fig.add_trace(go.Scatter(
                x=xs(data, [alert_x(data, a) for a in marks]), y=[a.statistic for a in marks], mode="markers",
                name=f"{severity} alert", marker=dict(color=SEVERITY_COLOR[severity], size=10, symbol="x"),
            ))
    fig.update_layout(**LAYOUT, title=f"{name}: statistic against its threshold",
                      xaxis_title=data.x_title, yaxis_title="statistic")
    return fig


def distributions(data: ReportData, name: str, alerts: list[Alert]) -> go.Figure:
    """Reference against current distribution at each alert; a dropdown picks the alert."""
    fig = go.Figure()
    shown = [a for a in alerts if a.alert_id in data.distributions]
    buttons = []
    for i, alert in enumerate(shown):
        d = data.distributions[alert.alert_id]
        ref_total, cur_total = max(1, sum(d["reference"])), max(1, sum(d["current"]))
        if d["type"] == "numeric":
            edges = d["edges"]
            x = [(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:])]
        else:
            x = [f"{lvl} (new)" if lvl in d.get("new_levels", []) else lvl for lvl in d["levels"]]
        for which, counts, total, color in (("reference", d["reference"], ref_total, "#1f77b4"),
                                            ("current", d["current"], cur_total, "#d62728")):
            fig.add_trace(go.Bar(x=x, y=[c / total for c in counts], name=which, marker_color=color, opacity=0.6,
                                 visible=i == 0, legendgroup=which, showlegend=True,
                                 hovertemplate="%{x}: %{y:.2%}<extra>" + which + "</extra>"))
        where = f"offset {alert.position.offset}" if not data.time_axis \
            else xs(data, [alert.detected_at])[0].strftime("%Y-%m-%d %H:%M:%S UTC")
        new = d.get("new_levels") or []
        label = f"{alert.severity} @ {where}" + (f" (new: {', '.join(new[:5])})" if new else "")
        visible = [False] * (2 * len(shown))
        visible[2 * i] = visible[2 * i + 1] = True
        buttons.append(dict(label=label, method="update", args=[{"visible": visible}, {"title.text": f"{name}: {label}"}]))
    start = next((i for i, a in enumerate(shown) if a.severity == "drift"), 0)  # open on the first drift
    if shown and start:
        for i, trace in enumerate(fig.data):
            trace.visible = i // 2 == start
    first = buttons[start]["label"] if buttons else "no alert"
    fig.update_layout(**LAYOUT, barmode="overlay", bargap=0.05, title=f"{name}: {first}",
                      yaxis_title="share of window", yaxis_tickformat=".0%")
    if len(buttons) > 1:
        fig.update_layout(updatemenus=[dict(buttons=buttons, active=start, x=1.0, xanchor="right", y=1.25, yanchor="top")])
    return fig


def performance(data: ReportData) -> go.Figure:
    """The deployed model's estimated metric per window (CBPE, DLE) and, where the window's
    events were labelled, the realised one, on one axis; ``performance`` alerts marked."""
    windows = data.performance
    metric = str(windows[0].get("metric", "accuracy"))
    x = xs(data, [float(w["end_ts"] if data.time_axis else w["end_offset"]) for w in windows])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[w["estimated"].get(metric) for w in windows], mode="lines+markers",
                             name=f"estimated {metric}", line={"color": "#1f77b4"},
                             customdata=[[w["events"]] for w in windows],
                             hovertemplate="%{y:.4f} over %{customdata[0]} events<extra>estimated</extra>"))
    fig.add_trace(go.Scatter(x=x, y=[(w.get("realised") or {}).get(metric) for w in windows], mode="lines+markers",
                             name=f"realised {metric}", line={"color": "#2ca02c", "dash": "dash"},
                             customdata=[[w.get("labelled", 0)] for w in windows],
                             hovertemplate="%{y:.4f} on %{customdata[0]} labelled events<extra>realised</extra>"))
    values = [v for w in windows for v in (w["estimated"].get(metric), (w.get("realised") or {}).get(metric))
              if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    for alert in (a for a in data.alerts if a.kind == "performance"):
        fig.add_trace(go.Scatter(x=xs(data, [alert_x(data, alert)] * 2), y=[low, high], mode="lines",
                                 name=f"performance {alert.severity}", showlegend=False,
                                 line={"color": SEVERITY_COLOR[alert.severity], "dash": "dot"}))
    fig.update_layout(**LAYOUT, title=f"Deployed model: estimated and realised {metric} per window",
                      xaxis_title=data.x_title, yaxis_title=metric)
    return fig


def learner(data: ReportData) -> go.Figure:
    """The learner's rolling metric, with concept drifts, quarantines and model changes marked."""
    fig = go.Figure()
    s = data.learner
    fig.add_trace(go.Scatter(x=xs(data, s.ts if data.time_axis else s.x), y=s.statistic, mode="lines",
                             name=data.metric_name, line=dict(color="#2ca02c")))
    top = max(s.statistic, default=1.0)
    for alert in (a for a in data.alerts if a.kind == "concept_drift"):
        fig.add_trace(go.Scatter(x=xs(data, [alert_x(data, alert)] * 2), y=[0, top], mode="lines",
                                 name=f"concept {alert.severity}", showlegend=False,
                                 line=dict(color=SEVERITY_COLOR[alert.severity], dash="dot")))
    for start, end, why in data.quarantine_spans:
        fig.add_vrect(x0=xs(data, [start])[0], x1=xs(data, [end])[0], fillcolor="#9467bd", opacity=0.12,
                      line_width=0, annotation_text="quarantine", annotation_position="top left")
    for x, label in data.model_events:
        fig.add_trace(go.Scatter(x=xs(data, [x, x]), y=[0, top], mode="lines+text", name=label,
                                 text=["", label], textposition="top center", showlegend=False,
                                 line=dict(color="#8c564b", dash="dash")))
    fig.update_layout(**LAYOUT, title=f"Learner: rolling {data.metric_name}", xaxis_title=data.x_title,
                      yaxis_title=data.metric_name)
    return fig
