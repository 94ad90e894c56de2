"""The target-aware stance model: marked inputs, its training examples, and how analyze_posts uses it."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sentiment.analyze import analyze_posts
from sentiment.stance_data import join_rows, linked_rows, stance_examples
from sentiment.text import mark_target, target_text
from sentiment.tickers import link_tickers
from tests.sentiment_fakes import HashEncoder, KeywordModel

MARKED = re.compile(r"<<([^<>]+)>>")


class MarkedKeywordModel(KeywordModel):
    """Reads only the sentence that holds the marked ticker: a stand-in for a target-aware model."""

    model_id = "marked@test"

    def predict_proba(self, texts, *, progress=False):
        around = []
        for t in texts:
            m = MARKED.search(t)
            assert m, f"stance model input has no marked ticker: {t!r}"
            s = max(t.rfind(".", 0, m.start()), t.rfind(";", 0, m.start())) + 1
            e = min([k for k in (t.find(".", m.end()), t.find(";", m.end())) if k >= 0] or [len(t)])
            around.append(t[s:e])
        probs = super().predict_proba(around)
        self.calls[-1] = list(texts)  # record what the model was given
        return probs


def mentions(text):
    return [(m.start, m.end, m.ticker) for m in link_tickers(text)]


def test_mark_target_wraps_every_mention_of_the_ticker_only():
    text = "TLT will move up with rate cuts and IWM will move down; long bonds win"
    assert mark_target(text, mentions(text), "TLT") == (
        "<<TLT>> will move up with rate cuts and IWM will move down; <<long bonds>> win")
    assert mark_target(text, mentions(text), "IWM") == (
        "TLT will move up with rate cuts and <<IWM>> will move down; long bonds win")
    assert mark_target(text, mentions(text), "QQQ") == text


def test_target_text_cuts_long_posts_to_the_sentences_around_the_ticker():
    text = "Some words about my week. " * 40 + "I bought TLT today. It will rally. Then IWM news. " + "More filler. " * 5
    got = target_text(text, mentions(text), "TLT")
    assert got == "Some words about my week. I bought <<TLT>> today. It will rally."
    short = "I bought TLT today and IWM fell"
    assert target_text(short, mentions(short), "IWM") == "I bought TLT today and <<IWM>> fell"


def test_stance_examples_label_each_marked_ticker_by_the_row_that_names_it():
    rows = pd.DataFrame({"text": ["Loading more NVDA calls", "PYPL is a dead fintech", "AAPL earnings on Thursday",
                                  "Sold all my TSLA, it's done", "no ticker in this one"],
                         "label": ["bullish", "bearish", "neutral", "bearish", "bullish"]})
    linked = linked_rows(rows)
    assert [r.label for r in linked] == ["bullish", "bearish", "neutral", "bearish"]  # the ticker-less row is gone
    by_ticker = {t: r.label for r in linked for t in r.tickers}
    ex = stance_examples(linked, composites=200, seed=3)
    assert (ex["kind"] == "single").sum() == 4
    comp = ex[ex["kind"] == "composite"]
    assert len(comp) > 100
    for text, label in zip(ex["text"], ex["label"]):
        marked = set(MARKED.findall(text))
        assert len(marked) == 1
        assert by_ticker[marked.pop()] == label
    # most composites join rows of different stances
    def stances_in(text):
        return {by_ticker[t] for t in {m.ticker for m in link_tickers(text.replace("<<", "").replace(">>", ""))}}
    assert np.mean([len(stances_in(t)) > 1 for t in comp["text"]]) > 0.5


def test_join_rows_shifts_mentions_and_ends_sentences():
    linked = linked_rows(pd.DataFrame({"text": ["buying NVDA", "PYPL is dead."], "label": ["bullish", "bearish"]}))
    text, at, stance = join_rows(linked)
    assert text == "buying NVDA. PYPL is dead."
    assert [text[s:e] for s, e, _ in at] == ["NVDA", "PYPL"]
    assert stance == {"NVDA": "bullish", "PYPL": "bearish"}


def test_analyze_posts_asks_the_stance_model_about_every_named_ticker():
    model, judge = KeywordModel(), MarkedKeywordModel()
    model.stance_model = judge
    posts = pd.DataFrame([
        {"source": "t", "id": "1", "body": "TLT to the moon. IWM will crash"},
        {"source": "t", "id": "2", "body": "GME calls"},
        {"source": "t", "id": "3", "body": "why though", "parent_id": "2", "thread_id": "2"},
    ])
    res = analyze_posts(posts, model, encoder=HashEncoder(), themes=False)
    got = {(r.post_id, r.ticker): (r.label, r.via) for r in res.stances.itertuples()}
    assert got == {("1", "TLT"): ("bullish", "symbol"), ("1", "IWM"): ("bearish", "symbol"),
                   ("2", "GME"): ("bullish", "symbol"), ("3", "GME"): ("neutral", "context")}  # a reply: its own text
    assert len(judge.calls) == 1  # one call for the batch
    assert sorted(judge.calls[0]) == sorted(["<<TLT>> to the moon. IWM will crash",
                                             "TLT to the moon. <<IWM>> will crash", "<<GME>> calls"])


def test_stance_model_false_keeps_the_clause_mean():
    model, judge = KeywordModel(), MarkedKeywordModel()
    model.stance_model = judge
    posts = pd.DataFrame([{"source": "t", "id": "1", "body": "GME calls"}])
    analyze_posts(posts, model, encoder=HashEncoder(), themes=False, stance_model=False)
    assert judge.calls == []


def test_stance_is_the_weighted_mix_of_the_stance_model_and_the_clause_mean():
    from sentiment.analyze import STANCE_WEIGHT

    class AlwaysBearish:
        model_id = "bear@test"

        def predict_proba(self, texts, *, progress=False):
            return np.tile([0.0, 1.0, 0.0], (len(texts), 1))

    model = KeywordModel()
    model.stance_model = AlwaysBearish()
    res = analyze_posts(pd.DataFrame([{"source": "t", "id": "1", "body": "GME calls"}]), model,
                        encoder=HashEncoder(), themes=False)
    row = res.stances.iloc[0]
    want = STANCE_WEIGHT * np.array([0.0, 1.0, 0.0]) + (1 - STANCE_WEIGHT) * np.array([0.8, 0.1, 0.1])
    assert np.allclose([row.p_bullish, row.p_bearish, row.p_neutral], want)
    assert res.scores.iloc[0].label == "bullish"  # the post's own label is the main model's


def test_stance_weight_one_takes_the_stance_model_alone():
    class AlwaysBearish:
        def predict_proba(self, texts, *, progress=False):
            return np.tile([0.0, 1.0, 0.0], (len(texts), 1))

    res = analyze_posts(pd.DataFrame([{"source": "t", "id": "1", "body": "GME calls"}]), KeywordModel(),
                        encoder=HashEncoder(), themes=False, stance_model=AlwaysBearish(), stance_weight=1.0)
    row = res.stances.iloc[0]
    assert (row.label, row.p_bearish) == ("bearish", 1.0)


def test_stance_sets_give_one_marked_example_per_ticker_the_linker_finds(tmp_path):
    from sentiment.stance_data import pair_examples, parse_stances, read_stance_posts

    path = tmp_path / "stance_train_x.csv"
    pd.DataFrame({"text": ["Trimmed my Apple to buy more $SCHD, and TSLA can keep drilling without me.",
                           "> quoted AMD line\nNVDA over INTC for the next decade"],
                  "stances": ["AAPL:neutral|SCHD:bullish|TSLA:bearish", "NVDA:bullish|INTC:bearish|AMD:bullish"]}
                 ).to_csv(path, index=False)
    got = pair_examples(read_stance_posts(path))
    assert got.to_dict("records") == [
        {"text": "Trimmed my <<Apple>> to buy more $SCHD, and TSLA can keep drilling without me.",
         "label": "neutral", "kind": "pair"},
        {"text": "Trimmed my Apple to buy more <<$SCHD>>, and TSLA can keep drilling without me.",
         "label": "bullish", "kind": "pair"},
        {"text": "Trimmed my Apple to buy more $SCHD, and <<TSLA>> can keep drilling without me.",
         "label": "bearish", "kind": "pair"},
        # the quoted line is dropped as the analyzer drops it, so AMD is never asked about
        {"text": "<<NVDA>> over INTC for the next decade", "label": "bullish", "kind": "pair"},
        {"text": "NVDA over <<INTC>> for the next decade", "label": "bearish", "kind": "pair"}]
    assert parse_stances("IWM:bearish|TLT:bullish") == {"IWM": "bearish", "TLT": "bullish"}
    for bad in ["IWM", "IWM:up", "IWM:bullish|IWM:bearish", ""]:
        try:
            parse_stances(bad)
        except ValueError as e:
            assert "TICKER:bullish" in str(e)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_the_committed_stance_sets_are_well_formed_and_disjoint():
    from pathlib import Path

    from sentiment.stance_data import pair_examples, read_stance_posts

    crowd = Path(__file__).resolve().parents[1] / "models" / "crowd_data"
    train, test = (read_stance_posts(crowd / f"stance_{k}_mixed.csv") for k in ("train", "test"))
    for posts in (train, test):
        assert all(len(s) >= 2 for s in posts["stances"])
        n_pairs = sum(len(s) for s in posts["stances"])
        # nearly every labelled ticker is one the linker finds, so the analyzer asks about it
        assert len(pair_examples(posts)) >= 0.98 * n_pairs
    norm = lambda t: " ".join(t.lower().split())  # noqa: E731
    assert not {norm(t) for t in train["text"]} & {norm(t) for t in test["text"]}


def test_evaluate_scores_the_written_stance_posts_per_ticker():
    import importlib.util
    from pathlib import Path

    from sentiment.stance_data import read_stance_posts

    path = Path(__file__).resolve().parents[1] / "eval" / "sentiment" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("sentiment_evaluate", path)
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)

    class AlwaysBullish:
        model_id = "bull@test"

        def predict_proba(self, texts, *, progress=False):
            return np.tile([0.7, 0.1, 0.2], (len(texts), 1))

    got = ev.written_stance(AlwaysBullish(), False, 0.5)
    labels = [lab for s in read_stance_posts(ev.WRITTEN_CSV)["stances"] for lab in s.values()]
    assert (got["posts"], got["n"]) == (180, len(labels))
    assert got["accuracy"] == labels.count("bullish") / len(labels)
    assert got["per_label_f1"]["bearish"] == 0.0


class MarkedOrPlainModel(MarkedKeywordModel):
    """A model trained on ticker-marked text too: reads a marked text around its ticker, a plain text whole."""

    def predict_proba(self, texts, *, progress=False):
        out = np.vstack([super(MarkedOrPlainModel, self).predict_proba([t]) if MARKED.search(t)
                         else KeywordModel.predict_proba(self, [t]) for t in texts]) if texts else np.zeros((0, 3))
        self.calls = [list(texts)]
        return out


def test_a_model_that_reads_marked_text_is_its_own_stance_model_in_one_call():
    model = MarkedOrPlainModel()
    model.stance_model, model.stance_weight, model.stance_scope = model, 1.0, "multi"
    posts = pd.DataFrame([
        {"source": "t", "id": "1", "body": "TLT to the moon. IWM will crash"},
        {"source": "t", "id": "2", "body": "GME calls"},
    ])
    res = analyze_posts(posts, model, encoder=HashEncoder(), themes=False)
    got = {(r.post_id, r.ticker): r.label for r in res.stances.itertuples()}
    assert got == {("1", "TLT"): "bullish", ("1", "IWM"): "bearish", ("2", "GME"): "bullish"}
    # one call: the two posts, then the two marked texts of the multi-ticker post, and no clause
    assert model.calls == [["TLT to the moon. IWM will crash", "GME calls",
                            "<<TLT>> to the moon. IWM will crash", "TLT to the moon. <<IWM>> will crash"]]


def test_stance_scope_all_asks_about_single_ticker_posts_too_and_bad_scopes_are_refused():
    import pytest

    from sentiment.errors import SentimentError

    model = MarkedOrPlainModel()
    posts = pd.DataFrame([{"source": "t", "id": "2", "body": "GME calls"}])
    analyze_posts(posts, model, encoder=HashEncoder(), themes=False, stance_model=model, stance_weight=1.0,
                  stance_scope="all")
    assert model.calls == [["GME calls", "<<GME>> calls"]]
    with pytest.raises(SentimentError, match="stance_scope"):
        analyze_posts(posts, model, encoder=HashEncoder(), themes=False, stance_model=model, stance_scope="some")
    with pytest.raises(SentimentError, match="stance_weight"):
        analyze_posts(posts, model, encoder=HashEncoder(), themes=False, stance_model=model, stance_weight=1.5)


def test_read_reddit_stances_joins_ids_to_the_shared_text_and_drops_linker_errors(tmp_path):
    import pytest

    from sentiment.errors import StanceSetError
    from sentiment.stance_data import REDDIT_LABEL_COLUMNS, pair_examples, read_reddit_stances

    reddit = tmp_path / "reddit"
    reddit.mkdir()
    pd.DataFrame({"comment_id": ["c1", "c2"], "post_id": ["p1", "p2"],
                  "comment": ["IWM puts all day, TLT calls", "ON the fence about AMD"]}).to_csv(
        reddit / "janash_wallstreetbets_comments_sample.csv", index=False)
    pd.DataFrame({"comment_id": [], "post_id": [], "comment": []}).to_csv(reddit / "janash_stocks_comments_sample.csv",
                                                                         index=False)
    rows = [("janash_wallstreetbets", "c1", "p1", "random", "first", "IWM", "bearish", "mixed"),
            ("janash_wallstreetbets", "c1", "p1", "random", "first", "TLT", "bullish", "mixed"),
            ("janash_wallstreetbets", "c1", "p1", "random", "second", "TLT", "neutral", "neutral"),
            ("janash_wallstreetbets", "c2", "p2", "bearish_vocab", "first", "ON", "not_a_ticker", "neutral"),
            ("janash_wallstreetbets", "c2", "p2", "bearish_vocab", "first", "AMD", "neutral", "neutral")]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=REDDIT_LABEL_COLUMNS).to_csv(labels, index=False)
    got = read_reddit_stances(labels, reddit)
    assert got["stances"].tolist() == [{"IWM": "bearish", "TLT": "bullish"}, {"AMD": "neutral"}]
    assert got["text"].tolist() == ["IWM puts all day, TLT calls", "ON the fence about AMD"]
    assert read_reddit_stances(labels, reddit, reader="second")["stances"].tolist() == [{"TLT": "neutral"}]
    pairs = pair_examples(got)
    assert sorted(pairs["text"]) == sorted(["<<IWM>> puts all day, TLT calls", "IWM puts all day, <<TLT>> calls",
                                            "ON the fence about <<AMD>>"])
    pd.DataFrame([rows[0][:-1] + ("bullishish",)], columns=REDDIT_LABEL_COLUMNS).to_csv(labels, index=False)
    with pytest.raises(StanceSetError, match="unknown label"):
        read_reddit_stances(labels, reddit)
