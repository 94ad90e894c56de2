"""The daily index formulas on a small example computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sentiment.errors import SentimentError
from sentiment.index import daily_index

D1, D2 = pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-03").date()


def rows():
    return pd.DataFrame([
        # session, ticker, label, p_bullish, p_bearish, p_neutral, score
        (D1, "IWM", "bullish", 0.8, 0.1, 0.1, 0),
        (D1, "IWM", "bullish", 0.6, 0.3, 0.1, math.e - 1),
        (D1, "IWM", "bearish", 0.2, 0.7, 0.1, -5),
        (D1, "IWM", "neutral", 0.3, 0.3, 0.4, 0),
        (D1, "TLT", "bearish", 0.1, 0.8, 0.1, 3),
        (D2, "IWM", "neutral", 0.2, 0.2, 0.6, 1),
    ], columns=["session", "ticker", "label", "p_bullish", "p_bearish", "p_neutral", "score"])


def test_unweighted_index_matches_hand_computation():
    out = daily_index(rows(), by="ticker")
    assert list(out.columns) == ["session", "ticker", "n_posts", "n_bullish", "n_bearish",
                                 "mean_score", "bullishness", "agreement"]
    iwm = out[(out.session == D1) & (out.ticker == "IWM")].iloc[0]
    assert (iwm.n_posts, iwm.n_bullish, iwm.n_bearish) == (4, 2, 1)
    assert iwm.mean_score == pytest.approx((0.7 + 0.3 - 0.5 + 0.0) / 4)      # 0.125
    assert iwm.bullishness == pytest.approx(math.log(3 / 2))                   # 0.405465
    assert iwm.agreement == pytest.approx(1 - math.sqrt(1 - (1 / 3) ** 2))     # 0.057191
    tlt = out[out.ticker == "TLT"].iloc[0]
    assert tlt.bullishness == pytest.approx(math.log(1 / 2))
    assert tlt.agreement == pytest.approx(1.0)                                 # everyone agrees
    quiet = out[out.session == D2].iloc[0]
    assert quiet.bullishness == 0.0 and np.isnan(quiet.agreement)              # no bull, no bear


def test_score_weighting():
    out = daily_index(rows(), by="ticker", weight="score")
    iwm = out[(out.session == D1) & (out.ticker == "IWM")].iloc[0]
    # weights 1 + ln(1 + max(score, 0)): 1, 2, 1, 1
    assert iwm.n_bullish == pytest.approx(3.0) and iwm.n_bearish == pytest.approx(1.0)
    assert iwm.mean_score == pytest.approx((0.7 * 1 + 0.3 * 2 - 0.5 * 1 + 0.0) / 5)
    assert iwm.bullishness == pytest.approx(math.log(4 / 2))


def test_label_falls_back_to_argmax_and_themes_work():
    df = rows().drop(columns="label").rename(columns={"ticker": "theme"})
    out = daily_index(df, by="theme")
    assert out.loc[(out.session == D1) & (out.theme == "IWM"), "n_bullish"].item() == 2


def test_bad_input_is_a_one_line_error():
    with pytest.raises(SentimentError, match="session"):
        daily_index(rows().drop(columns="session"))
    with pytest.raises(SentimentError, match="by="):
        daily_index(rows(), by="author")
    with pytest.raises(SentimentError, match="weight column"):
        daily_index(rows(), weight="upvotes")


def test_index_refuses_unscored_rows_and_reads_labels_in_any_case():
    base = {"session": ["2024-01-02"] * 2, "ticker": ["IWM"] * 2}
    with pytest.raises(SentimentError, match="no p_bullish or p_bearish"):
        daily_index(pd.DataFrame({**base, "p_bullish": [None, 0.1], "p_bearish": [0.1, 0.8], "label": ["bearish"] * 2}))
    out = daily_index(pd.DataFrame({**base, "p_bullish": [0.9, 0.1], "p_bearish": [0.05, 0.8],
                                    "label": ["BULLISH", "Bearish"]}))
    assert out[["n_bullish", "n_bearish"]].values.tolist() == [[1, 1]]
    with pytest.raises(SentimentError, match="label column or p_neutral"):
        daily_index(pd.DataFrame({**base, "p_bullish": [0.9, 0.1], "p_bearish": [0.05, 0.8]}))
    with pytest.raises(SentimentError, match="not bullish, bearish, neutral"):
        daily_index(pd.DataFrame({**base, "p_bullish": [0.9, 0.1], "p_bearish": [0.05, 0.8], "label": ["up", "down"]}))


def test_a_weight_that_is_not_a_number_is_refused():
    df = pd.DataFrame({"session": pd.to_datetime(["2024-01-02"] * 2), "ticker": ["IWM"] * 2, "p_bullish": [0.9, 0.1],
                       "p_bearish": [0.05, 0.8], "label": ["bullish", "bearish"], "score": ["3", "5"]})
    for column in ("ticker", "label", "session"):
        with pytest.raises(SentimentError, match="not a numeric column"):
            daily_index(df, weight=column)
    assert daily_index(df, weight="score")["n_posts"].tolist() == [2]  # numbers written as text still weigh
