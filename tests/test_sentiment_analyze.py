"""Per-ticker stance, context inheritance, boilerplate and themes on sentences written for the project."""
from __future__ import annotations

import pandas as pd
import pytest

from sentiment.analyze import analyze_posts, analyze_text
from sentiment.text import clean_text, split_clauses, split_sentences
from sentiment.tickers import link_tickers
from tests.sentiment_fakes import HashEncoder, KeywordModel


def stance(result, post_id="1"):
    rows = result.stances[result.stances.post_id == post_id]
    return {r.ticker: (r.label, r.via) for r in rows.itertuples()}


def post(id, body, thread_id=None, parent_id=None, title=None):
    return {"source": "t", "id": id, "thread_id": thread_id, "parent_id": parent_id, "title": title, "body": body}


def test_mixed_ticker_clauses_get_their_own_stance():
    out = analyze_text("I think that TLT will move up with expected rate cuts and IWM will move down "
                       "with an expected recession", KeywordModel(), encoder=HashEncoder())
    got = {t["ticker"]: t["label"] for t in out["tickers"]}
    assert got == {"TLT": "bullish", "IWM": "bearish"}
    assert {t["theme"] for t in out["themes"]} >= {"rate_cuts", "recession"}


def test_clause_split_needs_a_different_ticker_on_each_side():
    text = "IWM and TLT both fall, but SPY will rally"
    at = [(m.start, m.end, m.ticker) for m in link_tickers(text)]
    spans = split_clauses(text, split_sentences(text)[0], at)
    assert [(text[s.start:s.end], set(n)) for s, n in spans] == [
        ("IWM and TLT both fall", {"IWM", "TLT"}), ("SPY will rally", {"SPY"})]


def test_one_model_call_for_the_whole_batch():
    model = KeywordModel()
    posts = pd.DataFrame([post("1", "TLT will go up and IWM will go down hard today"), post("2", "GME to the moon"),
                          post("3", "nothing here")])
    res = analyze_posts(posts, model, encoder=HashEncoder())
    assert stance(res) == {"TLT": ("bullish", "symbol"), "IWM": ("bearish", "symbol")}
    assert len(model.calls) == 1
    # three posts + two clauses of the mixed post
    assert len(model.calls[0]) == 5


def test_reply_inherits_parent_then_thread_ticker():
    posts = pd.DataFrame([
        post("t1", "Short squeeze coming, rate cuts will help", thread_id="t1",
             title="$iShares Russell 2000 ETF(IWM)$ is ready"),
        post("c1", "230 is no problem, wait for the callback to buy", thread_id="t1", parent_id="t1"),
        post("c2", "agreed, buy more", thread_id="t1", parent_id="c1"),
        post("c3", "TLT puts instead", thread_id="t1", parent_id="t1"),
        post("c4", "why though", thread_id="t1", parent_id="c3"),
    ])
    res = analyze_posts(posts, KeywordModel(), encoder=HashEncoder())
    assert stance(res, "t1") == {"IWM": ("bullish", "cashtag")}
    assert stance(res, "c1") == {"IWM": ("bullish", "context")}
    assert stance(res, "c2") == {"IWM": ("bullish", "context")}
    assert stance(res, "c3") == {"TLT": ("bearish", "symbol")}
    assert stance(res, "c4") == {"TLT": ("neutral", "context")}


def test_reply_inherits_from_context_outside_the_batch():
    ctx = pd.DataFrame([post("t9", "long bonds are the trade", thread_id="t9")])
    posts = pd.DataFrame([post("c9", "wait for the dip", thread_id="t9", parent_id="t9")])
    res = analyze_posts(posts, KeywordModel(), encoder=HashEncoder(), context=ctx)
    assert stance(res, "c9") == {"TLT": ("neutral", "context")}


def test_no_ticker_and_no_context_gives_no_stance():
    res = analyze_posts(pd.DataFrame([post("1", "markets are wild")]), KeywordModel(), encoder=HashEncoder())
    assert res.stances.empty
    assert len(res.scores) == 1


def test_disclaimer_and_quotes_do_not_count():
    text = "> GME will crash\nIWM calls are printing. This is not financial advice, do your own research."
    assert clean_text(text) == "IWM calls are printing."
    model = KeywordModel()
    out = analyze_text(text, model, encoder=HashEncoder())
    assert [t["ticker"] for t in out["tickers"]] == ["IWM"]
    assert model.calls[0] == ["IWM calls are printing."]


def test_disclaimer_only_post_is_neutral_without_a_model_call():
    model = KeywordModel()
    out = analyze_text("Not financial advice. DYOR.", model, encoder=HashEncoder())
    assert out["label"] == "neutral" and out["p_neutral"] == 1.0
    assert model.calls == []


def test_theme_only_comment_with_no_ticker():
    out = analyze_text("Inflation is eating everything and the Fed keeps hiking", KeywordModel(),
                       encoder=HashEncoder())
    assert out["tickers"] == []
    assert {t["theme"] for t in out["themes"]} >= {"inflation", "fed_policy"}


def test_future_and_negation_do_not_flip_the_model():
    out = analyze_text("IWM will move down and TLT needs to drop", KeywordModel(), encoder=HashEncoder())
    assert {t["ticker"]: t["label"] for t in out["tickers"]} == {"IWM": "bearish", "TLT": "bearish"}


def test_bad_model_output_is_a_clear_error():
    from sentiment.errors import SentimentError

    class Broken(KeywordModel):
        def predict_proba(self, texts, *, progress=False):
            return super().predict_proba(texts)[:, :2]

    with pytest.raises(SentimentError, match="shape"):
        analyze_text("IWM up", Broken(), encoder=HashEncoder())


def test_single_sentence_post_is_not_scored_twice():
    model = KeywordModel()
    analyze_posts(pd.DataFrame([post("1", "IWM and TLT both fall")]), model, encoder=HashEncoder())
    assert model.calls == [["IWM and TLT both fall"]]


def test_and_between_two_tickers_does_not_split_the_verb_from_its_object():
    text = "I'd avoid CM and BNS unless you want the high yields"
    at = [(m.start, m.end, m.ticker) for m in link_tickers(text)]
    spans = split_clauses(text, split_sentences(text)[0], at)
    assert [(text[s.start:s.end], set(n)) for s, n in spans] == [(text, {"CM", "BNS"})]


def test_repeated_post_keys_are_refused_and_float_parent_ids_still_link():
    import numpy as np

    from sentiment.errors import SentimentError

    twice = pd.DataFrame({"source": "reddit", "id": ["1", "1"], "body": ["IWM is great", "TLT is terrible"]})
    with pytest.raises(SentimentError, match=r"\(reddit, 1\) appears 2 times"):
        analyze_posts(twice, KeywordModel(), themes=False)
    # an int id column with a gap becomes floats in pandas: parent 1.0 is post 1
    replies = pd.DataFrame({"source": "reddit", "id": [1, 2, 3], "thread_id": [np.nan] * 3,
                            "parent_id": [np.nan, 1, 2], "body": ["I love IWM", "agreed, buying more", "same here"]})
    st = analyze_posts(replies, KeywordModel(), themes=False).stances
    assert st[["post_id", "ticker", "via"]].values.tolist() == [["1", "IWM", "symbol"], ["2", "IWM", "context"],
                                                                ["3", "IWM", "context"]]
