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
    assert link_tickers("$5k in, $2.5B buyback, all in $usd and $cad") == []
    # a lower-case single letter or run of x's is an amount, not US Steel; a censored swear is no tag
    assert link_tickers("sell a call for $x a week, $xx a contract, a Million $s, f&$k, %$king") == []
    assert link_tickers("never says the $amount") == [] and tickers_in("$X and $AMOUNT") == ["X", "AMOUNT"]


def test_lower_and_mixed_case_cashtags_link():
    text = "$amrn $qunr $wm $fast $ilmn"
    got = link_tickers(text)
    assert [(m.ticker, m.via) for m in got] == [(t, "cashtag") for t in ("AMRN", "QUNR", "WM", "FAST", "ILMN")]
    assert [text[m.start:m.end] for m in got] == text.split()
    assert tickers_in("OG $Clov crew, $Roku users, $NFLx") == ["CLOV", "ROKU", "NFLX"]
    assert tickers_in("already in $HOODs price") == ["HOOD"]  # a plural s on a capitals symbol
    assert tickers_in("rather own $Tesla's shares") == ["TSLA"]  # a name that is an alias
    assert tickers_in("我买了$amrn和$TSLA") == ["AMRN", "TSLA"]


def test_suffixed_cashtags_keep_their_suffix_as_written():
    text = "$ENB.CA and $SHOP.TO, $BRK.B, $WPG.PH, $BTC.X; $enb.ca $brk.b $btc.x"
    got = link_tickers(text)
    assert [m.ticker for m in got] == ["ENB.CA", "SHOP.TO", "BRK.B", "WPG.PH", "BTC.X", "ENB.CA", "BRK.B", "BTC.X"]
    assert [text[m.start:m.end] for m in got] == [w.strip(",;") for w in text.split() if w.startswith("$")]


@pytest.mark.parametrize("text, ticker, tag", [
    ("bought $IWM.Then it dropped", "IWM", "$IWM"),
    ("$AAPL.It always comes back", "AAPL", "$AAPL"),
    ("sold my $tsla.to be honest", "TSLA", "$tsla"),  # "to" is Toronto only in capitals
])
def test_a_dot_that_ends_the_sentence_is_no_suffix(text, ticker, tag):
    got = link_tickers(text)
    assert [(m.ticker, text[m.start:m.end]) for m in got] == [(ticker, tag)]


def test_written_cashtag_messages_all_link():
    """Every message of eval/sentiment/cashtags_written.csv (the file evaluate.py scores) links
    exactly its tickers: each form, and money that names none."""
    import csv

    from sentiment.text import clean_text
    from tests.conftest import ROOT

    with open(ROOT / "eval" / "sentiment" / "cashtags_written.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"lower", "mixed", "suffix", "sentence_end", "money"} <= {r["form"] for r in rows}
    wrong = [(r["text"], tickers_in(clean_text(r["text"]))) for r in rows
             if tickers_in(clean_text(r["text"])) != [t for t in r["tickers"].split("|") if t]]
    assert wrong == []


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
