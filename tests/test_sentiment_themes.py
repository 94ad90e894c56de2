"""Theme scores are matches on a 0-1 scale, the same number analysed, stored and printed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sentiment.analyze import analyze_text
from sentiment.themes import ThemeFileError, ThemeScorer, default_taxonomy, load_taxonomy
from tests.sentiment_fakes import HashEncoder, KeywordModel

# an example phrase of rate_cuts that its pattern also matches: the best match there is
EXACT = "the Fed will cut rates"
TEXTS = [EXACT, "Rate cuts are coming and CPI came in hot, the Fed keeps hiking", "recession? bonds and gold are safe",
         "GME to the moon", "", "index rebalancing next week, megacaps are the whole index now"]


def test_scores_run_zero_to_one_and_a_best_match_is_one():
    scorer = ThemeScorer(default_taxonomy(), HashEncoder())
    scores = scorer.scores(TEXTS)
    assert scores.shape == (len(TEXTS), len(default_taxonomy().themes))
    assert (scores >= 0).all() and (scores <= 1 + 1e-6).all()
    k = default_taxonomy().ids.index("rate_cuts")
    assert scores[0, k] == pytest.approx(1.0, abs=1e-5)  # similarity 1 and a pattern match
    # a pattern match with no similar sentence scores bonus / (1 + bonus): 1/3 with the shipped 0.5
    alone = ThemeScorer(default_taxonomy(), encoder=None).scores([EXACT])[0, k]
    assert alone == pytest.approx(1 / 3)


def test_detection_is_unchanged_by_the_scale():
    """The former score (similarity + bonus) against the former thresholds (1.5 times these) finds the
    same themes: the scale is a division by 1 + bonus, thresholds divided alike."""
    tax = default_taxonomy()
    scorer = ThemeScorer(tax, HashEncoder())
    texts = TEXTS * 3 + [f"{t} and the yield curve inverted" for t in TEXTS]
    raw = scorer.similarity(texts) + tax.pattern_bonus * scorer.pattern_hits(texts)
    old = raw >= np.round(scorer.thresholds() * (1 + tax.pattern_bonus), 2)
    assert (old == (scorer.scores(texts) >= scorer.thresholds())).all() and old.any()


def test_analysed_stored_and_printed_scores_are_one_number(fresh_store):
    from typer.testing import CliRunner

    from crowdpulse.cli import app
    from crowdpulse.scoring import score_store

    out = analyze_text(TEXTS[1], KeywordModel(), encoder=HashEncoder())
    shown = {t["theme"]: t["score"] for t in out["themes"]}
    assert shown and all(0 < v <= 1 for v in shown.values())
    fresh_store.upsert_posts(pd.DataFrame([{"source": "text", "id": "1", "thread_id": "1", "parent_id": None,
                                            "title": None, "body": TEXTS[1],
                                            "created_at": pd.Timestamp("2024-01-02 15:00")}]))
    score_store(fresh_store, KeywordModel(), progress=False, encoder=HashEncoder())
    stored = fresh_store.query("SELECT theme, score FROM themes")
    assert dict(zip(stored["theme"], stored["score"].round(4))) == shown
    res = CliRunner().invoke(app, ["analyze", TEXTS[1], "--model", "vader"])
    assert res.exit_code == 0, res.output
    assert "(match" in res.output  # the column: themes (match 0-1), wrapped at 80 columns
    printed = [float(x) for x in __import__("re").findall(r"[a-z_]+ (\d\.\d\d)", res.output)]
    assert printed and all(0 < v <= 1 for v in printed)
    assert "0-1" in CliRunner().invoke(app, ["analyze", "--help"]).output


def test_a_threshold_off_the_scale_is_refused(tmp_path):
    path = tmp_path / "themes.toml"
    path.write_text('[[theme]]\nid = "x"\ndescription = "x"\nthreshold = 1.2\n', encoding="utf-8")
    with pytest.raises(ThemeFileError, match="scores run 0-1"):
        load_taxonomy(path)
