"""The project's labels of real Reddit comments: ids and labels only, nothing of an evaluation thread."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sentiment.stance_data import REDDIT_FILES, REDDIT_LABEL_COLUMNS
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "models" / "crowd_data" / "reddit_stance_labels.csv"
EVAL = ROOT / "eval" / "sentiment" / "labels.csv"


def labels() -> pd.DataFrame:
    return pd.read_csv(LABELS, dtype=str, keep_default_na=False)


def test_the_file_holds_ids_and_labels_only():
    df = labels()
    assert list(df.columns) == REDDIT_LABEL_COLUMNS  # no text column
    assert set(df["stance"]) <= {"bullish", "bearish", "neutral", "not_a_ticker"}
    assert set(df["comment_label"]) <= {"bullish", "bearish", "neutral", "mixed"}
    assert set(df["reader"]) == {"first", "second"}
    assert not df.duplicated(["dataset", "comment_id", "ticker", "reader"]).any()
    assert df["comment_id"].str.fullmatch(r"[a-z0-9]{5,8}").all()


def test_at_least_3000_pairs_a_quarter_bearish_and_a_tenth_read_twice():
    df = labels()
    first = df[(df["reader"] == "first") & (df["stance"] != "not_a_ticker")]
    assert len(first) >= 3000
    assert (first["stance"] == "bearish").mean() >= 0.25
    comments = df.loc[df["reader"] == "first", ["dataset", "comment_id"]].drop_duplicates()
    twice = df.loc[df["reader"] == "second", ["dataset", "comment_id"]].drop_duplicates()
    assert len(twice) >= 0.09 * len(comments)
    assert {"random", "bearish_vocab"} <= set(df["draw"])


def test_no_evaluation_comment_nor_any_comment_of_its_threads_is_labelled_for_training():
    ev = pd.read_csv(EVAL, dtype=str, keep_default_na=False)
    df = labels()
    assert not set(zip(df["dataset"], df["comment_id"])) & set(zip(ev["dataset"], ev["comment_id"]))
    for dataset, name in REDDIT_FILES.items():
        text = pd.read_csv(shared_path("data", "reddit", name), usecols=["comment_id", "post_id"], dtype=str)
        eval_threads = set(text.loc[text["comment_id"].isin(ev.loc[ev["dataset"] == dataset, "comment_id"]), "post_id"])
        ours = df[df["dataset"] == dataset]
        assert eval_threads and not set(ours["post_id"]) & eval_threads
        thread_of = dict(zip(text["comment_id"], text["post_id"]))
        assert all(thread_of[c] == p for c, p in zip(ours["comment_id"], ours["post_id"]))  # the post ids are the shared file's
