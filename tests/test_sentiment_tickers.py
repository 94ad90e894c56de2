"""Ticker linking on sentences written for the project."""
from __future__ import annotations

import pytest

from sentiment.tickers import build_linker, link_tickers, tickers_in


def pairs(text):
    return [(m.ticker, m.via) for m in link_tickers(text)]


def test_cashtag_and_broker_form():
    assert pairs("$IWM looks heavy") == [("IWM", "cashtag")]
    text = "$iShares Russell 2000 ETF(IWM)$ is set up for a short squeeze"
    got = link_tickers(text)
    assert [(m.ticker, m.via) for m in got] == [("IWM", "cashtag")]
    assert (got[0].start, got[0].end) == (0, text.index(" is"))


def test_aliases_and_misspellings():
    assert tickers_in("the Russel 2000 lags while tle rallies") == ["IWM", "TLT"]
    assert tickers_in("R2K and small caps again") == ["IWM"]
    assert tickers_in("long bonds, the long end, treasury futures") == ["TLT"]
    assert tickers_in("the Q's vs the S&P, spx at 4000") == ["QQQ", "SPY"]
    assert tickers_in("Apple and Nvidia report next week") == ["AAPL", "NVDA"]
    assert pairs("Russell 2000") == [("IWM", "alias")]  # the longest alias wins over "Russell"


def test_bare_symbols_case_and_via():
    assert pairs("bought more TSLA today") == [("TSLA", "symbol")]
    assert pairs("iwm puts") == [("IWM", "symbol")]
    assert tickers_in("BRK.B is my largest holding") == ["BRK.B"]


@pytest.mark.parametrize("text", [
    "ALL IN on this one, YOLO",
    "IMO the CEO is doing DD on IT in the USA",
    "it is ON now, A big day",
    "I am a 20 year old trader",
    "stuck in a rut",
])
def test_common_words_are_not_tickers(text):
    assert link_tickers(text) == []


def test_common_words_count_as_cashtag_or_in_finance_context():
    assert tickers_in("$ALL beat estimates") == ["ALL"]
    assert tickers_in("loaded up on ON calls") == ["ON"]
    assert tickers_in("bought shares of IT yesterday") == ["IT"]
    assert tickers_in("F 15c expiring friday") == ["F"]


def test_capitals_only_alias_is_case_sensitive():
    assert tickers_in("RUT down 2%") == ["IWM"]
    assert tickers_in("we are in a rut") == []


def test_money_and_currency_are_not_cashtags():
    assert link_tickers("I made $500 and lost $USD") == []


def test_user_extends_alias_file(tmp_path):
    from sentiment.tickers import DATA_DIR

    aliases = tmp_path / "aliases.csv"
    aliases.write_text((DATA_DIR / "aliases.csv").read_text() + "smol caps,IWM\n")
    linker = build_linker(DATA_DIR / "universe.csv", aliases, DATA_DIR / "common_words.txt")
    assert tickers_in("smol caps rip", linker) == ["IWM"]


def test_bad_data_file_is_a_one_line_error(tmp_path):
    from sentiment.errors import SentimentError
    from sentiment.tickers import DATA_DIR

    bad = tmp_path / "aliases.csv"
    bad.write_text("name,ticker\nfoo,IWM\n")
    with pytest.raises(SentimentError, match="alias, symbol"):
        build_linker(DATA_DIR / "universe.csv", bad, DATA_DIR / "common_words.txt")


def test_cashtags_next_to_cjk_text_and_missing_text():
    assert [m.ticker for m in link_tickers("我买了$TSLA和$AAPL")] == ["TSLA", "AAPL"]
    assert link_tickers(float("nan")) == [] and link_tickers(None) == []
    assert [m.ticker for m in link_tickers("price$IWM and $IWM_x")] == []  # still not inside a word
