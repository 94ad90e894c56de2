"""The author-tagged StockTwits set: deduplication, the fixed split, and the two-class loss it trains with."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.errors import ModelError
from models.stocktwits import normalise, read_author_tagged, split_of
from tests.conftest import shared_path


def test_normalise_masks_cashtags_and_drops_urls_and_punctuation():
    assert normalise("$AMRN to the MOON!!! https://t.co/x") == normalise("$ilmn to the moon https://bit.ly/y")
    assert normalise("Buy $TSLA") != normalise("Sell $TSLA")


def test_reading_drops_repeats_and_conflicting_tags_and_keeps_the_split_fixed(tmp_path):
    rows = ["Bullish,$AAPL breaking out &amp; going higher", "Bullish,$MSFT breaking out & going higher",
            "Bearish,$KO dump it", "Bullish,$KO dump it!", "Bearish,$NFLX short this", "Neutral,ignored"]
    path = tmp_path / "st.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    got = read_author_tagged(path)
    assert got["text"].tolist() == ["$AAPL breaking out & going higher", "$NFLX short this"]
    assert got["label"].tolist() == ["bullish", "bearish"]
    assert got["row"].tolist() == [0, 4]
    assert got["split"].tolist() == [split_of(normalise(t)) for t in got["text"]]
    # the split of a message does not depend on the other rows
    path.write_text("Bearish,$NFLX short this\n", encoding="utf-8")
    assert read_author_tagged(path)["split"].tolist() == got["split"].tolist()[1:]


def test_an_unreadable_or_empty_set_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        read_author_tagged(tmp_path / "missing.csv")
    (tmp_path / "n.csv").write_text("Neutral,nothing\n", encoding="utf-8")
    with pytest.raises(ModelError, match="no Bullish/Bearish"):
        read_author_tagged(tmp_path / "n.csv")


@pytest.mark.needs_shared
def test_the_shared_set_splits_about_a_fifth_for_test():
    df = read_author_tagged(shared_path("data", "stocktwits", "amoooma_stocktwits_labelled.csv"))
    share = (df["split"] == "test").mean()
    assert 0.17 < share < 0.23
    assert df["text"].map(normalise).is_unique


def test_two_class_rows_are_trained_on_bullish_vs_bearish_only():
    import torch

    from models.train import _validate, row_losses

    logits = torch.tensor([[2.0, 1.0, 5.0], [0.0, 3.0, 0.0]])
    y = torch.tensor([0, 1])
    got = row_losses(logits, y, torch.tensor([True, False]))
    two = torch.nn.functional.cross_entropy(logits[:1, :2], y[:1])
    three = torch.nn.functional.cross_entropy(logits[1:], y[1:])
    assert torch.allclose(got, torch.stack([two, three]))  # the neutral logit of row 0 plays no part
    df = _validate(pd.DataFrame({"text": ["a", "b"], "label": ["bullish", "neutral"], "weight": [2.0, np.nan],
                                 "two_class": [True, np.nan]}), "data")
    assert df["weight"].tolist() == [2.0, 1.0] and df["two_class"].tolist() == [True, False]
    with pytest.raises(ModelError, match="two-class rows"):
        _validate(pd.DataFrame({"text": ["a"], "label": ["neutral"], "two_class": [True]}), "data")
    with pytest.raises(ModelError, match="weights"):
        _validate(pd.DataFrame({"text": ["a"], "label": ["neutral"], "weight": ["heavy"]}), "data")
