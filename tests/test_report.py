"""The HTML report: a pure renderer over plain frames, escaping, missing sections, store gathering."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdpulse.report import ReportData, esc, gather_report_data, render_report, safe_url, write_report
from test_export_synthetic import HOSTILE, MODEL, fill_synthetic

HOSTILE_THEME = "<b onmouseover=alert(1)>theme</b>"


def make_report_data(*, hostile: bool = True, prices: bool = True, stats: bool = True, seed: int = 0) -> ReportData:
    """Plain-frame report data for two tickers, with a hostile post among the top posts."""
    rng = np.random.default_rng(seed)
    sessions = pd.bdate_range("2024-01-02", periods=120)
    index = pd.concat([pd.DataFrame({
        "session": sessions, "ticker": t, "n_posts": rng.integers(1, 30, len(sessions)),
        "n_bullish": rng.integers(0, 10, len(sessions)), "n_bearish": rng.integers(0, 10, len(sessions)),
        "mean_score": rng.normal(0, 0.3, len(sessions)), "bullishness": rng.normal(0, 1, len(sessions)),
        "agreement": rng.uniform(0, 1, len(sessions)),
    }) for t in ("IWM", "TLT")], ignore_index=True)
    index["n_posts"] = index[["n_posts"]].max(axis=1) + index["n_bullish"] + index["n_bearish"]
    px = pd.concat([pd.DataFrame({"ticker": t, "date": sessions,
                                  "adj_close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))})
                    for t in ("IWM", "TLT")], ignore_index=True) if prices else pd.DataFrame()
    st = pd.DataFrame([
        {"ticker": t, "signal": "mean_score", "test": test, "lag": lag, "estimate": e,
         "p_value": p, "p_adjusted": min(1.0, p * 22), "ci_low": e - 0.15, "ci_high": e + 0.15, "n": 118}
        for t in ("IWM", "TLT") for test in ("pearson", "spearman") for lag in range(-5, 6)
        for e, p in [(0.45, 1e-5) if (t, lag, test) == ("IWM", 1, "pearson") else (rng.normal(0, 0.05), 0.5)]
    ]) if stats else pd.DataFrame()
    rolling = pd.concat([pd.DataFrame({"date": sessions[w - 1:], "ticker": t, "window": w,
                                       "corr": rng.uniform(-0.5, 0.5, len(sessions) - w + 1),
                                       "mi": rng.uniform(0, 0.2, len(sessions) - w + 1)})
                         for t in ("IWM", "TLT") for w in (20, 60)], ignore_index=True) if prices else pd.DataFrame()
    themes = pd.DataFrame([{"session": s, "theme": th, "n_posts": 3, "share": sh}
                           for s in sessions for th, sh in (("rate_cuts", 0.3), ("recession", 0.2),
                                                            (HOSTILE_THEME if hostile else "yields", 0.1))])
    text = HOSTILE if hostile else "IWM squeeze incoming"
    top = pd.DataFrame([
        {"session": sessions[10], "ticker": "IWM", "source": "reddit", "id": "evil1", "text": text,
         "label": "bullish", "p_bullish": 0.9, "p_bearish": 0.05, "url": "javascript:alert(document.domain)"},
        {"session": sessions[10], "ticker": "IWM", "source": "reddit", "id": "ok1", "text": "Small caps <3 rate cuts & more",
         "label": "bearish", "p_bullish": 0.1, "p_bearish": 0.8, "url": "https://example.com/r/1?a=1&b=\"2\""},
        {"session": sessions[50], "ticker": "TLT", "source": "stocktwits", "id": "evil2", "text": text,
         "label": "bearish", "p_bullish": 0.1, "p_bearish": 0.85, "url": None},
    ])
    meta = {"title": "test <report>", "model_id": MODEL, "tickers": ["IWM", "TLT"],
            "sources": {"reddit": 100, "stocktwits": 50}, "n_posts": 150, "first_session": "2024-01-02",
            "last_session": "2024-06-14", "generated_at": "2024-06-15 00:00 UTC"}
    return ReportData(index=index, prices=px, stats=st, rolling=rolling, themes=themes, top_posts=top, meta=meta)


def expected_figures(data: ReportData) -> int:
    """Figures the renderer should draw for make_report_data: per ticker index+price, volume,
    and (with prices) rolling corr, MI and (with stats) lead-lag; plus the theme chart."""
    per_ticker = 2 + (2 if not data.rolling.empty else 0) + (1 if not data.stats.empty else 0)
    return per_ticker * len(data.meta["tickers"]) + (1 if not data.themes.empty else 0)


def test_render_is_self_contained_and_inlines_plotly_once():
    data = make_report_data()
    html = render_report(data)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("window.PlotlyConfig") == 1  # plotly.js inlined once, with the first figure
    assert len(html) > 3_000_000  # the bundle itself is inside
    assert not re.search(r"<script[^>]+src=", html), "a script loads from elsewhere"
    assert not re.search(r"<link[^>]+href=", html)
    n = expected_figures(data)
    assert html.count("Plotly.newPlot(") == n
    assert f"window.CROWDPULSE_FIGURES = {n};" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_hostile_text_is_escaped_everywhere():
    html = render_report(make_report_data())
    assert "<script>document.title" not in html
    assert "<img src=x onerror" not in html
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in html  # the table cell, as text
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;" in html  # theme name in plotly JSON
    assert "test &lt;report&gt;" in html and "<title>test &lt;report&gt;</title>" in html
    # hover text of the busiest-day markers carries the escaped post, never raw markup
    hovers = re.findall(r'"hovertext":\[(.*?)\]', html)
    assert any("&lt;script&gt;" in h for h in hovers)
    assert all("<script" not in h and "<img" not in h for h in hovers)
    # a javascript: URL is not linked; an https one is, with its attribute escaped
    assert "javascript:alert" not in html
    assert 'href="https://example.com/r/1?a=1&amp;b=&quot;2&quot;"' in html
    assert "Small caps &lt;3 rate cuts &amp; more" in html


def test_helpers():
    assert esc("<a href='x'>") == "&lt;a href=&#x27;x&#x27;&gt;" and esc(None) == "" and esc(float("nan")) == ""
    assert safe_url("javascript:alert(1)") is None and safe_url(" data:text/html,x") is None
    assert safe_url("https://x.y/?q=<b>") == "https://x.y/?q=&lt;b&gt;" and safe_url(None) is None


def test_significance_header_reads_p_adjusted():
    html = render_report(make_report_data())
    assert "44 tests were run" in html
    assert "<b>1</b> significant, <b>43</b> not" in html
    assert "<td>IWM</td><td>mean_score</td><td>pearson</td><td>1</td><td>0.450</td>" in html
    quiet = make_report_data()
    quiet.stats["p_adjusted"] = 0.9
    assert "Nothing is significant after adjustment" in render_report(quiet)


def test_missing_sections_are_left_out_with_a_note():
    data = make_report_data(prices=False, stats=False)
    data.meta["stats_note"] = "No statistics: the store has no prices for these tickers."
    html = render_report(data)
    assert "No prices for IWM in the store" in html and "No prices for TLT in the store" in html
    assert html.count("No statistics: the store has no prices for these tickers.") >= 3  # header + 2 lead-lag
    assert "No rolling statistics in this report." in html
    assert html.count("Plotly.newPlot(") == expected_figures(data) == 5
    empty = render_report(ReportData(meta={"tickers": []}))
    assert "No sentiment index" in empty and "No themes were detected" in empty
    assert "Plotly.newPlot(" not in empty


def test_write_report_counts_figures(tmp_path):
    data = make_report_data()
    n = write_report(data, tmp_path / "r.html")
    assert n == expected_figures(data) and (tmp_path / "r.html").stat().st_size > 3_000_000


@pytest.fixture
def store(fresh_store):
    extra = [{"source": "reddit", "id": "evil", "thread_id": "evil", "parent_id": None, "depth": 0,
              "author": "x", "created_at": datetime(2024, 4, 1, 15, 0, tzinfo=timezone.utc), "title": None,
              "body": HOSTILE, "score": 1, "url": "javascript:alert(1)", "user_label": None, "lang": "en",
              "time_precision": "exact", "raw": None, "_score": (0.98, 0.01, 0.01), "_ticker": "IWM"}]
    fill_synthetic(fresh_store, n_threads=60, per_thread=6, days=120, extra_posts=extra)
    return fresh_store


def test_gather_report_data_from_store(store):
    data = gather_report_data(store, compute_stats=False, windows=(20,))
    assert data.meta["model_id"] == MODEL and data.meta["tickers"] == ["IWM", "TLT"]
    assert data.meta["sources"] == {"reddit": 241, "stocktwits": 120} and data.meta["n_posts"] == 361
    assert {"session", "ticker", "n_posts", "mean_score", "bullishness"} <= set(data.index.columns)
    posts_iwm = store.query(f"SELECT count(*) AS n FROM stances WHERE ticker = 'IWM' AND model_id = '{MODEL}'")["n"][0]
    assert data.index.loc[data.index["ticker"] == "IWM", "n_posts"].sum() == posts_iwm
    assert set(data.prices["ticker"]) == {"IWM", "TLT"}
    assert data.stats.empty and data.meta["stats_note"]
    assert set(data.rolling["window"]) == {20} and data.rolling["corr"].between(-1, 1).all()
    assert data.themes["share"].between(0, 1).all() and set(data.themes["theme"]) == {"rate_cuts", "recession", "short_squeeze"}
    # the hostile post is the most bullish IWM post of its (busiest) day
    top = data.top_posts
    assert {"session", "ticker", "source", "id", "text", "label", "p_bullish", "p_bearish", "url"} <= set(top.columns)
    assert (top.groupby(["ticker", "session"]).size() <= 4).all()
    html = render_report(data)
    assert "<script>document.title" not in html
    tickers_only = gather_report_data(store, tickers=["tlt"], compute_stats=False)
    assert tickers_only.meta["tickers"] == ["TLT"] and set(tickers_only.index["ticker"]) == {"TLT"}
    assert not tickers_only.meta["pair"]


def test_gather_without_prices_notes_why(fresh_store):
    fill_synthetic(fresh_store, n_threads=10)
    fresh_store.con.execute("DELETE FROM prices")
    data = gather_report_data(fresh_store)
    assert data.prices.empty and data.stats.empty and data.rolling.empty
    assert data.meta["stats_note"] == "No statistics: the store has no prices for these tickers."
    html = render_report(data)
    assert "No prices for IWM in the store" in html


def test_gather_with_statistics(store):
    pytest.importorskip("market.stats")
    data = gather_report_data(store, windows=(20,), permutations=99, lags=3)
    assert {"ticker", "test", "lag", "estimate", "p_adjusted"} <= set(data.stats.columns)
    assert set(data.stats["ticker"]) <= {"IWM", "TLT"} and len(data.stats) > 0
    assert data.meta["pair"] == ["IWM", "TLT"] and set(data.pair["window"]) == {20}
    html = render_report(data)
    assert "tests were run" in html and "IWM against TLT" in html


def test_cli_report(tmp_path):
    from crowdpulse.cli import app
    from crowdpulse.store import Store

    db = tmp_path / "r.duckdb"
    with Store.open(db) as s:
        fill_synthetic(s, n_threads=40, days=90)
    runner = CliRunner()
    out = tmp_path / "sub" / "r.html"
    res = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--no-stats", "--windows", "20"])
    assert res.exit_code == 0, res.output
    assert re.search(r"wrote .*r\.html \(\d+\.\d MB, \d+ charts, tickers IWM, TLT\)", res.output.replace("\n", ""))
    assert out.read_text().count("window.PlotlyConfig") == 1
    assert "Example" in runner.invoke(app, ["report", "--help"]).output
    bad = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--windows", "2"])
    assert bad.exit_code != 0 and "--windows '2' must be" in str(bad.exception)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps([{"ticker": "IWM", "signal": "mean_score", "test": "pearson", "lag": k,
                                  "estimate": 0.1, "p_value": 0.2, "p_adjusted": 0.4, "ci_low": -0.1,
                                  "ci_high": 0.3, "n": 60} for k in range(-2, 3)]))
    res = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--stats", str(stats), "--windows", "20"])
    assert res.exit_code == 0, res.output
    assert "5 tests were run" in out.read_text()
    # the document `crowdpulse correlate --json` writes reads as well, and a file of other rows does not
    rows = json.loads(stats.read_text())
    stats.write_text(json.dumps({"n_sessions": 60, "n_tests": 5, "methods": {}, "results": rows}))
    res = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--stats", str(stats), "--windows", "20"])
    assert res.exit_code == 0, res.output
    assert "5 tests were run" in out.read_text()
    nobody = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--no-stats", "--ticker", "ZZZ"])
    assert nobody.exit_code != 0 and "no posts with a stance on ZZZ" in str(nobody.exception)
    stats.write_text(json.dumps([{"id": 1, "annotations": []}]))
    bad = runner.invoke(app, ["report", "--out", str(out), "--db", str(db), "--stats", str(stats)])
    assert bad.exit_code != 0 and "holds no statistics rows" in str(bad.exception)


def test_top_posts_once_per_ticker_and_with_the_models_label(fresh_store):
    """A post with stances on two tickers is listed once per ticker; a neutral stance is not called bullish."""
    from datetime import datetime, timezone

    from crowdpulse.index import stance_frame
    from crowdpulse.report import top_posts_frame
    from scrapers.records import Post
    from sentiment.index import daily_index

    when = datetime(2026, 1, 6, 15, 0, tzinfo=timezone.utc)
    fresh_store.upsert_posts([Post("reddit", f"p{i}", "t", created_at=when, body=f"post {i}") for i in range(3)])
    rows = [("p0", "IWM", "bearish", 0.1, 0.8), ("p0", "TLT", "bullish", 0.8, 0.1),
            ("p1", "IWM", "neutral", 0.05, 0.01), ("p2", "IWM", "bullish", 0.9, 0.05)]
    fresh_store.upsert("stances", [{"source": "reddit", "post_id": p, "model_id": "m", "ticker": t, "label": lab,
                                    "p_bullish": b, "p_bearish": r, "p_neutral": 1 - b - r, "via": "symbol"}
                                   for p, t, lab, b, r in rows])
    st = stance_frame(fresh_store, "m")
    top = top_posts_frame(fresh_store, "m", st, daily_index(st, by="ticker"))
    assert not top.duplicated(["ticker", "id"]).any()
    got = {(r.ticker, r.id): r.label for r in top.itertuples()}
    assert got == {("IWM", "p0"): "bearish", ("TLT", "p0"): "bullish", ("IWM", "p2"): "bullish"}


# ------------------------------------------------- defaults, gaps, where the statistics run (issue 24)
def _figures(monkeypatch) -> list[dict]:
    """Record every plotly figure the renderer draws, as a dict."""
    from crowdpulse import report

    drawn: list[dict] = []
    real = report._Figures.div

    def div(self, fig, **kw):
        drawn.append(fig.to_dict())
        return real(self, fig, **kw)

    monkeypatch.setattr(report._Figures, "div", div)
    return drawn


def test_default_tickers_are_those_with_posts_and_prices_and_the_rest_are_named(store):
    """GME and AAPL are named most but have no prices: the default shows IWM and TLT and says why not GME."""
    stances = store.query("SELECT * FROM stances WHERE model_id = ?", [MODEL])
    for ticker, every in (("GME", 1), ("AAPL", 2)):
        store.upsert("stances", stances.drop_duplicates(["source", "post_id"]).iloc[::every].assign(ticker=ticker))
    data = gather_report_data(store, compute_stats=False, windows=(20,))
    assert data.meta["tickers"] == ["IWM", "TLT"]
    note = data.meta["tickers_note"]
    assert "GME (361 stances)" in note and "AAPL" in note and "`crowdpulse prices GME AAPL`" in note
    html = render_report(data)
    assert "Left out for want of prices: GME" in html and "<code>crowdpulse prices GME AAPL</code>" in html
    # without prices for any ticker: the most named, and how to add prices
    store.con.execute("DELETE FROM prices")
    bare = gather_report_data(store, compute_stats=False, windows=(20,))
    assert bare.meta["tickers"][0] == "GME" and "AAPL" in bare.meta["tickers"] and "No prices in the store for any named ticker" in bare.meta["tickers_note"]
    # chosen tickers are never second-guessed
    assert gather_report_data(store, tickers=["IWM"], compute_stats=False).meta["tickers_note"] is None


def test_the_no_prices_hint_names_a_command_that_exists():
    data = make_report_data(prices=False, stats=False)
    html = render_report(data)
    assert "crowdpulse market prices" not in html and "<code>crowdpulse prices IWM</code>" in html


def _gapped_data() -> ReportData:
    """30 sessions, 60 sessions without a post (nor a scored post), 30 sessions."""
    data = make_report_data(hostile=False, stats=False)
    sessions = pd.bdate_range("2024-01-02", periods=120)
    keep = set(sessions[:30]) | set(sessions[-30:])
    data.index = data.index[data.index["session"].isin(keep)].reset_index(drop=True)
    data.rolling = data.rolling.iloc[0:0]
    data.themes = data.themes[data.themes["session"].isin(keep)]
    # sessions with scored posts but no post on yields: a real 0, unlike the gap
    data.themes = data.themes[~((data.themes["theme"] == "yields") & data.themes["session"].isin(sessions[:5]))]
    data.scored = pd.DataFrame({"session": sorted(keep), "n_posts": 10})
    return data


def test_lines_break_at_gaps_and_the_gap_is_shaded(monkeypatch):
    drawn = _figures(monkeypatch)
    data = _gapped_data()
    html = render_report(data)
    sessions = pd.bdate_range("2024-01-02", periods=120)
    first = drawn[0]  # IWM: index and price
    index_trace = next(t for t in first["data"] if t["name"].startswith("sentiment index"))
    ys = list(index_trace["y"])
    assert ys.count(None) == 1 and len(ys) == 61  # 60 sessions and one break, no zeros put in
    xs = pd.to_datetime(pd.Series(index_trace["x"]))
    gap_at = ys.index(None)
    assert xs[gap_at - 1] == sessions[29] and xs[gap_at + 1] == sessions[90]
    shapes = first["layout"]["shapes"]
    assert len(shapes) == 1 and pd.Timestamp(shapes[0]["x0"]) == sessions[29] and pd.Timestamp(shapes[0]["x1"]) == sessions[90]
    assert "no posts: " in json.dumps(first["layout"]["annotations"]) and "Grey bands" in html
    volume = drawn[1]
    assert len(volume["layout"]["shapes"]) == 1
    themes = drawn[-1]
    yields = next(t for t in themes["data"] if t["name"] == "yields")
    y = list(yields["y"])
    assert None in y and 0 in y  # no point across the gap, a 0 where posts were scored and none was on yields
    gap_y = [v for x, v in zip(pd.to_datetime(pd.Series(yields["x"])), y) if sessions[29] < x < sessions[90]]
    assert gap_y == [None]
    assert len(themes["layout"]["shapes"]) == 1


def test_gaps_helpers():
    from crowdpulse.report import GAP_SESSIONS, _broken, _gaps

    days = list(pd.bdate_range("2024-01-02", periods=5)) + list(pd.bdate_range("2024-03-01", periods=3))
    gaps = _gaps(days)
    assert len(gaps) == 1 and gaps[0][2] > GAP_SESSIONS
    x, y = _broken(days, [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0, 7.0, 8.0], gaps)
    assert y == [1.0, 2.0, None, 4.0, 5.0, None, 6.0, 7.0, 8.0] and len(x) == 9
    assert _gaps(pd.bdate_range("2024-01-02", periods=30)) == []


def test_a_ticker_correlate_skips_gets_no_rolling_chart_and_mi_is_never_negative(store):
    """TLT named on fewer than 30 sessions: correlate skips it, so the report draws no rolling chart
    for it and says why; IWM's rolling MI and its MI rows are reported clipped at 0."""
    pytest.importorskip("market.stats")
    from market.stats import MIN_PAIRS

    st = store.query("""SELECT s.source, s.post_id, p.created_at FROM stances s JOIN posts p
                        ON p.source = s.source AND p.id = s.post_id WHERE s.ticker = 'TLT' ORDER BY p.created_at""")
    late = st[pd.to_datetime(st["created_at"]) > pd.to_datetime(st["created_at"]).min() + pd.Timedelta(days=30)]
    for r in late.itertuples():
        store.con.execute("DELETE FROM stances WHERE ticker = 'TLT' AND source = ? AND post_id = ?", [r.source, r.post_id])
    data = gather_report_data(store, windows=(20,), permutations=99, lags=2)
    assert 0 < data.meta["too_few"]["TLT"] < MIN_PAIRS and "IWM" not in data.meta["too_few"]
    assert set(data.stats["ticker"]) == {"IWM"}  # correlate skipped TLT
    assert set(data.rolling["ticker"]) == {"IWM"}
    assert (data.rolling["mi"] >= 0).all() and (data.rolling["mi_raw"] < 0).any()
    mi = data.stats[data.stats["test"] == "mutual_information"]
    assert len(mi) and (mi["estimate"] >= 0).all()
    html = render_report(data)
    n = data.meta["too_few"]["TLT"]
    assert f"Only {n} sessions with both posts and returns for TLT: the statistics need {MIN_PAIRS}" in html
    tlt = html[html.index('id="t-TLT"'):]
    tlt = tlt[:tlt.index("</section>")]
    assert "Rolling correlation: sentiment" not in tlt and tlt.count("Plotly.newPlot(") == 2  # index+price, volume
    assert "KSG estimate clipped at 0" in html
