"""Linking quality on the hand-labelled comments (reads ../shared; skipped when absent)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.needs_shared


def _evaluate_module():
    path = Path(__file__).resolve().parents[1] / "eval" / "sentiment" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("sentiment_evaluate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_linking_meets_its_goals_on_the_test_split():
    shared_path("data", "reddit", "janash_stocks_comments_sample.csv")
    ev = _evaluate_module()
    df = ev.load()
    got = ev.linking_scores(df[df["split"] == "test"])
    assert got["precision"] >= 0.95 and got["recall"] >= 0.90, got


def test_labels_have_the_promised_size():
    ev = _evaluate_module()
    import pandas as pd

    labels = pd.read_csv(ev.LABELS_CSV, dtype=str, keep_default_na=False)
    pairs = sum(len([x for x in t.split("|") if x]) for t in labels["tickers"])
    assert pairs >= 300 and len(labels) * 12 >= 300
    assert set(labels["split"]) == {"tune", "test"}
