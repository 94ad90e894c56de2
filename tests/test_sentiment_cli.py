"""`crowdpulse analyze` and `crowdpulse score` through the CLI and the store."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crowdpulse.cli import app
from tests.sentiment_fakes import HashEncoder, KeywordModel

runner = CliRunner()


def test_analyze_json_shape():
    res = runner.invoke(app, ["analyze", "TLT will move up and IWM will move down in a recession",
                              "--model", "vader", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(rec) == {"id", "label", "p_bullish", "p_bearish", "p_neutral", "tickers", "themes"}
    assert [t["ticker"] for t in rec["tickers"]] == ["TLT", "IWM"]
    assert set(rec["tickers"][0]) == {"ticker", "label", "p_bullish", "p_bearish", "p_neutral", "via"}
    assert "recession" in {t["theme"] for t in rec["themes"]}


def test_analyze_posts_jsonl_applies_thread_context(tmp_path):
    f = tmp_path / "posts.jsonl"
    f.write_text(
        json.dumps({"id": "t1", "thread_id": "t1", "title": "$iShares Russell 2000 ETF(IWM)$ squeeze",
                    "body": "Going up."}) + "\n"
        + json.dumps({"id": "c1", "thread_id": "t1", "parent_id": "t1",
                      "body": "230 is no problem, wait for the callback to buy"}) + "\n")
    res = runner.invoke(app, ["analyze", "--posts", str(f), "--model", "vader", "--json"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.stdout.strip().splitlines() if line.startswith("{")]
    assert [(r["id"], [(t["ticker"], t["via"]) for t in r["tickers"]]) for r in recs] == [
        ("t1", [("IWM", "cashtag")]), ("c1", [("IWM", "context")])]


def test_analyze_bad_input_is_one_line(tmp_path):
    from crowdpulse.cli import main

    f = tmp_path / "bad.jsonl"
    f.write_text("{not json\n")
    for args in (["analyze"], ["analyze", "--posts", str(f)]):
        res = runner.invoke(app, args)
        assert res.exit_code != 0
    with pytest.raises(SystemExit) as exc:
        import sys
        sys.argv = ["crowdpulse", "analyze", "--posts", str(f), "--model", "vader"]
        main()
    assert exc.value.code == 2


@pytest.mark.parametrize("lines, says", [
    ([{"body": "IWM up big"}, {"id": "1", "body": "TLT crash"}], "repeats post id '1' of line 1"),
    ([{"id": "a", "body": "IWM up"}, {"id": "a", "body": "TLT down"}], "repeats post id 'a'"),
    ([{"id": "a", "body": 5}], "must be text"),
])
def test_analyze_posts_refuses_what_would_score_wrongly(tmp_path, lines, says):
    from crowdpulse.commands.analyze import read_posts_jsonl
    from crowdpulse.errors import CrowdpulseError

    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(CrowdpulseError, match=says):
        read_posts_jsonl(f)


def test_analyze_posts_reads_exported_jsonl_and_refuses_binary(tmp_path):
    from crowdpulse.commands.analyze import read_posts_jsonl
    from crowdpulse.errors import CrowdpulseError

    f = tmp_path / "export.jsonl"  # crowdpulse export's JSONL names the body "text"
    f.write_text(json.dumps({"source": "reddit", "id": "x1", "text": "IWM calls", "label": "bullish"}) + "\n")
    assert read_posts_jsonl(f)[["source", "id", "body"]].values.tolist() == [["reddit", "x1", "IWM calls"]]
    f.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(CrowdpulseError, match="not a UTF-8 text file"):
        read_posts_jsonl(f)


def test_analyze_file_refuses_a_binary_file(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(bytes(range(256)) * 8)
    res = runner.invoke(app, ["analyze", "--file", str(f), "--model", "vader"])
    assert res.exit_code != 0 and "is not a text file" in str(res.exception)


def test_help_shows_example():
    for cmd in ("analyze", "score"):
        res = runner.invoke(app, [cmd, "--help"])
        assert "Example" in res.output


def test_score_store_batches_and_resumes(fresh_store):
    from crowdpulse.scoring import score_store

    fresh_store.upsert_posts(__import__("pandas").DataFrame([
        {"source": "r", "id": "t1", "thread_id": "t1", "parent_id": None, "title": "Long bonds now",
         "body": "TLT will rally as the Fed cuts", "created_at": "2024-01-02 15:00:00"},
        {"source": "r", "id": "c1", "thread_id": "t1", "parent_id": "t1", "title": None,
         "body": "agreed, buy", "created_at": "2024-01-02 16:00:00"},
        {"source": "r", "id": "c2", "thread_id": "t1", "parent_id": "t1", "title": None,
         "body": "IWM will drop and TLT will go up in a recession", "created_at": "2024-01-02 17:00:00"},
    ]).assign(created_at=lambda d: __import__("pandas").to_datetime(d.created_at)))
    model = KeywordModel()
    counts = score_store(fresh_store, model, batch_size=1, progress=False, encoder=HashEncoder())
    assert (counts["posts"], counts["scores"], counts["batches"]) == (3, 3, 3)
    st = fresh_store.query("SELECT post_id, ticker, label, via FROM stances ORDER BY post_id, ticker")
    assert list(st.itertuples(index=False, name=None)) == [
        ("c1", "TLT", "bullish", "context"), ("c2", "IWM", "bearish", "symbol"),
        ("c2", "TLT", "bullish", "symbol"), ("t1", "TLT", "bullish", "alias")]
    assert not fresh_store.query("SELECT * FROM themes WHERE theme = 'recession'").empty
    again = score_store(fresh_store, model, progress=False, encoder=HashEncoder())
    assert again["posts"] == 0
