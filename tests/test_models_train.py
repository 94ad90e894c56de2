"""Training, loading, calibration, and the shipped default model's provenance."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.calibration import apply_temperature, expected_calibration_error, fit_temperature, nll
from models.errors import ModelError
from models.labels import LABELS
from models.train import length_bucketed_batches

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT / "models" / "crowd_data"

# sha256 of the evaluation-only files in ../shared (see shared/data/SOURCES.md)
EVAL_SHA256 = {
    "sent_valid.csv": "393572beac5064ed60c9f608a57dc66af2b41a91b89c149932d5c57f827e25da",
    "Sentences_50Agree.txt": "13388b8bf2f878c68fb4d47564fa0072756eb4e9ba4a16467d6d7f0a29a6a742",
    "Sentences_66Agree.txt": "6fcda6c07b5731fa075c81372413c921f95057b89ed611be0b2d1620ac94ac09",
    "Sentences_75Agree.txt": "8aa3210c6fc324ec2f5bd903f7767543280525cd88bb6cbed5d39b33f01a4f05",
    "Sentences_AllAgree.txt": "b3cb762d2eb8c8fe50d6d53ac073afbd217dd01e4c6e04167ac9b8de9e42d3ca",
}


# ---------------------------------------------------------------- calibration
def _sample(temperature: float, n: int = 20000, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, 3))
    p = apply_temperature(logits, temperature)
    labels = np.array([rng.choice(3, p=row) for row in p])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_generating_temperature(true_t):
    logits, labels = _sample(true_t)
    t = fit_temperature(logits, labels)
    assert abs(t - true_t) / true_t < 0.08
    assert nll(logits, labels, t) <= nll(logits, labels, 1.0) + 1e-9


def test_temperature_scaling_lowers_ece_of_overconfident_logits():
    logits, labels = _sample(3.0)  # the model's raw logits are 3x too confident
    raw = expected_calibration_error(apply_temperature(logits, 1.0), labels)
    cal = expected_calibration_error(apply_temperature(logits, fit_temperature(logits, labels)), labels)
    assert raw > 0.1 and cal < 0.02


def test_ece_hand_computed():
    probs = np.array([[1.0, 0.0, 0.0]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 1, 2])) == pytest.approx(0.5)
    probs = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
    # bin 0.7: acc 1/2 vs conf .7 -> .2 * 2/3 ; bin 0.6: acc 1 vs .6 -> .4 * 1/3
    assert expected_calibration_error(probs, np.array([0, 1, 2])) == pytest.approx(0.2 * 2 / 3 + 0.4 / 3)


def test_calibration_rejects_bad_input():
    with pytest.raises(ModelError, match="one integer label per row"):
        fit_temperature(np.zeros((3, 3)), np.array([0, 1]))
    with pytest.raises(ModelError, match="class indices"):
        expected_calibration_error(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ModelError, match="positive"):
        apply_temperature(np.zeros((1, 3)), 0.0)


# ---------------------------------------------------------------- batching
def test_length_bucketed_batches_cover_every_row_once_and_group_lengths():
    rng = np.random.default_rng(1)
    lengths = list(rng.integers(3, 120, size=1000))
    batches = length_bucketed_batches(lengths, 32, np.random.default_rng(2), bucket_batches=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    spread = np.mean([np.ptp(np.asarray(lengths)[b]) for b in batches if len(b) == 32])
    assert spread < 25  # random batches would spread over ~110 tokens
    again = length_bucketed_batches(lengths, 32, np.random.default_rng(2), bucket_batches=10)
    assert all((a == b).all() for a, b in zip(batches, again))  # seeded


# ---------------------------------------------------------------- train -> save -> load
def _toy(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bull = ["calls printing on {t} 🚀", "loading up on {t}, to the moon", "{t} breaking out, buying more"]
    bear = ["{t} drilling, puts printing", "bagholding {t}, down 40%", "{t} rug pull, sold everything"]
    neu = ["what time does {t} report?", "anyone know the {t} ex-dividend date?", "{t} volume was average today"]
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        tmpl = {"bullish": bull, "bearish": bear, "neutral": neu}[label][rng.integers(3)]
        rows.append((tmpl.format(t=rng.choice(["$SPY", "IWM", "TLT", "$GME", "NVDA"])), label))
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.mark.slow  # ~10 s CPU, 30 s wall on the shared 2-core machine
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_train_save_load_predict_roundtrip(tmp_path, pooling):
    from models.finetuned import is_finetuned_folder, load_finetuned, predict_logits, predict_proba, read_meta
    from models.train import train

    out = tmp_path / "m"
    res = train(_toy(64, 0), _toy(15, 1), out, epochs=1, batch_size=16, lora_r=4, max_length=32, progress=False,
                threads=1, name="toy", pooling=pooling)
    assert res.best_epoch == 1 and res.temperature > 0 and res.seconds > 0
    assert set(res.metrics) >= {"accuracy", "macro_f1", "ece", "ece_calibrated", "nll"}
    assert is_finetuned_folder(out)
    assert (out / "adapter_model.safetensors").exists() and (out / "adapter_config.json").exists()

    model, tok, meta = load_finetuned(out)
    assert meta["name"] == "toy" and sorted(meta["id2label"].values()) == sorted(LABELS)
    assert meta["temperature"] == pytest.approx(res.temperature)
    assert len(meta["weights_sha256"]) == 64
    assert not model.training
    ev = _toy(15, 1)
    logits = predict_logits(model, tok, ev["text"].tolist(), max_length=32)
    y = ev["label"].map({n: i for i, n in enumerate(LABELS)}).to_numpy()
    # the reloaded (LoRA-merged) model reproduces the trained model exactly: same eval NLL
    assert nll(logits, y) == pytest.approx(res.metrics["nll"], abs=1e-4)
    probs = predict_proba(model, tok, meta, ["calls on IWM", "puts on TLT", "when is CPI?"])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1.0)
    assert read_meta(out)["training"]["hyper_parameters"]["lora_r"] == 4
    assert read_meta(out)["pooling"] == pooling
    assert type(model).__name__ == ("MeanPoolBertForSequenceClassification" if pooling == "mean"
                                    else "BertForSequenceClassification")


def test_train_rejects_unknown_labels(tmp_path):
    from models.train import train

    bad = pd.DataFrame({"text": ["a", "b"], "label": ["bullish", "positive"]})
    with pytest.raises(ModelError, match="allowed labels are bullish, bearish, neutral"):
        train(bad, bad, tmp_path / "x", epochs=1, progress=False)
    with pytest.raises(ModelError, match="columns text and label"):
        train(pd.DataFrame({"x": [1]}), bad, tmp_path / "x", epochs=1, progress=False)


def test_distillation_loss_is_t2_kl_and_zero_only_when_student_matches_teacher():
    import torch

    from models.train import distillation_loss

    teacher = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    assert float(distillation_loss(teacher.clone(), teacher, 2.0)) == pytest.approx(0.0, abs=1e-7)
    student = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 0.0]])
    t = 2.0
    p = torch.softmax(teacher / t, -1)
    by_hand = (p * (p.log() - torch.log_softmax(student / t, -1))).sum(-1).mean() * t * t
    assert float(distillation_loss(student, teacher, t)) == pytest.approx(float(by_hand), rel=1e-6)
    # the gradient moves the student toward the teacher
    s = student.clone().requires_grad_(True)
    distillation_loss(s, teacher, t).backward()
    moved = (s - 0.5 * s.grad).detach()
    assert float(distillation_loss(moved, teacher, t)) < float(distillation_loss(student, teacher, t))


def test_train_rejects_teacher_logits_that_do_not_match_the_rows(tmp_path):
    from models.train import train

    data = _toy(12, 0)
    with pytest.raises(ModelError, match="teacher_logits must be 12 x 3"):
        train(data, data, tmp_path / "x", teacher_logits=np.zeros((11, 3)), progress=False)
    with pytest.raises(ModelError, match="distillation weight"):
        train(data, data, tmp_path / "x", teacher_logits=np.zeros((12, 3)), distill_weight=1.5, progress=False)


@pytest.mark.slow  # ~15 s CPU
def test_a_student_with_full_distillation_weight_follows_the_teacher_not_the_labels(tmp_path):
    from models.finetuned import load_finetuned, predict_logits
    from models.train import train

    data = _toy(60, 0)
    y = data["label"].map({n: i for i, n in enumerate(LABELS)}).to_numpy()
    swap = np.array([1, 0, 2])  # the teacher calls bullish rows bearish and bearish rows bullish
    teacher = np.full((len(data), 3), -4.0, dtype=np.float32)
    teacher[np.arange(len(data)), swap[y]] = 4.0
    res = train(data, data, tmp_path / "s", epochs=4, lr=3e-3, batch_size=12, lora_r=4, max_length=32,
                progress=False, threads=1, patience=4, teacher_logits=teacher, distill_weight=1.0)
    assert res.best_epoch >= 1
    model, tok, meta = load_finetuned(tmp_path / "s")
    pred = predict_logits(model, tok, data["text"].tolist(), max_length=32).argmax(1)
    assert (pred == swap[y]).mean() > 0.8
    assert meta["training"]["hyper_parameters"]["distill_weight"] == 1.0


def test_load_finetuned_rejects_a_plain_folder(tmp_path):
    from models.finetuned import is_finetuned_folder, load_finetuned

    assert not is_finetuned_folder(tmp_path)
    with pytest.raises(ModelError, match="not a crowdpulse fine-tuned model folder"):
        load_finetuned(tmp_path)


# ---------------------------------------------------------------- crowd data
def test_crowd_sets_are_labeled_balanced_and_disjoint():
    tr = pd.read_csv(CROWD / "crowd_train.csv")
    te = pd.read_csv(CROWD / "crowd_test.csv")
    for df in (tr, te):
        assert list(df.columns) == ["text", "label"]
        assert set(df["label"]) == set(LABELS)
        assert df["text"].is_unique and df["label"].value_counts().min() >= 50
    assert len(tr) >= 300 and len(te) >= 150
    norm = lambda s: set(s.str.lower().str.replace(r"[^a-z0-9 ]", "", regex=True).str.split().str.join(" "))  # noqa: E731
    assert not norm(tr["text"]) & norm(te["text"])
