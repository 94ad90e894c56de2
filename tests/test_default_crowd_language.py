"""The shipped default on crowd language of the kinds it used to misread (sentences written for the project).

Each case asserts the post's label and, where it names tickers, the stance toward each: an
enthusiastic setup call without a direction verb, a price target, a wish for a fall, scorn without a
direction word, a hedge that stays neutral, and sarcasm.

The shipped default (``default@9d676d80``) still misreads six of them (issue 20 is open; docs/models.md,
"Real crowd labels"): those are strict expected failures, so a default that reads one of them right
fails here until its mark is removed.
"""
from __future__ import annotations

import pytest

MISREAD = pytest.mark.xfail(strict=True, reason="the shipped default misreads this (docs/models.md, 'Real crowd labels')")


def case(text: str, label: str, stances: dict[str, str], misread: bool = False):
    return pytest.param(text, label, stances, id=text[:40], marks=MISREAD if misread else ())


CASES = [
    # an enthusiastic setup call without a direction verb
    case("cleanest setup on small caps I've seen all year", "bullish", {"IWM": "bullish"}, misread=True),
    case("$TLT weekly chart is a thing of beauty, textbook base right at support", "bullish", {"TLT": "bullish"}),
    # a price target
    case("$IWM to 240 by Friday", "bullish", {"IWM": "bullish"}, misread=True),
    case("PT 12 on $SOFI by summer, loading the dip", "bullish", {"SOFI": "bullish"}),
    # a wish for a fall
    case("IWM and TLT both need to dump hard before the Fed cuts", "bearish", {"IWM": "bearish", "TLT": "bearish"}, misread=True),
    case("I really hope NVDA drops to 90 so it finally pays for being this overhyped", "bearish", {"NVDA": "bearish"}, misread=True),
    # scorn without a direction word
    case("$PTON this company is a joke, bagholders everywhere", "bearish", {"PTON": "bearish"}),
    case("RIVN management couldn't run a lemonade stand", "bearish", {"RIVN": "bearish"}, misread=True),
    # a hedge that stays neutral
    case("could go either way on TLT here, waiting for CPI before I touch it", "neutral", {"TLT": "neutral"}),
    case("no position in IWM, just watching how it reacts to the jobs number", "neutral", {"IWM": "neutral"}),
    # sarcasm
    case("great, another soft landing, sure, SPY only goes up forever right", "bearish", {"SPY": "bearish"}, misread=True),
]


@pytest.fixture(scope="module")
def default_model():
    from models import load_model

    return load_model("default")


@pytest.mark.parametrize("text, label, stances", CASES)
def test_the_default_reads_crowd_language(default_model, text, label, stances):
    from sentiment.analyze import analyze_text

    got = analyze_text(text, default_model)
    assert got["label"] == label, got
    assert {t["ticker"]: t["label"] for t in got["tickers"]} == stances, got
