"""``crowdpulse models`` list / eval on small files written here."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdpulse.cli import app
from models import load_model
from models.data import read_labeled
from models.metrics import evaluate

ROWS = [
    ("Upgraded to buy, price target raised to $80", 1),
    ("Shares plunge after the company cuts its outlook", 0),
    ("Company to present at investor conference on Tuesday", 2),
    ("Record quarterly revenue beats estimates, stock jumps", 1),
    ("Downgraded to sell on weak demand", 0),
    ("The annual meeting will be held in May", 2),
]


@pytest.fixture
def small_csv(tmp_path):
    p = tmp_path / "small.csv"
    pd.DataFrame(ROWS, columns=["text", "label"]).to_csv(p, index=False)
    return p


def test_eval_json_matches_library(small_csv):
    res = CliRunner().invoke(app, ["models", "eval", "--model", "tfidf", "--data", str(small_csv),
                                   "--label-map", "0=bearish,1=bullish,2=neutral", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    frame = read_labeled(small_csv, label_map="0=bearish,1=bullish,2=neutral")
    m = load_model("tfidf")
    ref = evaluate(frame["label"], m.predict_proba(frame["text"].tolist()))
    assert out["n"] == 6 and out["model_id"] == m.model_id
    assert out["accuracy"] == pytest.approx(ref.accuracy) and out["macro_f1"] == pytest.approx(ref.macro_f1)
    assert np.array(out["confusion"]["matrix"]).sum() == 6
    assert set(out["per_class"]) == {"bullish", "bearish", "neutral"}


def test_eval_table_and_binary(tmp_path):
    p = tmp_path / "binary.jsonl"
    p.write_text("\n".join(json.dumps({"text": t, "label": l}) for t, l in [
        ("great gains, love it", "Bullish"), ("terrible losses, awful", "Bearish")]))
    res = CliRunner().invoke(app, ["models", "eval", "--model", "vader", "--data", str(p)])
    assert res.exit_code == 0, res.output
    assert "binary bullish/bearish" in res.stdout and "accuracy 1.0000" in res.stdout


def test_list_json():
    res = CliRunner().invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["spec"]: r for r in json.loads(res.stdout)}
    assert {"default", "vader", "tfidf"} <= set(rows)
    assert rows["tfidf"]["model_id"].startswith("tfidf@")


def test_list_marks_a_broken_model_folder_unreadable(tmp_path):
    from models.catalog import available_models

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "crowdpulse_model.json").write_text("not json")
    rows = {r["spec"]: r for r in available_models(tmp_path)}
    assert rows[str(tmp_path / "broken")]["kind"] == "unreadable"
    assert rows[str(tmp_path / "broken")]["model_id"] is None


def test_user_errors_are_one_line(small_csv):
    proc = subprocess.run(
        [sys.executable, "-c", "from crowdpulse.cli import main; main()", "models", "eval",
         "--model", "./no/such/model", "--data", str(small_csv), "--label-map", "0=bearish,1=bullish,2=neutral"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: model './no/such/model' is neither a known name")


def test_every_models_command_has_an_example():
    for cmd in ("list", "eval", "train"):
        res = CliRunner().invoke(app, ["models", cmd, "--help"])
        assert res.exit_code == 0 and "Example:" in res.stdout
