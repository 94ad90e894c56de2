"""Spec resolution, label mapping and the transformer scorer, on a tiny random local model."""
from __future__ import annotations

import numpy as np
import pytest

import models
from models import LABELS, SentimentModel, load_model
from models.errors import ModelError, ModelSpecError
from models.spec import map_model_labels, resolve_spec

EDGE_TEXTS = [
    "",
    "🚀🚀🚀🌕💎🙌",
    " ".join(["bagholder", "calls", "puts.", "to", "the", "moon!"] * 3334)[:200000],  # ~20,000 words
    "Die Aktie steigt morgen bestimmt, ich kaufe Calls. 株価は上がる。",
    "$IWM calls printing, TLT puts drilling",
]


def make_tiny_model(folder, id2label, seed=0):
    """A small random BertForSequenceClassification with the packaged MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from models.encoder import base_model_dir

    tok = AutoTokenizer.from_pretrained(base_model_dir())
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=len(id2label),
                     id2label=dict(id2label), label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def finbert_style(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("finbert_style"), {0: "positive", 1: "negative", 2: "neutral"})


@pytest.fixture(scope="module")
def scorer(finbert_style):
    return load_model(str(finbert_style), backend="torch", batch_size=8)


# -- spec resolution --------------------------------------------------------------------
@pytest.mark.parametrize("spec,kind", [("vader", "vader"), ("tfidf", "tfidf"), ("ProsusAI/finbert", "hub")])
def test_resolve_known_kinds(spec, kind):
    assert resolve_spec(spec).kind == kind


def test_resolve_local_folder(finbert_style):
    r = resolve_spec(str(finbert_style))
    assert r.kind == "huggingface" and r.path == finbert_style


@pytest.mark.parametrize("spec,match", [
    ("./no/such/folder", "is neither a known name \\(default, vader, tfidf\\), a local folder, nor reachable"),
    ("not a model!", "is neither a known name"),
    ("", "non-empty"),
])
def test_bad_specs_fail_with_one_line(spec, match):
    with pytest.raises(ModelSpecError, match=match) as info:
        load_model(spec)
    assert "\n" not in str(info.value)


def test_unreachable_hub_name_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSpecError, match="nor reachable on the Hugging Face hub") as info:
        load_model("crowdpulse-test/definitely-not-cached")
    assert "\n" not in str(info.value)


def test_folder_without_model_and_file(tmp_path):
    with pytest.raises(ModelSpecError, match="neither a crowdpulse model .* nor a Hugging Face model"):
        load_model(str(tmp_path))
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelSpecError, match="is a file"):
        load_model(str(f))


def test_bad_backend_and_batch_size():
    with pytest.raises(ModelSpecError, match="backend 'gpu' is not one of auto, torch, onnx"):
        load_model("vader", backend="gpu")
    with pytest.raises(ModelSpecError, match="batch_size"):
        load_model("vader", batch_size=0)


def test_default_resolves_or_fails_cleanly():
    try:
        m = load_model("default", backend="torch")
    except ModelSpecError as exc:  # the shipped default is not installed in this checkout
        assert "\n" not in str(exc)
    else:
        assert m.model_id.startswith("default@") and len(m.model_id) == len("default@") + 8


# -- label mapping ----------------------------------------------------------------------
def test_finbert_labels_are_mapped(scorer, finbert_style):
    assert scorer.model_labels == ("bullish", "bearish", "neutral")
    assert scorer.model_id == f"{finbert_style.name}@{scorer.model_id.split('@')[1]}"
    assert len(scorer.model_id.split("@")[1]) == 8


def test_reordered_labels_permute_columns(tmp_path):
    import torch

    folder = make_tiny_model(tmp_path / "m", {0: "Bearish", 1: "Neutral", 2: "Bullish"}, seed=1)
    m = load_model(str(folder), backend="torch")
    assert m.model_labels == ("bearish", "neutral", "bullish")
    text = "calls on IWM"
    enc = m.tokenizer([text], return_tensors="pt")
    with torch.inference_mode():
        raw = torch.softmax(m.model(**enc).logits, -1)[0].numpy()
    got = m.predict_proba([text])[0]
    np.testing.assert_allclose(got, [raw[2], raw[0], raw[1]], atol=1e-6)


def test_generic_labels_need_a_map(tmp_path):
    folder = make_tiny_model(tmp_path / "g", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ModelSpecError, match="names its labels only LABEL_0, LABEL_1, LABEL_2; pass a label map"):
        load_model(str(folder))
    m = load_model(str(folder), label_map="0=bearish,1=bullish,2=neutral", backend="torch")
    assert m.model_labels == ("bearish", "bullish", "neutral")


def test_unmappable_labels():
    with pytest.raises(ModelSpecError, match="label 'joy' cannot be mapped"):
        map_model_labels({0: "joy", 1: "anger", 2: "neutral"})
    with pytest.raises(ModelSpecError, match="do not include both"):
        map_model_labels({0: "positive", 1: "neutral"})
    assert map_model_labels({0: "negative", 1: "positive"}) == ("bearish", "bullish")


# -- scoring ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["vader", "tfidf", "local"])
def test_edge_texts_score(spec, scorer):
    m = scorer if spec == "local" else load_model(spec)
    assert isinstance(m, SentimentModel) and tuple(m.labels) == LABELS
    p = m.predict_proba(EDGE_TEXTS)
    assert p.shape == (len(EDGE_TEXTS), 3)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert all(label in LABELS for label in m.predict(EDGE_TEXTS))
    assert m.predict_proba([]).shape == (0, 3)


def test_long_post_is_windowed_not_truncated(scorer):
    long = EDGE_TEXTS[2]
    win = scorer.windows([long, "short one"])
    n_tokens = len(scorer.tokenizer(long, add_special_tokens=False, verbose=False)["input_ids"])
    assert (win.owner == 0).sum() >= n_tokens // (scorer.max_length - 2)
    assert max(len(w) for w in win.ids) <= scorer.max_length
    assert win.weight[win.owner == 0].sum() == n_tokens  # every token is scored once
    assert win.ids[-1] == scorer.tokenizer("short one")["input_ids"]


def test_long_post_is_weighted_mean_of_windows(scorer):
    long = "Calls are printing today. " * 60 + "I sold everything, this stock is going to zero. " * 30
    win = scorer.windows([long])
    wp = scorer.window_probs(win.ids) @ scorer._matrix
    expected = (wp * win.weight[:, None]).sum(0) / win.weight.sum()
    np.testing.assert_allclose(scorer.predict_proba([long])[0], expected, atol=1e-9)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_identical_across_batch_sizes(finbert_style, backend, tmp_path, monkeypatch):
    # int8 ONNX too: dynamic quantization scales a whole call's activations together, so it must
    # run one row per call (models.onnx.run_rows) for a text's score not to depend on its batch.
    monkeypatch.setenv("CROWDPULSE_CACHE", str(tmp_path))
    texts = EDGE_TEXTS + [f"post {i}: " + "IWM to the moon " * (i % 17) for i in range(40)]
    ref = load_model(str(finbert_style), backend=backend, batch_size=64).predict_proba(texts)
    for bs in (1, 3, 16):
        got = load_model(str(finbert_style), backend=backend, batch_size=bs).predict_proba(texts)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    alone = np.vstack([load_model(str(finbert_style), backend=backend).predict_proba([t]) for t in texts[-6:]])
    np.testing.assert_allclose(alone, ref[-6:], atol=1e-4)


def test_temperature_softens(scorer):
    from models.transformer import TransformerScorer

    hot = TransformerScorer(scorer.model, scorer.tokenizer, scorer.model_labels, model_id="t@0",
                            temperature=4.0, max_length=scorer.max_length)
    texts = ["calls", "puts puts puts"]
    logits = hot._logits(hot.windows(texts).ids)
    e = np.exp(logits / 4.0 - (logits / 4.0).max(1, keepdims=True))
    np.testing.assert_allclose(hot.predict_proba(texts), e / e.sum(1, keepdims=True), atol=1e-9)
    with pytest.raises(ModelError, match="temperature must be positive"):
        TransformerScorer(scorer.model, scorer.tokenizer, scorer.model_labels, model_id="t@0", temperature=0)


def test_onnx_backend_matches_torch(finbert_style, tmp_path, monkeypatch):
    monkeypatch.setenv("CROWDPULSE_CACHE", str(tmp_path))
    texts = EDGE_TEXTS[:2] + EDGE_TEXTS[3:]
    ref = load_model(str(finbert_style), backend="torch").predict_proba(texts)
    onnx = load_model(str(finbert_style), backend="onnx")
    assert onnx.backend == "onnx"
    np.testing.assert_allclose(onnx.predict_proba(texts), ref, atol=2e-2)  # int8 weights


def test_onnx_cache_keeps_the_most_recently_used_exports(tmp_path, monkeypatch):
    import os

    from models.onnx import keep_count, prune_cache

    for age, name in enumerate(["m@new", "m@mid", "m@old", "enc", "m@current"]):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.int8pc.onnx").write_bytes(b"x")
        os.utime(folder / "model.int8pc.onnx", (1e9 - age * 100, 1e9 - age * 100))
    gone = prune_cache(tmp_path, 3, tmp_path / "m@current")
    assert sorted(p.name for p in gone) == ["enc", "m@old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m@current", "m@mid", "m@new"]
    monkeypatch.setenv("CROWDPULSE_ONNX_KEEP", "many")
    with pytest.raises(ModelError, match="CROWDPULSE_ONNX_KEEP must be a whole number"):
        keep_count()
    monkeypatch.setenv("CROWDPULSE_ONNX_KEEP", "0")
    assert keep_count() == 1


def test_baseline_ids_and_direction():
    v, t = load_model("vader"), load_model("tfidf")
    assert v.model_id.startswith("vader@") and t.model_id.startswith("tfidf@")
    assert v.predict(["This is a great, wonderful gain", "terrible awful loss"]) == ["bullish", "bearish"]
    assert t.predict(["Stock price target raised, upgraded to buy", "Shares plunge after downgrade"]) == ["bullish", "bearish"]
    assert models.__all__ == ["LABELS", "SentimentModel", "load_model"]


def test_model_id_of_reads_ids_without_loading_weights():
    import json

    from models.baselines import VaderModel
    from models.catalog import model_id_of
    from models.finetuned import DEFAULT_MODEL_DIR, META_FILE

    meta = json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))
    assert model_id_of("default") == "default@" + meta["weights_sha256"][:8]
    assert model_id_of("vader") == VaderModel().load().model_id
    assert model_id_of("./no/such/folder") is None


def _tiny_crowdpulse_folder(folder, seed):
    import json

    from models.finetuned import META_FILE

    make_tiny_model(folder, {0: "bullish", 1: "bearish", 2: "neutral"}, seed=seed)
    (folder / META_FILE).write_text(json.dumps({
        "format": 1, "name": folder.name, "kind": "full", "base": "minilm", "pooling": "cls",
        "id2label": {"0": "bullish", "1": "bearish", "2": "neutral"}, "temperature": 1.0, "max_length": 64}))
    return folder


def test_a_folder_naming_a_stance_model_loads_it_and_its_id_covers_it(tmp_path):
    import json

    from models.catalog import model_id_of
    from models.finetuned import META_FILE, weights_sha256

    parent = _tiny_crowdpulse_folder(tmp_path / "withstance", seed=1)
    alone = load_model(str(parent), backend="torch")
    assert alone.stance_model is None
    _tiny_crowdpulse_folder(parent / "stance", seed=2)
    meta = json.loads((parent / META_FILE).read_text())
    meta["stance_model"] = "stance"
    (parent / META_FILE).write_text(json.dumps(meta))
    scorer = load_model(str(parent), backend="torch")
    assert scorer.stance_model is not None
    assert scorer.model_id != alone.model_id  # the hash covers the stance weights
    assert scorer.model_id == "withstance@" + weights_sha256(parent)[:8] == model_id_of(str(parent))
    assert scorer.stance_model.model_id == scorer.model_id + ".stance"
    probs = scorer.stance_model.predict_proba(["<<IWM>> will rally", "TLT down, <<IWM>> up"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1)
    meta["stance_model"] = "nowhere"
    (parent / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelSpecError, match="stance model"):
        load_model(str(parent), backend="torch")


def test_reduce_lora_rank_keeps_the_best_low_rank_update(tmp_path):
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from models.finetuned import reduce_lora_rank

    torch.manual_seed(0)
    key = "base_model.model.bert.encoder.layer.0.attention.self.query"
    a = torch.randn(4, 10)
    b = torch.randn(10, 2) @ torch.randn(2, 4)  # B @ A has rank 2
    head = torch.randn(3, 10)
    save_file({f"{key}.lora_A.weight": a, f"{key}.lora_B.weight": b, "base_model.model.classifier.weight": head},
              str(tmp_path / "adapter_model.safetensors"))
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    assert reduce_lora_rank(tmp_path, 2) > 0.999999  # a rank-2 update loses nothing at rank 2
    got = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert got[f"{key}.lora_A.weight"].shape == (2, 10) and got[f"{key}.lora_B.weight"].shape == (10, 2)
    assert torch.allclose(got[f"{key}.lora_B.weight"] @ got[f"{key}.lora_A.weight"], b @ a, atol=1e-4)
    assert torch.equal(got["base_model.model.classifier.weight"], head)
    cfg = json.loads((tmp_path / "adapter_config.json").read_text())
    assert cfg["r"] == 2 and cfg["lora_alpha"] / cfg["r"] == 8 / 4  # peft's scale alpha/r is unchanged
    assert reduce_lora_rank(tmp_path, 1) < 1.0
    with pytest.raises(ModelError, match="rank"):
        reduce_lora_rank(tmp_path, 5)


def test_onnx_encoder_rows_do_not_depend_on_their_batch():
    from models.encoder import OnnxEncoder

    enc = OnnxEncoder(batch_size=64).load()
    texts = ["Fed cuts rates", "IWM calls printing 🚀", "", "long bonds rally as yields fall " * 12, "recession soon?"]
    together = enc.encode(texts)
    alone = np.vstack([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_onnx_rows_run_concurrently_give_the_same_outputs_as_one_at_a_time():
    """models.onnx.RowRunner runs rows on several threads; each row is still computed alone."""
    from transformers import AutoTokenizer

    from models.encoder import OnnxEncoder, base_model_dir
    from models.onnx import RowRunner

    enc = OnnxEncoder().load()
    tok = AutoTokenizer.from_pretrained(base_model_dir(), local_files_only=True)
    texts = ["Fed cuts rates", "IWM calls printing 🚀", "long bonds rally as yields fall " * 12, "recession soon?"] * 3
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    one, four = RowRunner(enc._rows.path, threads=1), RowRunner(enc._rows.path, threads=4)
    assert one._pool is None and four._pool is not None
    serial, parallel = one("last_hidden_state", ids, mask), four("last_hidden_state", ids, mask)
    assert [len(r) for r in parallel] == [int(m.sum()) for m in mask]  # each row cut to its own length, in order
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)

    import gc
    import threading
    import time

    def workers() -> int:
        return sum(t.name.startswith("onnx-row") for t in threading.enumerate())

    before = workers()
    assert before >= 1
    del four
    gc.collect()
    for _ in range(50):  # a collected ThreadPoolExecutor wakes its idle workers, which then exit
        if workers() < before:
            break
        time.sleep(0.05)
    assert workers() < before  # a dropped runner does not keep its threads for the whole process


def test_none_and_nan_read_as_the_empty_text():
    from models.texts import as_texts

    assert as_texts([None, float("nan"), "IWM", 5]) == ["", "", "IWM", "5"]
    assert as_texts("one text") == ["one text"]
    vader = load_model("vader")
    np.testing.assert_allclose(vader.predict_proba([float("nan"), None]), vader.predict_proba(["", ""]))
