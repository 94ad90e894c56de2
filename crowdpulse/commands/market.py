"""`crowdpulse prices` and `crowdpulse correlate`: load prices, test the crowd against returns."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, console, err_console, open_store
from crowdpulse.errors import CrowdpulseError

SIGNALS = ("mean_score", "bullishness", "count")


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _windows(text: str) -> list[int]:
    try:
        out = [int(w) for w in _split(text)]
    except ValueError as exc:
        raise CrowdpulseError(f"--windows must be comma-separated whole numbers like 20,60,120; got {text!r}") from exc
    from market.stats import MIN_WINDOW

    if not out or min(out) < MIN_WINDOW:
        raise CrowdpulseError(f"--windows must be whole numbers of at least {MIN_WINDOW} sessions; got {text!r}")
    return out


def _fmt(v: Any, spec: str = ".4f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def read_sentiment_csv(path: Path) -> Any:
    """A sentiment CSV with columns date, ticker, value."""
    import pandas as pd

    from market.prices import to_datetime_quiet

    if path.is_dir():
        raise CrowdpulseError(f"--sentiment-csv {path} is a folder; give a CSV with columns date, ticker, value")
    if not path.is_file():
        raise CrowdpulseError(f"sentiment file {path} does not exist; give a CSV with columns date, ticker, value")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CrowdpulseError(f"cannot read {path} as CSV ({str(exc).splitlines()[0]}); expected columns date, ticker, value") from exc
    cols = {c.strip().lower(): c for c in df.columns}
    if {"date", "ticker", "value"} - set(cols):
        raise CrowdpulseError(f"{path} has columns {', '.join(map(str, df.columns))}; expected date, ticker, value")
    df = df.rename(columns={v: k for k, v in cols.items()})[["date", "ticker", "value"]]
    try:
        df["date"] = to_datetime_quiet(df["date"]).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise CrowdpulseError(f"{path}: column date must hold dates like 2024-01-31") from exc
    values = pd.to_numeric(df["value"], errors="coerce")
    words = values.isna() & df["value"].notna()
    if words.any():
        first = int(words.to_numpy().argmax())
        raise CrowdpulseError(f"{path}: column value must hold numbers; data row {first + 1} has "
                              f"{df['value'].iloc[first]!r} ({int(words.sum()):,} of {len(df):,} rows "
                              f"{'is' if words.sum() == 1 else 'are'} not a number)")
    df["value"] = values
    return df.dropna(subset=["value"])


def _prices(db: Path, tickers: list[str], prices_csv: Optional[Path]) -> Any:
    from market.prices import load_csv_prices

    if prices_csv is not None:
        return load_csv_prices(prices_csv, tickers)
    if not Path(db).exists():
        raise CrowdpulseError(f"no database at {db}; run 'crowdpulse prices {' '.join(tickers)} --start 2020-01-01' "
                              "first or pass --prices-csv DIR")
    from crowdpulse.prices import read_prices

    with open_store(db, read_only=True) as store:
        prices = read_prices(store, tickers)
    missing = sorted(set(tickers) - set(prices["ticker"]))
    if missing:
        raise CrowdpulseError(f"no cached prices for {', '.join(missing)} in {db}; run 'crowdpulse prices "
                              f"{' '.join(missing)} --start 2020-01-01' or pass --prices-csv DIR")
    return prices


def _db_sentiment(db: Path, tickers: list[str], signal: str, model: Optional[str]) -> Any:
    if not Path(db).exists():
        raise CrowdpulseError(f"no database at {db}; score posts first or pass --sentiment-csv FILE")
    from crowdpulse.analysis import sentiment_signal
    from crowdpulse.export import ExportError, pick_model

    try:
        from crowdpulse.index import ticker_index
        import sentiment.index  # noqa: F401  (the daily index arithmetic)
    except ModuleNotFoundError as exc:
        raise CrowdpulseError("the database sentiment index is not available in this build "
                              f"({exc.name} missing); pass --sentiment-csv FILE with columns date, ticker, value") from exc
    with open_store(db, read_only=True) as store:
        try:
            model_id = pick_model(store, model)
        except ExportError as exc:
            raise CrowdpulseError(f"{exc}, or pass --sentiment-csv FILE") from None
        index = ticker_index(store, model_id, tickers)
    return sentiment_signal(index, signal)


def _results_table(results: Any, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for col, justify in [("", "left"), ("ticker", "left"), ("test", "left"), ("lag", "right"), ("estimate", "right"),
                         ("95% CI", "right"), ("p", "right"), ("p adj (BH)", "right"), ("n", "right")]:
        table.add_column(col, justify=justify)
    for row in results.itertuples():
        sig = row.p_adjusted < 0.05
        ci = "-" if math.isnan(row.ci_low) else f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]"
        table.add_row("*" if sig else "", row.ticker, row.test, str(row.lag), f"{row.estimate:+.4f}", ci,
                      f"{row.p_value:.4g}", f"{row.p_adjusted:.4g}", str(row.n),
                      style="bold green" if sig else None)
    return table


def _rolling_table(summary: Any, title: str) -> Table:
    """``market.stats.summarize_rolling`` output as one column per window size."""
    table = Table(title=title)
    table.add_column("figure")
    rows = list(summary.itertuples())
    for r in rows:
        table.add_column(f"{r.window} sessions", justify="right")
    figures = [
        ("windows", lambda r: f"{r.n_windows:,}"),
        ("correlation: mean", lambda r: f"{r.corr_mean:+.3f}"),
        ("correlation: min", lambda r: f"{r.corr_min:+.3f} {r.corr_min_date.date()}"),
        ("correlation: max", lambda r: f"{r.corr_max:+.3f} {r.corr_max_date.date()}"),
        ("correlation: last", lambda r: f"{r.corr_last:+.3f}"),
        ("|corr| noise95", lambda r: f"{r.corr_null95:.3f}"),
        ("share of windows beyond", lambda r: f"{r.share_corr_beyond_null95:.0%}"),
        ("MI (nats): mean", lambda r: f"{r.mi_mean:.3f}"),
        ("MI: max", lambda r: f"{r.mi_max:.3f}"),
        ("MI: last", lambda r: f"{r.mi_last:.3f}"),
        ("MI noise95", lambda r: f"{r.mi_null95:.3f}"),
        ("share of windows beyond", lambda r: f"{r.share_mi_beyond_null95:.0%}"),
    ]
    for name, f in figures:
        table.add_row(name, *[f(r) for r in rows])
    return table


NOISE95 = ("noise95: the value that 5% of windows reach when the two series are rotated against each other "
           "(circular shift, independence); a window beyond it is one of many windows looked at, not a finding.")


def _check_outputs(pair: Optional[tuple[str, str]], plot: Optional[Path], json_out: Optional[Path],
                   sentiment_csv: Optional[Path], rolling: bool) -> None:
    """Option conflicts and unusable output paths, before any statistics run."""
    if pair is not None:
        if pair[0].strip().upper() == pair[1].strip().upper():
            raise CrowdpulseError(f"--pair needs two different tickers, not {pair[0]} twice")
        if sentiment_csv is not None or rolling:
            raise CrowdpulseError("--pair compares two tickers' returns; --sentiment-csv and --rolling apply without it")
    if plot is not None:
        if pair is None:
            raise CrowdpulseError("--plot draws the rolling figures of --pair A B; add --pair")
        if plot.suffix.lower() != ".png":
            raise CrowdpulseError(f"--plot {plot}: the plot is a PNG; give a file name ending in .png")
    for path in (p for p in (plot, json_out) if p is not None):
        if path.is_dir() or not path.name:
            raise CrowdpulseError(f"{path or '(empty)'} is a folder; give a file name")
        path.parent.mkdir(parents=True, exist_ok=True)


def _run_pair(db: Path, pair: tuple[str, str], windows: list[int], prices_csv: Optional[Path],
              json_out: Optional[Path], plot: Optional[Path], seed: int) -> None:
    from market.network import correlation_network
    from market.returns import session_returns
    from market.stats import rolling_pair, summarize_rolling

    a, b = (p.upper() for p in pair)
    returns = session_returns(_prices(db, [a, b], prices_csv))
    rolling = rolling_pair(returns, a, b, windows, seed=seed)
    summary = summarize_rolling(rolling)
    n_sessions = int(returns.pivot_table(index="date", columns="ticker", values="ret").dropna().shape[0])
    console.print(_rolling_table(summary, f"{a} vs {b} daily returns, {n_sessions} common sessions: "
                                          "rolling figures per window size"))
    console.print(NOISE95)
    net = correlation_network(returns, window=max(windows))
    console.print(net.summary())
    if plot is not None:
        from market.plot import plot_rolling_pair

        console.print(f"plot: {plot_rolling_pair(rolling, a, b, plot)}")
    if json_out is not None:
        doc = {
            "n_sessions": n_sessions, "pair": [a, b], "windows": windows,
            "summary": json.loads(summary.to_json(orient="records", date_format="iso")),
            "rolling": json.loads(rolling.to_json(orient="records", date_format="iso")),
        }
        json_out.write_text(json.dumps(doc, indent=1))
        console.print(f"wrote {json_out}")


def _print_rolling_signal(sentiment: Any, returns: Any, windows: list[int], signal_name: str, seed: int) -> list[dict]:
    """Print per-ticker rolling figures of the signal against same-session returns; their JSON summary."""
    from market.stats import MIN_PAIRS, rolling_signal, summarize_rolling

    with console.status("rolling windows"):
        roll = rolling_signal(sentiment, returns, windows, seed=seed)
    out = []
    for ticker in sorted(set(sentiment["ticker"].astype(str).str.upper())):
        g = roll[roll["ticker"] == ticker]
        if g.empty:
            console.print(f"{ticker}: fewer sessions with both {signal_name} and returns than the tests need "
                          f"({MIN_PAIRS}) or the smallest window ({min(windows)}); no rolling figures")
            continue
        summary = summarize_rolling(g)
        console.print(_rolling_table(summary, f"{ticker}: {signal_name} vs same-session return, rolling figures per window size"))
        out.append({"ticker": ticker, "summary": json.loads(summary.to_json(orient="records", date_format="iso"))})
    console.print(NOISE95)
    return out


def register(app: typer.Typer) -> None:
    @app.command("prices")
    def prices_cmd(
        tickers: Annotated[list[str], typer.Argument(help="Ticker symbols, e.g. IWM TLT.")],
        start: Annotated[str, typer.Option("--start", help="First date (YYYY-MM-DD).")] = "2020-01-01",
        end: Annotated[Optional[str], typer.Option("--end", help="Last date (YYYY-MM-DD); default today.")] = None,
        csv: Annotated[Optional[Path], typer.Option("--csv", help="Folder of TICKER.csv files (Yahoo layout) instead of Yahoo.")] = None,
        refresh: Annotated[bool, typer.Option("--refresh", help="Refetch the whole range (adjusted closes change after dividends).")] = False,
        db: DbOption = DEFAULT_DB_PATH,
    ) -> None:
        """Load daily prices (adjusted) from Yahoo Finance or CSV files and cache them in the database.

        Yahoo is asked only for sessions not cached yet; when it cannot be reached, tickers already
        cached keep their prices and a note says how old they are.

        Example: crowdpulse prices IWM TLT --start 2020-01-01 --csv ../shared/data/market/adjusted_2026
        """
        from crowdpulse.prices import read_prices, stale_note, update_prices
        from market.prices import normalize_tickers

        symbols = normalize_tickers([t for item in tickers for t in _split(item)])
        with open_store(db) as store:
            got = update_prices(store, symbols, start=start, end=end, csv_dir=csv, refresh=refresh)
            cached = read_prices(store, symbols)
        table = Table(title=f"prices in {db} ({got['provider']}: {got['inserted']} new rows, {got['updated']} updated"
                            + (f"; up to date: {', '.join(got['skipped'])}" if got["skipped"] else "") + ")")
        for col in ("ticker", "sessions", "first", "last", "last adj close"):
            table.add_column(col, justify="right" if col != "ticker" else "left")
        for t, g in cached.groupby("ticker"):
            table.add_row(t, f"{len(g):,}", str(g["date"].min().date()), str(g["date"].max().date()),
                          f"{g['adj_close'].iloc[-1]:.2f}")
        console.print(table)
        note = stale_note(got)
        if note:
            err_console.print(f"note: {note}", markup=False, highlight=False)

    @app.command("correlate")
    def correlate_cmd(
        db: DbOption = DEFAULT_DB_PATH,
        tickers: Annotated[str, typer.Option("--tickers", help="Comma-separated tickers.")] = "IWM,TLT",
        signal: Annotated[str, typer.Option("--signal", help="Daily sentiment signal: mean_score, bullishness or count.")] = "mean_score",
        lags: Annotated[int, typer.Option("--lags", help="K: correlations at lags -K..K; Granger orders 1..K (none with --lags 0).")] = 5,
        permutations: Annotated[int, typer.Option("--permutations", help="Circular-shift permutations / bootstrap draws.")] = 1000,
        sentiment_csv: Annotated[Optional[Path], typer.Option("--sentiment-csv", help="CSV with columns date, ticker, value instead of the database index.")] = None,
        prices_csv: Annotated[Optional[Path], typer.Option("--prices-csv", help="Folder of TICKER.csv files instead of the prices table.")] = None,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON to this file.")] = None,
        pair: Annotated[Optional[tuple[str, str]], typer.Option("--pair", help="Two tickers: rolling correlation and MI of their returns.")] = None,
        windows: Annotated[str, typer.Option("--windows", help="Rolling window sizes for --pair and --rolling.")] = "20,60,120",
        rolling: Annotated[bool, typer.Option("--rolling", help="Also the rolling correlation and MI of the signal against same-session returns, per ticker and --windows size.")] = False,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="With --pair: write a PNG of the rolling figures.")] = None,
        model: Annotated[Optional[str], typer.Option("--model", help="model_id whose scores form the index (default: the most used).")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for permutations and bootstrap.")] = 0,
    ) -> None:
        """Test crowd sentiment against session returns (lead, lag, chase), or two tickers against each other.

        Pearson/Spearman at lags -K..K with Newey-West HAC p-values, Granger both ways (lag by AIC),
        KSG mutual information with circular-shift permutation p-values, an event study of the top and
        bottom sentiment deciles; p-values adjusted by Benjamini-Hochberg over all tests. Lag k > 0:
        sentiment at session t against the return of session t+k.

        Example: crowdpulse correlate --tickers IWM,TLT --sentiment-csv sentiment.csv --prices-csv prices/ --json out.json

        Example: crowdpulse correlate --pair IWM TLT --windows 20,60,120 --prices-csv ../shared/data/market/adjusted_2026
        """
        from market.prices import normalize_tickers

        _check_outputs(pair, plot, json_out, sentiment_csv, rolling)
        if pair is not None:
            _run_pair(db, pair, _windows(windows), prices_csv, json_out, plot, seed)
            return
        if signal not in SIGNALS:
            raise CrowdpulseError(f"--signal {signal!r} is not one of {', '.join(SIGNALS)}")
        symbols = normalize_tickers(tickers)
        from market.returns import session_returns
        from market.stats import correlate_all, results_json

        if sentiment_csv is not None:
            sentiment = read_sentiment_csv(sentiment_csv)
            signal_name = sentiment_csv.stem if signal == "mean_score" else signal
        else:
            sentiment = _db_sentiment(db, symbols, signal, model)
            signal_name = signal
        sentiment = sentiment[sentiment["ticker"].astype(str).str.upper().isin(symbols)]
        if sentiment.empty:
            raise CrowdpulseError(f"no sentiment for {', '.join(symbols)}; check --tickers and the sentiment source")
        returns = session_returns(_prices(db, symbols, prices_csv))
        with console.status("running tests"):
            results = correlate_all(sentiment, returns, lags=lags, permutations=permutations, seed=seed,
                                    signal_name=signal_name, tickers=symbols)
        if results.empty:
            raise CrowdpulseError("too few sessions with both sentiment and returns to test (need 30 per ticker)")
        console.print(_results_table(results, f"{signal_name} vs session returns: {results.attrs['n_sessions']} sessions, "
                                              f"{results.attrs['n_tests']} tests (* = BH-adjusted p < 0.05)"))
        ran = set(results["test"])
        for test, method in results.attrs["methods"].items():
            if test in ran:  # no Granger line after --lags 0, which runs none
                console.print(f"  {test}: {method}", style="dim")
        doc = results_json(results)
        if rolling:
            doc["rolling"] = _print_rolling_signal(sentiment, returns, _windows(windows), signal_name, seed)
        if json_out is not None:
            json_out.write_text(json.dumps(doc, indent=1))
            err_console.print(f"wrote {json_out}")
