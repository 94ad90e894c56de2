"""LogitEnsemble and float16 members (models/ensemble.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.ensemble import LogitEnsemble  # noqa: E402
from models.labels import LABELS  # noqa: E402


def _tiny_bert(seed: int):
    from transformers import BertConfig, BertForSequenceClassification

    from models.heads import MeanPoolBertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     num_labels=3)
    cls = MeanPoolBertForSequenceClassification if seed % 2 else BertForSequenceClassification
    return cls(cfg).eval()


def test_ensemble_averages_member_logits():
    members = [_tiny_bert(1), _tiny_bert(2)]
    ens = LogitEnsemble(members).eval()
    ids = torch.tensor([[1, 5, 7, 2, 0], [1, 9, 2, 0, 0]])
    mask = (ids > 0).long()
    with torch.inference_mode():
        want = torch.stack([m(input_ids=ids, attention_mask=mask).logits for m in members]).mean(0)
        got = ens(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(got, want, atol=1e-6)
    assert ens.config.num_labels == 3 and ens.device.type == "cpu"


def test_ensemble_rejects_members_with_other_classes():
    from transformers import BertConfig, BertForSequenceClassification

    two = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=32, num_labels=2))
    with pytest.raises(ValueError, match="same number of classes"):
        LogitEnsemble([_tiny_bert(1), two])
    with pytest.raises(ValueError, match="at least one member"):
        LogitEnsemble([])


@pytest.mark.slow  # trains two toy members: ~40 s on the shared machine
def test_float16_members_load_as_an_ensemble(tmp_path, monkeypatch):
    from models import load_model
    from models.ensemble import save_member
    from models.finetuned import META_FILE, load_finetuned, predict_logits
    from models.train import train
    from tests.test_models_train import _toy

    monkeypatch.setenv("CROWDPULSE_CACHE", str(tmp_path / "cache"))
    texts = ["calls on IWM", "puts on TLT", "when is CPI?", "", "🚀🚀"]
    ens_dir = tmp_path / "ens"
    singles = []
    for i, pooling in enumerate(["mean", "cls"], 1):
        src = tmp_path / pooling
        train(_toy(48, i), _toy(15, 9), src, epochs=1, batch_size=16, lora_r=4, max_length=32, progress=False,
              threads=1, name=pooling, pooling=pooling)
        model, tok, meta = load_finetuned(src)
        cols = [{v: k for k, v in meta["id2label"].items()}[n] for n in LABELS]
        singles.append(predict_logits(model, tok, texts)[:, cols])
        save_member(src, ens_dir / f"member{i}")
        half, _, hmeta = load_finetuned(ens_dir / f"member{i}")
        assert hmeta["stored_as"] == "float16"
        assert np.abs(predict_logits(half, tok, texts)[:, cols] - singles[-1]).max() < 1e-3
    (ens_dir / META_FILE).write_text(json.dumps({
        "format": 1, "name": "toy-ensemble", "kind": "ensemble", "base": "minilm", "members": ["member1", "member2"],
        "id2label": {str(i): n for i, n in enumerate(LABELS)}, "temperature": 1.0}))
    model, tok, meta = load_finetuned(ens_dir)
    assert type(model).__name__ == "LogitEnsemble"
    want = np.mean(singles, axis=0)
    assert np.abs(predict_logits(model, tok, texts) - want).max() < 1e-3
    torch_scorer = load_model(str(ens_dir), backend="torch")
    onnx_scorer = load_model(str(ens_dir), backend="onnx")
    assert torch_scorer.model_id == onnx_scorer.model_id and torch_scorer.model_id.startswith("toy-ensemble@")
    assert np.abs(torch_scorer.predict_proba(texts) - onnx_scorer.predict_proba(texts)).max() < 0.02
