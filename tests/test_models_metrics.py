"""models.metrics on small examples computed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from models.errors import ModelError
from models.metrics import evaluate, expected_calibration_error

# columns: bullish, bearish, neutral
PROBS = np.array([
    [0.9, 0.05, 0.05],  # true bullish, pred bullish (conf 0.9)
    [0.2, 0.1, 0.7],    # true bullish, pred neutral (conf 0.7)
    [0.1, 0.6, 0.3],    # true bearish, pred bearish (conf 0.6)
    [0.3, 0.1, 0.6],    # true neutral, pred neutral (conf 0.6)
])
TRUE = ["bullish", "bullish", "bearish", "neutral"]


def test_three_class_by_hand():
    r = evaluate(TRUE, PROBS, model_id="m@1")
    assert r.accuracy == pytest.approx(3 / 4)
    # bullish: P=1/1, R=1/2, F1=2/3; bearish: P=R=F1=1; neutral: P=1/2, R=1, F1=2/3
    assert r.per_class["bullish"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert r.per_class["neutral"]["precision"] == pytest.approx(0.5)
    assert r.macro_f1 == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert r.confusion.to_numpy().tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    # 15 bins: 0.9 alone (acc 1): |1-0.9|=0.1; 0.7 alone (acc 0): 0.7; the two 0.6 together (acc 1): 0.4
    assert r.ece == pytest.approx((0.1 + 0.7 + 2 * 0.4) / 4)
    assert not r.binary and r.n == 4
    d = r.to_dict()
    assert d["confusion"]["matrix"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]] and d["model_id"] == "m@1"
    assert "accuracy 0.7500" in r.summary()


def test_binary_renormalises_bullish_bearish():
    probs = np.array([[0.2, 0.1, 0.7], [0.1, 0.3, 0.6]])  # argmax neutral for both in 3 classes
    r = evaluate(["bullish", "bearish"], probs)
    assert r.binary and r.labels == ("bullish", "bearish")
    assert r.accuracy == 1.0
    # confidences 2/3 and 3/4, both right: ECE = mean(1/3, 1/4)
    assert r.ece == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert r.confusion.shape == (2, 2)


def test_ece_perfectly_calibrated_is_zero():
    probs = np.array([[0.75, 0.25, 0.0]] * 4)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 0], bool)) == pytest.approx(0.0)


def test_bad_inputs():
    with pytest.raises(ModelError, match="shape"):
        evaluate(TRUE, PROBS[:3])
    with pytest.raises(ModelError, match="true labels must be"):
        evaluate(["up", "bullish", "bearish", "neutral"], PROBS)
