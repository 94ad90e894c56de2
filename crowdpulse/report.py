"""The self-contained HTML report: crowd sentiment held against price moves.

:func:`render_report` is a pure function from :class:`ReportData` (plain
DataFrames and a meta dict) to one HTML string that opens with no network:
plotly's JavaScript is inlined once, with the first figure. Post text is
hostile input: every string from the data is HTML-escaped before it reaches
the page or a plotly figure (hover text included), and links are kept only
when they are http(s).

:func:`gather_report_data` reads a store into a :class:`ReportData`.
"""
from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import Store

log = logging.getLogger(__name__)

ALPHA = 0.05
#: A run of more than this many NYSE sessions without data is a gap: lines break there (no points,
#: never zeros), the gap is shaded, and no rolling window spans it.
GAP_SESSIONS = 10
COLORS = {"bullish": "#1a9850", "bearish": "#d73027", "neutral": "#7f7f7f", "price": "#2c7bb6",
          "index": "#e08214", "volume": "#8073ac"}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


class ReportError(CrowdpulseError):
    """The report cannot be made from these inputs, phrased for the user."""


@dataclass
class ReportData:
    """Everything the report shows, as plain frames.

    - ``index``: [session, ticker, n_posts, mean_score, bullishness, agreement, ...]
    - ``prices``: [ticker, date, adj_close]
    - ``stats``: rows as in the correlate JSON [ticker, signal, test, lag, estimate, p_value,
      p_adjusted, ci_low, ci_high, n]
    - ``rolling``: [date, ticker, window, corr, mi (KSG, clipped at 0), mi_raw]
    - ``themes``: [session, theme, n_posts, share]
    - ``scored``: [session, n_posts], scored posts per session (the themes' share denominator: a
      session in it without a theme row has share 0; a session not in it has no data)
    - ``top_posts``: [session, ticker, source, id, text, label, p_bullish, p_bearish, url]
    - ``meta``: model_id, sources {name: posts}, n_posts, first/last session, tickers, tickers_note
      (which tickers the default left out and why), too_few {ticker: sessions} (tickers the
      statistics skip for fewer than ``market.stats.MIN_PAIRS`` sessions with posts and returns), notes...
    - ``pair`` (optional): rolling statistics of two tickers' returns, as from
      ``market.stats.rolling_pair`` [date, window, corr, mi, corr_null95, mi_null95] with
      ``meta["pair"] = [a, b]``
    """

    index: pd.DataFrame = field(default_factory=pd.DataFrame)
    prices: pd.DataFrame = field(default_factory=pd.DataFrame)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    rolling: pd.DataFrame = field(default_factory=pd.DataFrame)
    themes: pd.DataFrame = field(default_factory=pd.DataFrame)
    top_posts: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict[str, Any] = field(default_factory=dict)
    pair: pd.DataFrame = field(default_factory=pd.DataFrame)
    scored: pd.DataFrame = field(default_factory=pd.DataFrame)


# ------------------------------------------------------------------ helpers
def esc(value: Any) -> str:
    """HTML-escape anything for text or an attribute value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def safe_url(url: Any) -> str | None:
    """The URL, escaped for an attribute, when it is http(s); None otherwise (javascript:, data:...)."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")):
        return None
    return esc(u)


def _snippet(text: Any, limit: int = 280) -> str:
    t = " ".join(str(text or "").split())
    return t if len(t) <= limit else t[: limit - 1] + "…"


def _dates(values: Any) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d") for v in values]


def _has(df: pd.DataFrame | None, *cols: str) -> bool:
    return df is not None and not df.empty and all(c in df.columns for c in cols)


def _fmt(x: Any, digits: int = 3) -> str:
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if np.isnan(xf):
        return "–"
    if xf != 0 and abs(xf) < 10 ** -digits:
        return f"{xf:.1e}"
    return f"{xf:.{digits}f}"


class _Figures:
    """Turns plotly figures into divs, inlining plotly.js with the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig: Any, *, height: int = 320) -> str:
        fig.update_layout(height=height, margin=dict(l=60, r=60, t=40, b=40), template="plotly_white",
                          legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
        if fig.layout.hovermode is None:
            fig.update_layout(hovermode="x unified")
        out = fig.to_html(full_html=False, include_plotlyjs=self.count == 0, config=_PLOTLY_CONFIG,
                          div_id=f"fig{self.count}")
        self.count += 1
        return f'<div class="figure">{out}</div>'


def _note(text: str) -> str:
    """A one-line note; `backticked` commands show as code."""
    return '<p class="note">' + re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text)) + "</p>"


Gap = tuple[pd.Timestamp, pd.Timestamp, int]


def _gaps(dates: Any) -> list[Gap]:
    """(last date before, first date after, sessions missing) of each gap of more than GAP_SESSIONS sessions."""
    from market.calendar import session_gaps

    g = session_gaps(pd.to_datetime(pd.Series(list(dates), dtype=object)), GAP_SESSIONS)
    return [(pd.Timestamp(a), pd.Timestamp(b), int(n)) for a, b, n in zip(g["start"], g["end"], g["missing"])]


def _broken(x: Any, y: Any, gaps: Sequence[Gap]) -> tuple[list[str], list[Any]]:
    """Dates and values for a line that breaks at each gap: a point with no value (plotly draws no
    segment to it) between the points on either side, never a zero."""
    xs = pd.DatetimeIndex(pd.to_datetime(list(x)))
    ys = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in list(y)]
    breaks = {}
    for start, end, _ in gaps:
        pos = int(xs.searchsorted(end))
        if 0 < pos < len(xs) and xs[pos - 1] <= start:
            breaks[pos] = start + (end - start) / 2
    out_x, out_y = [], []
    for i, (d, v) in enumerate(zip(xs, ys)):
        if i in breaks:
            out_x.append(breaks[i].strftime("%Y-%m-%d"))
            out_y.append(None)
        out_x.append(d.strftime("%Y-%m-%d"))
        out_y.append(v)
    return out_x, out_y


def _shade(fig: Any, gaps: Sequence[Gap], what: str) -> None:
    """Grey bands over the gaps; a long one (three times GAP_SESSIONS or more) says what is missing for how long."""
    for start, end, n in gaps:
        label = dict(annotation_text=f"no {esc(what)}: {n} sessions", annotation_position="top left",
                     annotation_font_size=10, annotation_font_color="#555") if n >= 3 * GAP_SESSIONS else {}
        fig.add_vrect(x0=start.strftime("%Y-%m-%d"), x1=end.strftime("%Y-%m-%d"), fillcolor="#9e9e9e",
                      opacity=0.18, layer="below", line_width=0, **label)


def _gap_caption(gaps: Sequence[Gap], what: str) -> str:
    if not gaps:
        return ""
    return (f"<p class='caption'>Grey bands: more than {GAP_SESSIONS} sessions with no {esc(what)} "
            f"({len(gaps)} gap{'s' if len(gaps) > 1 else ''}); lines are not drawn across them.</p>")


# ----------------------------------------------------------------- sections
def _header(data: ReportData) -> str:
    m = data.meta
    sources = m.get("sources") or {}
    src = ", ".join(f"{esc(k)} ({int(v)} posts)" for k, v in sources.items()) or "none"
    rows = [
        ("Data", f"sessions {esc(m.get('first_session', '?'))} to {esc(m.get('last_session', '?'))} with a stance on "
                 f"the tickers shown; {int(m.get('n_posts', 0))} scored posts in the database"),
        ("Sources", src),
        ("Model", f"<code>{esc(m.get('model_id', 'unknown'))}</code>"),
        ("Tickers", esc(", ".join(m.get("tickers", [])) or "none")),
    ]
    if m.get("prices_range"):
        rows.append(("Prices", esc(m["prices_range"])))
    items = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    left_out = _note(m["tickers_note"]) if m.get("tickers_note") else ""
    return (f"<header><h1>{esc(m.get('title', 'crowdpulse report'))}</h1>"
            f"<p class='sub'>Generated {esc(m.get('generated_at', ''))}</p>"
            f"<table class='meta'>{items}</table>{left_out}{_significance(data)}</header>")


def _significance(data: ReportData) -> str:
    st = data.stats
    if not _has(st, "p_adjusted"):
        why = data.meta.get("stats_note") or "no statistics were computed for this report"
        return f"<section class='sig'><h2>What is significant</h2>{_note(why)}</section>"
    st = st.copy()
    padj = pd.to_numeric(st["p_adjusted"], errors="coerce")
    sig = st[padj < ALPHA]
    n_tests = int(padj.notna().sum())
    parts = [f"<p>{n_tests} tests were run; p-values are adjusted for multiple testing "
             f"(<code>p_adjusted</code>). At α = {ALPHA}: <b>{len(sig)}</b> significant, "
             f"<b>{n_tests - len(sig)}</b> not.</p>"]
    if len(sig):
        rows = "".join(
            f"<tr><td>{esc(r.get('ticker'))}</td><td>{esc(r.get('signal', ''))}</td><td>{esc(r.get('test'))}</td>"
            f"<td>{esc(_lag(r.get('lag')))}</td><td>{_fmt(r.get('estimate'))}</td>"
            f"<td>[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]</td><td>{_fmt(r.get('p_adjusted'), 4)}</td>"
            f"<td>{esc(_int(r.get('n')))}</td></tr>"
            for r in sig.sort_values("p_adjusted").head(20).to_dict("records"))
        parts.append("<table class='stats'><tr><th>ticker</th><th>signal</th><th>test</th><th>lag</th>"
                     "<th>estimate</th><th>interval</th><th>p adj.</th><th>n</th></tr>" + rows + "</table>")
    else:
        parts.append("<p>Nothing is significant after adjustment: the crowd's index shows no reliable "
                     "link to returns in this data.</p>")
    return "<section class='sig'><h2>What is significant</h2>" + "".join(parts) + "</section>"


def _lag(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return str(int(v)) if float(v).is_integer() else str(v)


def _int(v: Any) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return ""


def _index_price(data: ReportData, ticker: str, figs: _Figures) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    idx = data.index[data.index["ticker"] == ticker].sort_values("session")
    gaps = _gaps(idx["session"])
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x, y = _broken(idx["session"], idx["mean_score"], gaps)
    fig.add_trace(go.Scatter(x=x, y=y, name="sentiment index (mean p_bull − p_bear)", connectgaps=False,
                             mode="lines+markers", marker=dict(size=4), line=dict(color=COLORS["index"])),
                  secondary_y=False)
    note = ""
    px = data.prices[data.prices["ticker"] == ticker].sort_values("date") if _has(data.prices, "ticker", "adj_close") else None
    if px is not None and len(px):
        lo, hi = pd.Timestamp(idx["session"].min()), pd.Timestamp(idx["session"].max())
        px = px[(pd.to_datetime(px["date"]) >= lo - pd.Timedelta(days=7)) & (pd.to_datetime(px["date"]) <= hi + pd.Timedelta(days=7))]
        x, y = _broken(px["date"], px["adj_close"], _gaps(px["date"]))
        fig.add_trace(go.Scatter(x=x, y=y, name=f"{esc(ticker)} adjusted close", connectgaps=False,
                                 mode="lines", line=dict(color=COLORS["price"])), secondary_y=True)
    else:
        note = _note(f"No prices for {ticker} in the store: the index is shown alone "
                     f"(add them with `crowdpulse prices {ticker}`, or `--csv DIR` offline).")
    # the busiest days' top posts as hover markers (escaped: post text is hostile input)
    if _has(data.top_posts, "ticker", "session", "text"):
        tp = data.top_posts[data.top_posts["ticker"] == ticker]
        if len(tp):
            hover = []
            days = sorted(tp["session"].unique())
            day_score = idx.set_index(idx["session"].map(lambda d: pd.Timestamp(d)))["mean_score"]
            ys = [float(day_score.get(pd.Timestamp(d), np.nan)) for d in days]
            for d in days:
                rows = tp[tp["session"] == d]
                hover.append("<br>".join(
                    f"{esc(r['label'])} ({esc(r['source'])}): {esc(_snippet(r['text'], 90))}"
                    for r in rows.to_dict("records")))
            fig.add_trace(go.Scatter(x=_dates(days), y=ys, mode="markers", name="busiest days (top posts)",
                                     marker=dict(size=11, symbol="star", color="#333"),
                                     hovertext=hover, hoverinfo="text"), secondary_y=False)
    fig.update_yaxes(title_text="sentiment index", secondary_y=False, zeroline=True)
    fig.update_yaxes(title_text="adjusted close", secondary_y=True, showgrid=False)
    _shade(fig, gaps, "posts")
    return "<h3>Sentiment index and price</h3>" + note + figs.div(fig, height=360) + _gap_caption(gaps, "posts")


def _volume(data: ReportData, ticker: str, figs: _Figures) -> str:
    import plotly.graph_objects as go

    idx = data.index[data.index["ticker"] == ticker].sort_values("session")
    fig = go.Figure()
    if {"n_bullish", "n_bearish"} <= set(idx.columns):
        other = idx["n_posts"] - idx["n_bullish"] - idx["n_bearish"]
        for name, y in (("bullish", idx["n_bullish"]), ("bearish", idx["n_bearish"]), ("neutral", other)):
            fig.add_trace(go.Bar(x=_dates(idx["session"]), y=y, name=name, marker_color=COLORS[name]))
        fig.update_layout(barmode="stack")
    else:
        fig.add_trace(go.Bar(x=_dates(idx["session"]), y=idx["n_posts"], name="posts", marker_color=COLORS["volume"]))
    fig.update_yaxes(title_text="posts per session")
    _shade(fig, _gaps(idx["session"]), "posts")
    return "<h3>Post volume</h3>" + figs.div(fig, height=260)


def _too_few(data: ReportData, ticker: str) -> str | None:
    """Why the statistics skip ``ticker`` (too few sessions with posts and returns), or None."""
    from market.stats import MIN_PAIRS

    n = (data.meta.get("too_few") or {}).get(ticker)
    if n is None:
        return None
    return (f"Only {n} sessions with both posts and returns for {ticker}: the statistics need {MIN_PAIRS} "
            f"(as `crowdpulse correlate`, which skips {ticker}), so none are drawn for it.")


def _rolling(data: ReportData, ticker: str, figs: _Figures, column: str, title: str, ytitle: str) -> str:
    import plotly.graph_objects as go

    head = f"<h3>{esc(title)}</h3>"
    if not _has(data.rolling, "ticker", "date", "window", column):
        return head + _note(data.meta.get("rolling_note") or "No rolling statistics in this report.")
    r = data.rolling[(data.rolling["ticker"] == ticker)].dropna(subset=[column])
    if r.empty:
        return head + _note(
            f"No stretch of sessions with both posts and returns for {ticker} (without a gap of more than "
            f"{GAP_SESSIONS} sessions) is long enough to fill a rolling window.")
    fig = go.Figure()
    gaps = _gaps(r["date"])  # the windows' own gaps: they include the posts' (no window spans one)
    for w, g in r.sort_values("date").groupby("window"):
        values = g[column].clip(lower=0) if column == "mi" else g[column]
        x, y = _broken(g["date"], values, gaps)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", connectgaps=False, name=f"{int(w)}-session window"))
    if column == "corr":
        fig.add_hline(y=0, line_color="#999", line_width=1)
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title_text=ytitle)
    sessions = data.index.loc[data.index["ticker"] == ticker, "session"]
    fig.update_xaxes(range=_dates([sessions.min(), sessions.max()]))  # the same span as the index above
    post_gaps = _gaps(sessions)
    _shade(fig, post_gaps, "posts")
    caption = ("<p class='caption'>KSG estimate clipped at 0 (mutual information is never negative; "
               "the raw estimate falls below 0 by chance on short windows).</p>") if column == "mi" else ""
    return head + figs.div(fig, height=280) + caption + _gap_caption(post_gaps, "posts")


def _lead_lag(data: ReportData, ticker: str, figs: _Figures) -> str:
    import plotly.graph_objects as go

    title = "<h3>Lead–lag: sentiment(t) against return(t+k)</h3>"
    if not _has(data.stats, "ticker", "test", "lag", "estimate"):
        return title + _note(data.meta.get("stats_note") or "No lead-lag statistics in this report.")
    st = data.stats[(data.stats["ticker"] == ticker)].copy()
    st["lag"] = pd.to_numeric(st["lag"], errors="coerce")
    st = st.dropna(subset=["lag", "estimate"])
    # lead-lag families: tests estimated at lags on both sides of 0 (not event-study horizons)
    span = st.groupby("test")["lag"].agg(["min", "max"])
    st = st[st["test"].isin(span[(span["min"] < 0) & (span["max"] > 0)].index)]
    if st.empty:
        return title + _note(f"No test for {ticker} was run at leads and lags around 0.")
    fig = go.Figure()
    for test, g in st.sort_values("lag").groupby("test", sort=False):
        est = g["estimate"].astype(float)
        kw: dict[str, Any] = {}
        if {"ci_low", "ci_high"} <= set(g.columns):
            lo, hi = g["ci_low"].astype(float), g["ci_high"].astype(float)
            kw["error_y"] = dict(type="data", symmetric=False, array=(hi - est).tolist(), arrayminus=(est - lo).tolist())
        padj = pd.to_numeric(g.get("p_adjusted", pd.Series(np.nan, index=g.index)), errors="coerce")
        hover = [f"{esc(test)} lag {_lag(k)}: {_fmt(e)} [{_fmt(a)}, {_fmt(b)}], p adj. {_fmt(p, 4)}, n {esc(_int(n))}"
                 for k, e, a, b, p, n in zip(g["lag"], est, g.get("ci_low", est), g.get("ci_high", est), padj,
                                             g.get("n", pd.Series("", index=g.index)))]
        fig.add_trace(go.Bar(x=g["lag"].astype(int).tolist(), y=est.tolist(), name=esc(test), hovertext=hover,
                             hoverinfo="text", marker_line_width=[2.5 if p < ALPHA else 0 for p in padj.fillna(1)],
                             marker_line_color="#000", **kw))
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_xaxes(title_text="lag k (sessions; negative: returns lead sentiment)", dtick=1)
    fig.update_yaxes(title_text="estimate")
    return (title + figs.div(fig, height=300)
            + "<p class='caption'>Bars with a black outline are significant at α = 0.05 after adjustment; "
              "whiskers are the reported intervals.</p>")


def _top_posts(data: ReportData, ticker: str) -> str:
    title = "<h3>Top bullish and bearish posts of the busiest days</h3>"
    if not _has(data.top_posts, "ticker", "session", "text"):
        return title + _note("No posts to show.")
    tp = data.top_posts[data.top_posts["ticker"] == ticker]
    if tp.empty:
        return title + _note(f"No bullish or bearish post on {ticker} on its busiest days.")
    rows = []
    for r in tp.sort_values(["session", "label"]).to_dict("records"):
        url = safe_url(r.get("url"))
        ident = f"{esc(r['source'])}:{esc(r['id'])}"
        link = f'<a href="{url}" rel="noopener noreferrer nofollow" target="_blank">{ident}</a>' if url else ident
        label = esc(r.get("label"))
        rows.append(
            f"<tr><td>{esc(pd.Timestamp(r['session']).strftime('%Y-%m-%d'))}</td>"
            f"<td><span class='lab {label}'>{label}</span></td>"
            f"<td>{_fmt(r.get('p_bullish'), 2)} / {_fmt(r.get('p_bearish'), 2)}</td>"
            f"<td class='text'>{esc(_snippet(r['text']))}</td><td>{link}</td></tr>")
    return (title + "<table class='posts'><tr><th>session</th><th>label</th><th>p bull / bear</th>"
            "<th>post</th><th>source</th></tr>" + "".join(rows) + "</table>")


def _themes(data: ReportData, figs: _Figures) -> str:
    import plotly.graph_objects as go

    title = "<h2>Theme prevalence over time</h2>"
    if not _has(data.themes, "session", "theme"):
        return title + _note(data.meta.get("themes_note") or "No themes were detected in the scored posts.")
    col = "share" if "share" in data.themes.columns else "n_posts"
    wide = data.themes.pivot_table(index="session", columns="theme", values=col, aggfunc="sum")
    wide.index = pd.to_datetime(wide.index)
    # a session with scored posts and no post on a theme is a real 0; a session without scored posts has no point
    with_data = pd.to_datetime(data.scored["session"]) if _has(data.scored, "session") else wide.index
    wide = wide.reindex(wide.index.union(pd.DatetimeIndex(with_data))).fillna(0).sort_index()
    if len(wide) > 30:  # smooth daily noise: weekly means over the sessions with data, at the week's last one
        week = wide.index.to_period("W-FRI")
        last = pd.Series(wide.index, index=wide.index).groupby(week).max()
        wide = wide.groupby(week).mean()
        wide.index = pd.DatetimeIndex(last.loc[wide.index].to_numpy())
    gaps = _gaps(wide.index)
    fig = go.Figure()
    for theme in wide.sum().sort_values(ascending=False).index:
        x, y = _broken(wide.index, wide[theme], gaps)
        fig.add_trace(go.Scatter(x=x, y=y, name=esc(theme), mode="lines", connectgaps=False))
    fig.update_yaxes(title_text="share of posts" if col == "share" else "posts", tickformat=".0%" if col == "share" else None,
                     rangemode="tozero")
    _shade(fig, gaps, "scored posts")
    return title + figs.div(fig, height=340) + _gap_caption(gaps, "scored posts")


def _pair(data: ReportData, figs: _Figures) -> str:
    import plotly.graph_objects as go

    names = data.meta.get("pair") or []
    if len(names) != 2:
        return ""
    a, b = (esc(n) for n in names)
    title = f"<h2>{a} against {b}: rolling correlation and mutual information of returns</h2>"
    if not _has(data.pair, "date", "window", "corr"):
        return title + _note(data.meta.get("pair_note") or "No paired return statistics in this report.")
    out = [title]
    for col, label in (("corr", "correlation"), ("mi", "MI (nats)")):
        if col not in data.pair.columns:
            continue
        fig = go.Figure()
        gaps = _gaps(data.pair["date"])
        for i, (w, g) in enumerate(data.pair.sort_values("date").groupby("window")):
            color = ["#2c7bb6", "#d7191c", "#fdae61", "#1a9641"][i % 4]
            x, y = _broken(g["date"], g[col].clip(lower=0) if col == "mi" else g[col], gaps)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{int(w)}-session window", connectgaps=False,
                                     line=dict(color=color)))
            band = f"{col}_null95"
            if band in g.columns and g[band].notna().any():
                level = float(g[band].iloc[0])
                ys = [level] * len(g)
                fig.add_trace(go.Scatter(x=_dates(g["date"]), y=ys, mode="lines", showlegend=i == 0,
                                         name="95% noise band (rotated series)", line=dict(color=color, dash="dot", width=1)))
                if col == "corr":
                    fig.add_trace(go.Scatter(x=_dates(g["date"]), y=[-level] * len(g), mode="lines", showlegend=False,
                                             hoverinfo="skip", line=dict(color=color, dash="dot", width=1)))
        fig.update_yaxes(title_text=label)
        _shade(fig, gaps, "common returns")
        out.append(figs.div(fig, height=280))
    out.append("<p class='caption'>Dotted lines: what a window of that size reaches by chance in 5% of windows; "
               "a crossing is a candidate, not a finding (many windows are looked at).</p>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:16px 24px}
header h1{margin:8px 0 0;font-size:1.6em} .sub{color:#666;margin:2px 0 12px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.meta th{color:#555;font-weight:600;width:90px}
table.posts td.text{max-width:640px;white-space:pre-wrap;word-break:break-word}
section.ticker{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px 16px;margin:16px 0}
.note{color:#8a6d3b;background:#fcf8e3;padding:4px 8px;border-radius:4px}
.caption{color:#666;font-size:.85em;margin-top:0}
.lab{padding:1px 6px;border-radius:3px;color:#fff}.lab.bullish{background:#1a9850}.lab.bearish{background:#d73027}
.lab.neutral{background:#7f7f7f} nav a{margin-right:12px} .figure{width:100%}
"""


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML document (no network needed to open it)."""
    return _render(data)[0]


def _render(data: ReportData) -> tuple[str, int]:
    figs = _Figures()
    tickers = list(data.meta.get("tickers") or (sorted(data.index["ticker"].unique()) if _has(data.index, "ticker") else []))
    body = [_header(data)]
    if tickers:
        body.append("<nav>" + "".join(f'<a href="#t-{esc(t)}">{esc(t)}</a>' for t in tickers) + "</nav>")
    if not _has(data.index, "session", "ticker", "mean_score"):
        body.append(_note("No sentiment index: no scored posts with a ticker stance in the selected data."))
    for t in tickers:
        sec = [f'<section class="ticker" id="t-{esc(t)}"><h2>{esc(t)}</h2>']
        if not _has(data.index, "ticker") or (data.index["ticker"] == t).sum() == 0:
            sec.append(_note(f"No posts with a stance on {t}."))
        else:
            sec.append(_index_price(data, t, figs))
            sec.append(_volume(data, t, figs))
            if _too_few(data, t):  # the statistics skip it: one note instead of three empty sections
                sec.append("<h3>Rolling correlation, lead–lag and rolling mutual information</h3>"
                           + _note(_too_few(data, t)))
            else:
                sec.append(_rolling(data, t, figs, "corr", "Rolling correlation: sentiment index vs same-session "
                                    "return", "correlation"))
                sec.append(_lead_lag(data, t, figs))
                sec.append(_rolling(data, t, figs, "mi", "Rolling mutual information: sentiment index vs return",
                                    "MI (nats)"))
            sec.append(_top_posts(data, t))
        sec.append("</section>")
        body.extend(sec)
    body.append(_pair(data, figs))
    body.append(_themes(data, figs))
    notes = data.meta.get("notes") or []
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    title = esc(data.meta.get("title", "crowdpulse report"))
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
            "style-src 'unsafe-inline'; img-src data: blob:; font-src data:\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body><main>"
            + "\n".join(body)
            + f"</main><script>window.CROWDPULSE_FIGURES = {figs.count};</script></body></html>\n"), figs.count


# ------------------------------------------------------------------ gather
def _store_prices(store: Store, tickers: Sequence[str]) -> pd.DataFrame:
    if not tickers:
        return pd.DataFrame(columns=["ticker", "date", "adj_close"])
    return store.query(
        f"SELECT ticker, date, adj_close FROM prices WHERE ticker IN ({', '.join('?' * len(tickers))}) ORDER BY ticker, date",
        list(tickers),
    )


def rolling_stats(index: pd.DataFrame, returns: pd.DataFrame, *, windows: Sequence[int] = (20, 60),
                  signal: str = "mean_score") -> pd.DataFrame:
    """Rolling correlation and KSG mutual information of the index against same-session returns.

    ``index`` [session, ticker, <signal>], ``returns`` [ticker, date, ret]; sessions with both
    are aligned per ticker (:func:`market.stats.rolling_signal`, without noise bands) where the
    statistics would run: a ticker with fewer than ``market.stats.MIN_PAIRS`` such sessions gets
    none (``correlate`` skips it), and no window spans a gap of more than ``GAP_SESSIONS``
    sessions. Returns [date, ticker, window, corr, mi, mi_raw] (``mi`` clipped at 0).
    """
    from market.stats import rolling_signal

    cols = ["date", "ticker", "window", "corr", "mi", "mi_raw"]
    if index.empty or returns.empty:
        return pd.DataFrame(columns=cols)
    sentiment = index[["session", "ticker", signal]].rename(columns={"session": "date", signal: "value"})
    out = rolling_signal(sentiment, returns, windows, null_draws=0, max_gap=GAP_SESSIONS)[cols]
    return out.dropna(subset=["corr", "mi"], how="all").reset_index(drop=True)


def joint_sessions(index: pd.DataFrame, returns: pd.DataFrame, tickers: Sequence[str]) -> dict[str, int]:
    """Per ticker, the sessions with both an index value and a return: what ``correlate`` counts."""
    if index.empty or returns.empty:
        return {t: 0 for t in tickers}
    have = index[["session", "ticker"]].assign(date=pd.to_datetime(index["session"]).dt.normalize())
    ret = returns.dropna(subset=["ret"]).assign(date=lambda r: pd.to_datetime(r["date"]).dt.normalize())
    both = have.merge(ret[["ticker", "date"]].drop_duplicates(), on=["ticker", "date"])
    counts = both.groupby("ticker")["date"].nunique()
    return {t: int(counts.get(t, 0)) for t in tickers}


def default_tickers(store: Store, model_id: str, priced: set[str], max_tickers: int) -> tuple[list[str], str | None]:
    """The ``max_tickers`` most-named tickers that have prices, and a note on those left out and why.

    Most named: most stances for ``model_id``. Without prices for any of them, the most named
    (the sections then say they have no prices), and the note says how to add prices.
    """
    named = store.query("SELECT ticker, count(*) AS n FROM stances WHERE model_id = ? GROUP BY ticker "
                        "ORDER BY n DESC, ticker", [model_id])
    if named.empty:
        raise ReportError(f"model {model_id} has no ticker stances: run `crowdpulse score` first")
    ranked, counts = list(named["ticker"]), dict(zip(named["ticker"], named["n"].astype(int)))
    chosen = [t for t in ranked if t in priced][:max_tickers]
    if not chosen:
        chosen = ranked[:max_tickers]
        return chosen, (f"No prices in the store for any named ticker: showing the {len(chosen)} most named; "
                        f"add prices with `crowdpulse prices {' '.join(chosen)}` (or `--csv DIR` offline).")
    # left out: more named than the last ticker shown (or among the top max_tickers), but without prices
    left = [t for t in ranked[:max(ranked.index(chosen[-1]) + 1, max_tickers)] if t not in priced]
    more = [t for t in ranked if t in priced][max_tickers:]
    if not left and not more:
        return chosen, None
    parts = [f"Showing the {len(chosen)} most-named ticker{'s' if len(chosen) > 1 else ''} with both posts "
             f"and prices ({', '.join(chosen)})."]
    if left:
        listed = ", ".join(f"{t} ({counts[t]} stances)" for t in left[:8])
        rest = f" and {len(left) - 8} less-named others" if len(left) > 8 else ""
        parts.append(f"Left out for want of prices: {listed}{rest}; add them with "
                     f"`crowdpulse prices {' '.join(left[:8])}`.")
    if more:
        parts.append(f"{len(more)} more with prices and fewer posts ({', '.join(more[:8])}"
                     f"{', ...' if len(more) > 8 else ''}); pick any with --ticker.")
    return chosen, " ".join(parts)


def top_posts_frame(store: Store, model_id: str, stance_rows: pd.DataFrame, index: pd.DataFrame, *,
                    top_days: int = 3, per_side: int = 2) -> pd.DataFrame:
    """For each ticker's ``top_days`` busiest sessions, its ``per_side`` most bullish and most bearish posts."""
    cols = ["session", "ticker", "source", "id", "text", "label", "p_bullish", "p_bearish", "url"]
    if stance_rows.empty or index.empty:
        return pd.DataFrame(columns=cols)
    busiest = (index.sort_values(["n_posts", "session"], ascending=[False, True])
               .groupby("ticker").head(top_days)[["ticker", "session"]])
    busiest = busiest.assign(session=pd.to_datetime(busiest["session"]))
    st = stance_rows.assign(session=pd.to_datetime(stance_rows["session"]),
                            lean=stance_rows["p_bullish"] - stance_rows["p_bearish"])
    st = st.merge(busiest, on=["ticker", "session"])
    picks = []
    for _, g in st.groupby(["ticker", "session"]):
        bull = g[g["label"] == "bullish"].nlargest(per_side, "lean")
        bear = g[g["label"] == "bearish"].nsmallest(per_side, "lean")
        picks.append(pd.concat([bull, bear]))
    if not picks:
        return pd.DataFrame(columns=cols)
    sel = pd.concat(picks, ignore_index=True)
    posts = store.query(
        """SELECT p.source, p.id, p.title, p.body, p.url
           FROM posts p JOIN (SELECT unnest(?::VARCHAR[]) AS source, unnest(?::VARCHAR[]) AS id) k
           USING (source, id)""",
        [list(sel["source"].astype(str)), list(sel["post_id"].astype(str))],
    ).drop_duplicates(subset=["source", "id"])  # a post with stances on several tickers is asked for once a ticker
    posts["text"] = [("\n\n".join(x for x in (t, b) if isinstance(x, str) and x.strip())) for t, b in zip(posts["title"], posts["body"])]
    sel = sel.rename(columns={"post_id": "id"}).merge(posts[["source", "id", "text", "url"]], on=["source", "id"])
    return sel[cols].reset_index(drop=True)


def gather_report_data(
    store: Store,
    *,
    tickers: Sequence[str] | None = None,
    prices: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    model: str | None = None,
    windows: Sequence[int] = (20, 60),
    signal: str = "mean_score",
    compute_stats: bool = True,
    lags: int = 5,
    permutations: int = 200,
    top_days: int = 3,
    max_tickers: int = 6,
    title: str = "crowdpulse report",
) -> ReportData:
    """Read the store into a :class:`ReportData`.

    ``tickers`` default: the ``max_tickers`` tickers with the most stances among those with prices
    (:func:`default_tickers`; ``meta["tickers_note"]`` names those left out and why). ``prices``
    default: the store's prices table. ``stats`` default: ``crowdpulse.analysis.correlate_store`` when
    ``compute_stats`` and market.stats is available; otherwise the stats sections say why
    they are absent.
    """
    from crowdpulse.export import pick_model
    from crowdpulse.index import stance_frame, theme_frame
    from market.returns import session_returns
    from market.stats import MIN_PAIRS
    from sentiment.index import daily_index

    model_id = pick_model(store, model)
    notes: list[str] = []
    tickers_note = None
    if tickers:
        tickers = [t.upper().lstrip("$") for t in tickers]
    else:
        if prices is None:
            priced = set(store.query("SELECT DISTINCT ticker FROM prices")["ticker"])
        else:
            priced = set(prices["ticker"].astype(str).str.upper()) if not prices.empty else set()
        tickers, tickers_note = default_tickers(store, model_id, priced, max_tickers)
    stance_rows = stance_frame(store, model_id, list(tickers))
    index = daily_index(stance_rows, by="ticker") if not stance_rows.empty else pd.DataFrame()
    missing = [t for t in tickers if index.empty or t not in set(index["ticker"])]
    if missing and len(missing) == len(tickers):
        have = store.query("SELECT ticker, count(*) AS n FROM stances WHERE model_id = ? GROUP BY ticker "
                           "ORDER BY n DESC, ticker LIMIT 10", [model_id])
        raise ReportError(f"no posts with a stance on {', '.join(missing)} for model {model_id}; most named: "
                          f"{', '.join(have['ticker']) or 'none'}")
    if missing:
        notes.append(f"No posts with a stance on {', '.join(missing)} for model {model_id}.")
    if prices is None:
        prices = _store_prices(store, tickers)
    prices = prices[prices["ticker"].isin(tickers)] if not prices.empty else prices
    returns = session_returns(prices) if not prices.empty else pd.DataFrame(columns=["ticker", "date", "ret"])

    stats_note = None
    if stats is None and compute_stats and not index.empty and not prices.empty:
        try:
            from crowdpulse.analysis import correlate_store

            stats = correlate_store(store, model_id, tickers=list(tickers), signal=signal, lags=lags,
                                    permutations=permutations, index=index)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("market"):
                raise
            stats_note = "Statistics are not available: this installation has no market.stats module."
            stats = None
    if stats is None or (isinstance(stats, pd.DataFrame) and stats.empty):
        stats = pd.DataFrame()
        stats_note = stats_note or ("No statistics: the store has no prices for these tickers."
                                    if prices.empty else "No statistics were computed for this report.")
    rolling = rolling_stats(index, returns, windows=windows, signal=signal) if not index.empty else pd.DataFrame()
    rolling_note = None if not prices.empty else "No rolling statistics: the store has no prices for these tickers."
    with_prices = set(returns["ticker"])
    too_few = {t: n for t, n in joint_sessions(index, returns, [t for t in tickers if t in with_prices]).items()
               if n < MIN_PAIRS and not index.empty and t in set(index["ticker"])}

    pair, pair_names, pair_note = pd.DataFrame(), [], None
    with_returns = [t for t in tickers if t in set(returns["ticker"])]
    if len(with_returns) >= 2:
        pair_names = with_returns[:2]
        try:
            from market.stats import rolling_pair

            n_common = returns[returns["ticker"].isin(pair_names)].pivot_table(
                index="date", columns="ticker", values="ret").dropna().shape[0]
            usable = [w for w in windows if 10 <= w <= n_common]
            if usable:
                pair = rolling_pair(returns, pair_names[0], pair_names[1], usable)
            else:
                pair_note = f"Only {n_common} sessions with returns for both tickers: too few for the rolling windows."
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("market"):
                raise
            pair_note = "Paired return statistics are not available: this installation has no market.stats module."

    th = theme_frame(store, model_id)
    themes, scored_sessions = pd.DataFrame(), pd.DataFrame()
    if not th.empty:
        tix = daily_index(th, by="theme")
        scored = store.query("""SELECT p.created_at FROM posts p JOIN scores s ON s.source = p.source AND s.post_id = p.id
                                WHERE s.model_id = ? AND p.created_at IS NOT NULL""", [model_id])
        from market.calendar import assign_sessions

        per_session = assign_sessions(pd.to_datetime(scored["created_at"], utc=True)).value_counts().sort_index()
        themes = tix[["session", "theme", "n_posts"]].copy()
        themes["share"] = themes["n_posts"] / themes["session"].map(per_session).astype(float)
        scored_sessions = pd.DataFrame({"session": per_session.index, "n_posts": per_session.to_numpy()})
    top = top_posts_frame(store, model_id, stance_rows, index, top_days=top_days) if not index.empty else pd.DataFrame()

    counts = store.query("""SELECT p.source, count(*) AS n FROM posts p JOIN scores s ON s.source = p.source
                            AND s.post_id = p.id WHERE s.model_id = ? GROUP BY p.source ORDER BY p.source""", [model_id])
    meta = {
        "title": title,
        "model_id": model_id,
        "tickers": list(tickers),
        "tickers_note": tickers_note,
        "too_few": too_few,
        "sources": dict(zip(counts["source"], counts["n"].astype(int))),
        "n_posts": int(counts["n"].sum()),
        "first_session": str(pd.Timestamp(index["session"].min()).date()) if not index.empty else "?",
        "last_session": str(pd.Timestamp(index["session"].max()).date()) if not index.empty else "?",
        "prices_range": (f"{pd.Timestamp(prices['date'].min()).date()} to {pd.Timestamp(prices['date'].max()).date()}"
                         if not prices.empty else None),
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "stats_note": stats_note,
        "rolling_note": rolling_note,
        "notes": notes,
        "pair": pair_names,
        "pair_note": pair_note,
    }
    return ReportData(index=index, prices=prices, stats=stats, rolling=rolling, themes=themes, top_posts=top,
                      meta=meta, pair=pair, scored=scored_sessions)


def write_report(data: ReportData, path: Any) -> int:
    """Render and write the report; returns the number of figures drawn."""
    from pathlib import Path

    text, count = _render(data)
    Path(path).write_text(text, encoding="utf-8")
    return count


def report_data_to_json(data: ReportData) -> str:
    """The data behind a report as JSON (for debugging and tests)."""
    return json.dumps({k: (v.to_dict(orient="records") if isinstance(v, pd.DataFrame) else v)
                       for k, v in data.__dict__.items()}, default=str)
