"""models.data.read_labeled: every format, label spellings, explicit and known label maps."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from models.data import parse_label_map, read_labeled
from models.errors import LabeledDataError, ModelError


def test_csv_with_word_labels(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["up big", "down bad", "meh", ""], "label": ["Positive", "negative", "NEUTRAL", "neutral"]}).to_csv(p, index=False)
    df = read_labeled(p)
    assert df.to_dict("list") == {"text": ["up big", "down bad", "meh"], "label": ["bullish", "bearish", "neutral"]}


def test_integer_labels_need_a_map(tmp_path):
    p = tmp_path / "ints.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 2]}).to_csv(p, index=False)
    with pytest.raises(LabeledDataError, match="--label-map"):
        read_labeled(p)
    df = read_labeled(p, label_map="0=bearish,1=bullish,2=neutral")
    assert df["label"].tolist() == ["bearish", "bullish", "neutral"]
    df = read_labeled(p, label_map={0: "negative", 1: "positive", 2: "neutral"})
    assert df["label"].tolist() == ["bearish", "bullish", "neutral"]


def test_known_dataset_convention(tmp_path):
    p = tmp_path / "sent_valid.csv"  # Twitter Financial News: 0 bearish, 1 bullish, 2 neutral
    pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 2]}).to_csv(p, index=False)
    assert read_labeled(p)["label"].tolist() == ["bearish", "bullish", "neutral"]


def test_phrasebank_latin1_split_on_last_at(tmp_path):
    p = tmp_path / "Sentences_test.txt"
    p.write_bytes("Profit rose to EUR 5 m @ record levels for Caf\xe9 Oy .@positive\nSales fell .@negative\n\n".encode("latin-1"))
    df = read_labeled(p)
    assert df["text"].tolist() == ["Profit rose to EUR 5 m @ record levels for Café Oy .", "Sales fell ."]
    assert df["label"].tolist() == ["bullish", "bearish"]


def test_jsonl_parquet_and_fallback_columns(tmp_path):
    rows = [{"sentence": "calls printing", "sentiment": "Bullish"}, {"sentence": "bagholding", "sentiment": "Bearish"}]
    j = tmp_path / "d.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows))
    assert read_labeled(j)["label"].tolist() == ["bullish", "bearish"]
    q = tmp_path / "d.parquet"
    pd.DataFrame(rows).rename(columns={"sentence": "body"}).to_parquet(q)
    assert read_labeled(q)["text"].tolist() == ["calls printing", "bagholding"]


@pytest.mark.parametrize("kwargs,match", [
    ({"text_col": "msg"}, "no text column 'msg'; its columns are: text, label"),
    ({"label_map": "0=moon"}, "label map target 'moon'"),
    ({"label_map": "zero"}, "not RAW=LABEL"),
])
def test_errors_name_the_problem(tmp_path, kwargs, match):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a"], "label": ["joy"]}).to_csv(p, index=False)
    with pytest.raises(ModelError, match=match):
        read_labeled(p, **kwargs)


def test_unmappable_label_and_bad_extension(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a"], "label": ["joy"]}).to_csv(p, index=False)
    with pytest.raises(LabeledDataError, match="cannot map label value\\(s\\) 'joy'"):
        read_labeled(p)
    x = tmp_path / "d.xlsx"
    x.write_text("x")
    with pytest.raises(LabeledDataError, match="unsupported extension"):
        read_labeled(x)
    with pytest.raises(LabeledDataError, match="does not exist"):
        read_labeled(tmp_path / "missing.csv")


def test_parse_label_map_synonyms():
    assert parse_label_map("LABEL_0=positive, LABEL_1=bear") == {"LABEL_0": "bullish", "LABEL_1": "bearish"}
    assert parse_label_map(None) is None


def test_a_bad_jsonl_line_is_named_in_the_error(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "IWM up", "label": "bullish"}\n{"text": "broken\n')
    with pytest.raises(LabeledDataError, match="line 2 is not valid JSON"):
        read_labeled(f)
