"""Messages a new user met that misled (issue 24): few labels to train on, a folder given for a
file, a bad sentiment CSV or stats JSON, counts that did not add up, --lags 0, prices offline,
paths of one machine in the help, --version, flags shown as <bool>, tables cut in a pipe."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdpulse.errors import CrowdpulseError
from models.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd=None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=env)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    err = out.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    return err


def labeled(n: int, pattern: str = "cycle") -> pd.DataFrame:
    """n labeled rows: the three labels in turn, only two of them, or nearly all one."""
    if pattern == "cycle":
        labels = [LABELS[i % 3] for i in range(n)]
    elif pattern == "two":
        labels = [LABELS[i % 2] for i in range(n)]
    else:
        labels = [LABELS[0] if i >= 4 else LABELS[i % 2 + 1] for i in range(n)]
    return pd.DataFrame({"text": [f"post {i} about IWM" for i in range(n)], "label": labels})


# ----------------------------------------------------------------- item 9: few labels
@pytest.mark.parametrize("pattern", ["cycle", "two", "skewed"])
def test_any_row_count_splits_or_says_how_many_labels_are_needed(pattern):
    from crowdpulse.commands.models import MIN_PER_CLASS, _stratified_split

    for n in range(0, 41):
        frame = labeled(n, pattern)
        counts = frame["label"].value_counts()
        try:
            train, held = _stratified_split(frame, 0.1, seed=13)
        except CrowdpulseError as exc:
            assert (counts < MIN_PER_CLASS).any() or len(counts) < 2, (n, pattern)
            assert "need at least 2 labels for each of at least two classes, have bullish" in str(exc)
            continue
        assert len(train) + len(held) == n
        assert set(train["label"]) == set(held["label"]) == set(counts.index), (n, pattern)
        assert not set(train["text"]) & set(held["text"])


class _Trained:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, frame, held, out, **kwargs):
        self.calls.append((len(frame), len(held)))
        return SimpleNamespace(out_dir=out, best_epoch=1, temperature=1.0, seconds=1.0, metrics={"macro_f1": 0.5})


def test_train_with_ten_labels_from_a_file_or_the_database_reaches_training(tmp_path, monkeypatch):
    import models.train

    from crowdpulse.cli import app
    from crowdpulse.store import Store
    from scrapers.records import Post

    trained = _Trained()
    monkeypatch.setattr(models.train, "train", trained)
    labeled(10).to_csv(tmp_path / "ten.csv", index=False)
    runner = CliRunner()
    got = runner.invoke(app, ["models", "train", "--data", str(tmp_path / "ten.csv"), "--out", str(tmp_path / "m1")])
    assert got.exit_code == 0, got.output
    db = tmp_path / "labels.duckdb"
    when = datetime(2024, 6, 1, tzinfo=timezone.utc)
    with Store.open(db) as store:
        store.upsert_posts([Post("reddit", f"p{i}", f"p{i}", created_at=when, body=f"post {i} about IWM")
                            for i in range(10)])
        store.upsert("labels", [{"source": "reddit", "post_id": f"p{i}", "annotator": "a", "label": LABELS[i % 3],
                                 "labeled_at": when, "origin": "label-studio"} for i in range(10)])
    got = runner.invoke(app, ["models", "train", "--from-db", "--db", str(db), "--out", str(tmp_path / "m2")])
    assert got.exit_code == 0, got.output
    assert trained.calls == [(7, 3), (7, 3)]


def test_train_with_too_few_labels_says_how_many_per_class(tmp_path):
    labeled(5, "skewed").to_csv(tmp_path / "five.csv", index=False)
    err = one_line_error(cli("models", "train", "--data", str(tmp_path / "five.csv"), "--out", str(tmp_path / "m")))
    assert err == ("error: too few labels to train and hold out an eval split: need at least 2 labels for each of at "
                   "least two classes, have bullish 1, bearish 2, neutral 2; label more, or pass --eval FILE to "
                   "evaluate on other rows")


@pytest.mark.slow  # trains MiniLM for an epoch on 10 rows: ~30 s on the shared machine
def test_train_on_ten_labels_writes_a_model(tmp_path):
    labeled(10).to_csv(tmp_path / "ten.csv", index=False)
    out = cli("models", "train", "--data", str(tmp_path / "ten.csv"), "--out", str(tmp_path / "m"), "--epochs", "1")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m" / "crowdpulse_model.json").is_file()


# ----------------------------------------------------------------- item 10: a folder for a file
@pytest.mark.parametrize(("args", "says"), [
    (["import-labels", "{dir}"], "error: {dir} is a folder; give the JSON file Label Studio exported "
                                 "(Export > JSON in the project)"),
    (["run", "{dir}"], "error: {dir} is a folder; give a TOML run config file (e.g. examples/offline.toml)"),
    (["import", "csv", "{dir}", "--text-col", "t", "--time-col", "c"], "error: {dir} is a folder; give a CSV file"),
    (["import", "reddit-dump", "{dir}"], "error: {dir} is a folder; give dump files (e.g. {dir}/RC_2021-01.zst "
                                         "or a shell glob)"),
])
def test_a_folder_given_for_a_file_says_it_is_a_folder(tmp_path, args, says):
    folder = tmp_path / "exports"
    folder.mkdir()
    db = tmp_path / "x.duckdb"
    if args[0] == "import-labels":
        from crowdpulse.store import Store

        Store.open(db).close()
    err = one_line_error(cli(*[a.format(dir=folder) for a in args], "--db", str(db)) if args[0] != "run"
                         else cli(*[a.format(dir=folder) for a in args]))
    assert err == says.format(dir=folder)


# ----------------------------------------------------------------- item 11: name the real problem
def test_a_sentiment_csv_with_words_for_values_says_so(tmp_path):
    path = tmp_path / "sentiment.csv"
    rows = [f"2024-01-{d:02d},IWM,{0.1 * d:.1f}" for d in range(2, 9)] + ["2024-01-09,TLT,bullish", "2024-01-10,TLT,"]
    path.write_text("date,ticker,value\n" + "\n".join(rows) + "\n")
    err = one_line_error(cli("correlate", "--sentiment-csv", str(path), "--prices-csv", str(tmp_path)))
    assert err == (f"error: {path}: column value must hold numbers; data row 8 has 'bullish' "
                   "(1 of 9 rows is not a number)")


def test_report_stats_cut_short_says_it_is_not_valid_json(tmp_path):
    stats = tmp_path / "stats.json"
    doc = {"results": [{"ticker": "IWM", "test": "pearson", "lag": 0, "estimate": 0.1, "p_adjusted": 0.5}]}
    text = json.dumps(doc, indent=1)
    stats.write_text(text[: len(text) // 2])
    err = one_line_error(cli("report", "--stats", str(stats), "--db", str(tmp_path / "none.duckdb")))
    assert err.startswith(f"error: --stats {stats} is not valid JSON (")
    assert err.endswith("the file ends there, cut short?); write it again with crowdpulse correlate --json FILE")
    stats.write_text('{"results": [}')
    err = one_line_error(cli("report", "--stats", str(stats), "--db", str(tmp_path / "none.duckdb")))
    assert err == (f"error: --stats {stats} is not valid JSON (Expecting value at line 1, column 14); "
                   "write it again with crowdpulse correlate --json FILE")


# ----------------------------------------------------------------- item 12: every count adds up
def test_import_csv_names_the_duplicate_rows(tmp_path):
    rows = [f"post {i} about IWM,2024-01-{1 + i % 28:02d}" for i in range(1800)]
    path = tmp_path / "posts.csv"
    path.write_text("text,time\n" + "\n".join(rows + rows[:300]) + "\n")
    out = cli("import", "csv", str(path), "--text-col", "text", "--time-col", "time", "--db", str(tmp_path / "c.duckdb"),
              "-q")
    assert out.returncode == 0, out.stderr
    assert (f"{path}: 2,100 rows: 2,100 posts (time precision day), 0 without text, 0 with an unreadable time; of the "
            "posts 1,800 new, 0 updated, 300 repeating the id of an earlier row (stored once, the last wins)") in out.stdout


def test_duplicates_across_chunks_are_counted_as_duplicates_not_updates(tmp_path, fresh_store):
    from crowdpulse.imports import import_csv
    from scrapers.csv_export import CsvColumns

    rows = [f"post {i},2024-01-02" for i in range(1000)]
    path = tmp_path / "posts.csv"
    path.write_text("text,time\n" + "\n".join(rows + rows[:300]) + "\n")
    got = import_csv(fresh_store, path, CsvColumns(text="text", time="time"), progress=False, chunksize=250)
    assert (got.inserted, got.updated, got.duplicates) == (1000, 0, 300)
    again = import_csv(fresh_store, path, CsvColumns(text="text", time="time"), progress=False, chunksize=250)
    assert (again.inserted, again.updated, again.duplicates) == (0, 1000, 300)


def test_score_names_the_posts_it_skipped(tmp_path, monkeypatch):
    import models
    import models.encoder

    from crowdpulse.cli import app
    from crowdpulse.store import Store
    from scrapers.records import Post
    from tests.sentiment_fakes import HashEncoder, KeywordModel

    monkeypatch.setattr(models, "load_model", lambda spec, **kw: KeywordModel())
    monkeypatch.setattr(models.encoder, "default_encoder", lambda: HashEncoder())
    db = tmp_path / "s.duckdb"
    when = datetime(2024, 1, 2, 15, tzinfo=timezone.utc)
    bodies = ["IWM up", "TLT down", "[deleted]", "[removed]", "[removed]", "  ", "calls on IWM"]
    with Store.open(db) as store:
        store.upsert_posts([Post("reddit", f"p{i}", "p0", None if i == 0 else "p0", int(i > 0), created_at=when,
                                 body=b) for i, b in enumerate(bodies)])
    res = CliRunner().invoke(app, ["score", "--db", str(db), "-q"])
    assert res.exit_code == 0, res.output
    assert "scored 3 posts with keywords@test" in res.output
    assert ("7 posts in the database: 3 scored now, 0 scored before, 4 skipped (3 [deleted]/[removed], "
            "1 without text)") in res.output
    with Store.open(db) as store:
        store.upsert_posts([Post("reddit", "p9", "p0", "p0", 1, created_at=when, body="puts on TLT")])
    res = CliRunner().invoke(app, ["score", "--db", str(db), "-q"])
    assert "8 posts in the database: 1 scored now, 3 scored before, 4 skipped" in res.output


def test_export_without_dedupe_says_nothing_of_duplicates(tmp_path):
    from test_export_synthetic import fill_synthetic

    from crowdpulse.cli import app
    from crowdpulse.store import Store

    db = tmp_path / "e.duckdb"
    with Store.open(db) as store:
        fill_synthetic(store)
    plain = CliRunner().invoke(app, ["export", str(tmp_path / "a.csv"), "--db", str(db)])
    assert plain.exit_code == 0, plain.output
    assert "duplicates" not in plain.output
    deduped = CliRunner().invoke(app, ["export", str(tmp_path / "b.csv"), "--db", str(db), "--dedupe"])
    assert deduped.exit_code == 0 and "duplicates dropped" in deduped.output


# ----------------------------------------------------------------- item 13: --lags 0, prices offline
def test_lags_zero_runs_no_granger_and_the_help_says_so():
    import numpy as np

    from market.calendar import sessions_between
    from market.stats import correlate_all

    dates = sessions_between("2020-01-01", "2021-12-31")[:200]
    rng = np.random.default_rng(1)
    sent = pd.DataFrame({"date": dates, "ticker": "IWM", "value": rng.normal(size=len(dates))})
    rets = pd.DataFrame({"ticker": "IWM", "date": dates, "ret": 0.01 * rng.normal(size=len(dates))})
    none = correlate_all(sent, rets, lags=0, permutations=99, horizons=[1])
    assert set(none["test"]) == {"pearson", "spearman", "mutual_information", "event_top_decile", "event_bottom_decile"}
    assert set(none.query("test == 'pearson'")["lag"]) == {0}
    one = correlate_all(sent, rets, lags=1, permutations=99, horizons=[1])
    assert {"granger_sentiment_to_returns", "granger_returns_to_sentiment"} <= set(one["test"])
    assert "Granger orders 1..K (none with --lags 0)" in " ".join(cli("correlate", "--help").stdout.split())


def test_correlate_lags_zero_lists_no_granger_method(tmp_path):
    import numpy as np

    from market.calendar import sessions_between

    dates = sessions_between("2024-01-01", "2024-12-31")
    rng = np.random.default_rng(0)
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "ticker": "IWM", "value": rng.normal(size=len(dates))}).to_csv(
        tmp_path / "sent.csv", index=False)
    close = 100 * np.exp(np.cumsum(0.01 * rng.normal(size=len(dates))))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close, "Low": close, "Close": close,
                  "Adj Close": close, "Volume": 1e6}).to_csv(tmp_path / "IWM.csv", index=False)
    out = cli("correlate", "--tickers", "IWM", "--sentiment-csv", str(tmp_path / "sent.csv"), "--prices-csv",
              str(tmp_path), "--lags", "0", "--permutations", "99")
    assert out.returncode == 0, out.stderr
    assert "pearson: Pearson r" in out.stdout and "granger" not in out.stdout


def _cached_prices(db: Path, last: str = "2026-02-23") -> None:
    from crowdpulse.store import Store

    dates = pd.bdate_range(end=last, periods=30)
    rows = [{"ticker": t, "date": d.date(), "open": 1.0, "high": 1.0, "low": 1.0, "close": 100.0 + i,
             "adj_close": 100.0 + i, "volume": 1e6, "provider": "yahoo"}
            for t in ("IWM", "TLT") for i, d in enumerate(dates)]
    with Store.open(db) as store:
        store.upsert("prices", rows)


def test_prices_offline_uses_the_cached_prices_and_says_how_old(tmp_path, monkeypatch):
    import market.prices
    from market.errors import PriceDataError

    from crowdpulse.cli import app

    def offline(tickers, **kw):
        raise PriceDataError("no prices from Yahoo Finance for IWM, TLT: could not connect to Yahoo Finance",
                             hint="TICKER.csv files can be read instead")

    monkeypatch.setattr(market.prices, "fetch_yahoo", offline)
    db = tmp_path / "p.duckdb"
    _cached_prices(db)
    res = CliRunner().invoke(app, ["prices", "IWM", "TLT", "--db", str(db)])
    assert res.exit_code == 0, res.output
    days = (pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() - pd.Timestamp("2026-02-23")).days
    assert ("no prices from Yahoo Finance for IWM, TLT: could not connect to Yahoo Finance; using the prices already "
            f"in the database: IWM through 2026-02-23 ({days:,} days old), TLT through 2026-02-23 ({days:,} days old)"
            ) in " ".join(res.output.split())
    assert "IWM" in res.output and "2026-02-23" in res.output  # the table of what is cached
    res = CliRunner().invoke(app, ["prices", "IWM", "SPY", "--db", str(db)])  # nothing cached for SPY: an error
    assert res.exit_code != 0 and "could not connect" in str(res.exception)
    res = CliRunner().invoke(app, ["prices", "IWM", "--db", str(db), "--refresh"])  # --refresh wants new prices
    assert res.exit_code != 0 and "could not connect" in str(res.exception)


# ----------------------------------------------------------------- item 16: --version, flags, pipes
def test_version():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("version")
    out = cli("--version")
    assert out.returncode == 0, out.stderr
    from crowdpulse import __version__

    assert out.stdout.strip() == f"crowdpulse {__version__}" and (version is None or version == __version__)


def test_flags_show_no_bool_metavar():
    from test_cli import _leaf_commands

    from crowdpulse.cli import app

    runner = CliRunner()
    helps = {" ".join(p): runner.invoke(app, [*p, "--help"], env={"COLUMNS": "200"}).output for p, _ in _leaf_commands()}
    assert not [cmd for cmd, text in helps.items() if "<bool>" in text]
    line = next(x for x in helps["scrape"].splitlines() if "--ignore-robots" in x)
    assert "Do not obey robots.txt" in line and "<" not in line.split("Do not")[0]
    assert "<int>" in next(x for x in helps["scrape"].splitlines() if "--pages " in x and "Fetch" in x)  # values keep theirs


def test_a_table_printed_to_a_pipe_keeps_its_full_width(tmp_path):
    from crowdpulse.store import Store

    db = tmp_path / "s.duckdb"
    counts = {f"counter_number_{i}": i * 1000 for i in range(12)}
    with Store.open(db) as store:
        with store.recorded_run("scrape-with-a-long-row", "scrape", {"site": "stocktwits"}, counts):
            pass
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "db", "stats", "--db", str(db)], capture_output=True,
                         text=True, timeout=120, env={**env, "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "scrape-with-a-long-row" in line)
    assert ", ".join(f"{k}={v}" for k, v in counts.items()) in row  # one line, nothing cut or wrapped
    assert len(row) > 200
