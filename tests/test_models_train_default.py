"""The shipped default model: small, offline, trained only on licensed data, and sane on crowd text."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.finetuned import DEFAULT_MODEL_DIR, META_FILE, is_finetuned_folder, weights_sha256
from models.labels import LABELS
from tests.test_models_train import EVAL_SHA256

ROOT = Path(__file__).resolve().parents[1]


def _meta() -> dict:
    return json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))


def test_default_folder_is_small_and_complete():
    assert is_finetuned_folder(DEFAULT_MODEL_DIR)
    meta = _meta()
    assert {META_FILE, "MODEL_CARD.md"} <= {p.name for p in DEFAULT_MODEL_DIR.iterdir()}
    weight_dirs = [DEFAULT_MODEL_DIR / m for m in meta["members"]] if meta.get("kind") == "ensemble" else [DEFAULT_MODEL_DIR]
    for folder in weight_dirs:
        assert {"adapter_config.json", "adapter_model.safetensors", META_FILE} <= {p.name for p in folder.iterdir()}
    assert sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()) < 10_000_000
    assert meta["weights_sha256"] == weights_sha256(DEFAULT_MODEL_DIR)
    assert meta["base"] == "minilm" and 0.05 < meta["temperature"] < 20
    assert sorted(meta["id2label"].values()) == sorted(LABELS)


def test_default_was_never_trained_on_evaluation_files():
    meta = _meta()
    train_hashes = {d["sha256"] for d in meta["training"]["data"]}
    assert train_hashes and not train_hashes & set(EVAL_SHA256.values())
    assert not any("phrasebank" in d["file"].lower() or "sent_valid" in d["file"] for d in meta["training"]["data"])
    held_out = sorted((ROOT / "models" / "crowd_data").glob("crowd_test*.csv"))
    assert held_out  # the project's own held-out crowd sets: never trained on
    for p in held_out:
        assert hashlib.sha256(p.read_bytes()).hexdigest() not in train_hashes
        assert not any(d["file"].endswith(p.name) for d in meta["training"]["data"])
    # the card's metrics were measured on the real evaluation files
    recorded = meta["training"]["evaluation_files_sha256"]
    for name in ("sent_valid.csv", "Sentences_AllAgree.txt"):
        assert recorded[name] == EVAL_SHA256[name]


def test_card_matches_the_committed_crowd_data_and_names_the_rebuild_command():
    meta = _meta()
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "python scripts/train_default.py" in card
    for d in meta["training"]["data"]:
        assert d["sha256"] in card and d["licence"] in card
        if d["file"].startswith("models/"):  # our own files: the shipped model was trained on what is committed
            assert hashlib.sha256((ROOT / d["file"]).read_bytes()).hexdigest() == d["sha256"]
    assert meta["training"]["evaluation"]["crowd_test.csv (project, held out)"]["rows"] >= 150


def _train_default():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_default", ROOT / "scripts" / "train_default.py")
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    return td


def test_rebuild_commands_name_their_crowd_files_and_combine_checks_them(tmp_path):
    td = _train_default()
    data = [{"file": "shared/data/twitter_fin_news/sent_train.csv"}, {"file": "models/crowd_data/crowd_train.csv"},
            {"file": "models/crowd_data/crowd_train_short.csv"}]
    names = td.crowd_files_of(data)
    assert names == ["crowd_train.csv", "crowd_train_short.csv"]
    assert td.with_crowd_files("python scripts/train_default.py --seed 5", names) == \
        "python scripts/train_default.py --seed 5 --crowd-files crowd_train.csv crowd_train_short.csv"
    assert td.with_crowd_files("x --crowd-files crowd_train.csv", names) == "x --crowd-files crowd_train.csv"
    members = []
    for n in range(2):  # two runs trained on the same two files; combine is asked to validate on three
        d = tmp_path / f"m{n}"
        d.mkdir()
        (d / td.META_FILE).write_text(json.dumps({"training": {"data": data, "validation": "v", "split_seed": 13}}))
        members.append(str(d))
    with pytest.raises(SystemExit, match="--crowd-files crowd_train.csv crowd_train_short.csv"):
        td.combine(members, None, tmp_path / "out", "cmd",
                   crowd_names=["crowd_train.csv", "crowd_train_short.csv", "crowd_train_new.csv"])
    assert not (tmp_path / "out").exists()


def test_ensemble_members_are_chosen_on_the_validation_split_alone():
    td = _train_default()
    y = np.array([0, 1, 2] * 20)
    onehot = np.eye(3)[y] * 4.0
    rng = np.random.default_rng(0)
    good = onehot + rng.normal(0, 1.0, onehot.shape)
    noisy = onehot + rng.normal(0, 3.0, onehot.shape)
    wrong = np.eye(3)[(y + 1) % 3] * 4.0
    keep, text = td.select_members(["/r/good", "/r/noisy", "/r/wrong"], [good, noisy, wrong], y, 2)
    assert sorted(keep) == [0, 1]  # an ensemble (never a single run), without the run that is always wrong
    assert "good" in text and "validation split only" in text


@pytest.mark.slow  # loads torch + the model: ~30 s wall on the shared machine
def test_default_reads_crowd_language():
    from models.finetuned import load_finetuned, predict_proba

    model, tok, meta = load_finetuned()
    cases = {
        "$NVDA to the moon 🚀 adding more calls tomorrow": "bullish",
        "backed up the truck on IWM this morning, small caps about to rip": "bullish",
        "my SPY puts are printing, this market is done 📉": "bearish",
        "wow, down 18% since I bought. amazing. love it.": "bearish",
        "TLT is going to keep sliding as yields climb": "bearish",
        "what time is the CPI release tomorrow?": "neutral",
        "This is not investment advice.": "neutral",
        "anyone know how the Russell rebalance works?": "neutral",
    }
    probs = predict_proba(model, tok, meta, list(cases))
    assert probs.shape == (len(cases), 3) and np.allclose(probs.sum(1), 1.0)
    got = [LABELS[i] for i in probs.argmax(1)]
    right = sum(g == w for g, w in zip(got, cases.values()))
    assert right >= 7, list(zip(cases, got))


def test_wsb_labels_are_ids_only_and_held_out_by_md5():
    import hashlib

    import pandas as pd

    labels = pd.read_csv(ROOT / "models" / "crowd_data" / "wsb_labels.csv", dtype=str, keep_default_na=False)
    assert list(labels.columns) == ["id", "split", "label"] and labels["id"].is_unique
    assert set(labels["label"]) == set(LABELS)
    want = ["test" if int(hashlib.md5(i.encode()).hexdigest(), 16) % 5 == 0 else "train" for i in labels["id"]]
    assert labels["split"].tolist() == want
    evaluation = pd.read_csv(ROOT / "eval" / "sentiment" / "labels.csv", dtype=str)
    assert not set(labels["id"]) & set(evaluation["comment_id"])
    used = [d for d in _meta()["training"]["data"] if d["file"].endswith("wsb_labels.csv")]
    assert all("of its train split" in d["use"] for d in used)


def test_wsb_labels_join_the_shared_comments():
    from tests.conftest import shared_path

    path = shared_path("data", "reddit", "esbenkc_wsb_io_comments.csv")
    td = _train_default()
    wsb = td.read_wsb_labelled(path.parents[2])
    train, test = td.wsb_split(wsb, "train"), td.wsb_split(wsb, "test")
    assert (len(train), len(test)) == (1099, 264)
    assert not set(train["text"]) & set(test["text"])
    assert not train["text"].str.contains("&amp;|&#x200B;|\u200b", regex=True).any()


def test_combine_checks_the_wsb_oversample_of_its_members(tmp_path):
    td = _train_default()
    data = [{"file": "models/crowd_data/crowd_train.csv", "use": "train (90 %, x3) + validation (10 %)"},
            {"file": "models/crowd_data/wsb_labels.csv", "use": "train (90 %, x2) + validation (10 %) of its train split"}]
    assert td.crowd_files_of(data) == ["crowd_train.csv"] and td.wsb_oversample_of(data) == 2
    assert td.wsb_oversample_of(data[:1]) == 0
    assert td.wsb_oversample_of([data[0], {**data[1], "use": "train", "oversample": 3}]) == 3  # the field wins
    members = []
    for n in range(2):
        d = tmp_path / f"m{n}"
        d.mkdir()
        (d / td.META_FILE).write_text(json.dumps({"training": {"data": data, "validation": "v", "split_seed": 13}}))
        members.append(str(d))
    with pytest.raises(SystemExit, match="--wsb-oversample 2"):
        td.combine(members, None, tmp_path / "out", "cmd", crowd_names=["crowd_train.csv"], wsb_oversample=0)
    assert not (tmp_path / "out").exists()
    # a run recorded with the numeric field and one from before it trained on the same files ...
    newer = [data[0], {**data[1], "oversample": 2}]
    assert td._data_files({"training": {"data": newer}}) == td._data_files({"training": {"data": data}})
    # ... while another use of a file is other data
    other = [data[0], {**data[1], "use": "train (90 %, x3) + validation (10 %) of its train split"}]
    assert td._data_files({"training": {"data": other}}) != td._data_files({"training": {"data": data}})


def test_default_reads_held_out_real_wallstreetbets_comments():
    """The shipped default through load_model (int8 ONNX on CPU) on the 264 held-out real comments
    of wsb_labels.csv: 0.746 in int8 (0.739 in torch, card) when it shipped; the default before it read 0.689 / 0.678."""
    from models import load_model
    from tests.conftest import shared_path

    path = shared_path("data", "reddit", "esbenkc_wsb_io_comments.csv")
    td = _train_default()
    test = td.wsb_split(td.read_wsb_labelled(path.parents[2]), "test")
    got = load_model("default").predict(test["text"].tolist())
    accuracy = float(np.mean(np.asarray(got) == test["label"].to_numpy()))
    assert accuracy >= 0.71, accuracy


@pytest.mark.slow  # trains a toy teacher: ~10 s CPU
def test_teacher_logits_score_each_text_once_and_are_cached_beside_the_teacher(tmp_path):
    from models.finetuned import load_finetuned, predict_logits
    from models.train import train
    from tests.test_models_train import _toy

    td = _train_default()
    teacher = tmp_path / "teacher"
    train(_toy(30, 0), _toy(9, 1), teacher, epochs=1, batch_size=10, lora_r=4, max_length=32, progress=False, threads=1)
    texts = _toy(12, 2)["text"].tolist()
    texts = texts + texts[:3]  # oversampled rows repeat texts
    got, meta = td.teacher_logits(teacher, texts)
    assert got.shape == (15, 3) and meta["weights_sha256"]
    model, tok, _ = load_finetuned(teacher)
    np.testing.assert_allclose(got, predict_logits(model, tok, texts, max_length=32), atol=1e-5)
    cache = teacher / f"teacher_logits-{meta['weights_sha256'][:12]}.parquet"
    assert cache.exists()
    import pandas as pd

    assert len(pd.read_parquet(cache)) == len(set(texts))  # each distinct text scored once
    again, _ = td.teacher_logits(teacher, texts[::-1] + ["a new text about $IWM"])
    np.testing.assert_allclose(again[:15], got[::-1], atol=1e-6)
    assert len(pd.read_parquet(cache)) == len(set(texts)) + 1


@pytest.mark.parametrize("extra, says", [
    (["--teacher", "{teacher}", "--distill-weight", "1.5"], "--distill-weight / --distill-temperature"),
    (["--teacher", "{teacher}", "--distill-temperature", "0"], "--distill-weight / --distill-temperature"),
    (["--teacher", "{tmp}/nowhere"], "not a trained folder"),
    (["--base", "{tmp}/nowhere"], "no config.json"),
    (["--teacher", "{teacher}", "--combine", "{teacher}"], "apply to a training run"),
])
def test_bad_teacher_arguments_fail_with_one_line_before_any_work(tmp_path, extra, says):
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / META_FILE).write_text("{}", encoding="utf-8")
    args = [a.format(teacher=teacher, tmp=tmp_path) for a in extra]
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_default.py"), "--shared", str(tmp_path),
                        "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert "error:" in last and says in last and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_crowd_files_of_names_only_the_crowd_train_files():
    td = _train_default()
    data = [{"file": "models/crowd_data/crowd_train.csv"}, {"file": "models/crowd_data/wsb_labels.csv"},
            {"file": "models/crowd_data/reddit_stance_labels.csv"}, {"file": "models/crowd_data/stance_train_mixed.csv"}]
    assert td.crowd_files_of(data) == ["crowd_train.csv"]


def test_stocktwits_rows_are_two_class_balanced_and_never_the_held_out_split(tmp_path):
    from models.stocktwits import normalise, split_of

    td = _train_default()
    rows = [f"Bullish,$AAA up {i} going higher" for i in range(50)] + [f"Bearish,$BBB down {i} dump it" for i in range(10)]
    path = tmp_path / "st.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    tr, va, rec = td.stocktwits_rows(path, 0.5, 13)
    assert tr["two_class"].all() and va["two_class"].all()
    both = [*tr["text"], *va["text"]]
    assert all(split_of(normalise(t)) == "train" for t in both)  # the test split is never trained on
    assert rec["test_held_out"] == sum(split_of(normalise(r.split(",", 1)[1])) == "test" for r in rows)
    weight = tr.groupby("label")["weight"].sum()
    assert weight["bullish"] == pytest.approx(weight["bearish"])  # the two classes weigh the same in all
    assert tr["weight"].mean() == pytest.approx(0.5)


@pytest.mark.needs_shared
def test_reddit_rows_split_by_thread_and_mark_the_ticker_of_each_pair():
    td = _train_default()
    from tests.conftest import SHARED, shared_path

    shared_path("data", "reddit", "janash_stocks_comments_sample.csv")
    tr, va, rec = td.reddit_rows(SHARED)
    assert rec["comments"] >= 5000 and 0.05 < rec["validation_comments"] / rec["comments"] < 0.15
    assert set(tr["label"]) == set(va["label"]) == set(LABELS)
    marked = tr["text"].str.contains("<<", regex=False)
    assert marked.sum() > 5000 and (~marked).sum() > 3000  # (comment, ticker) pairs and the comments' own labels
    assert not set(tr["text"]) & set(va["text"][va["text"].str.contains("<<", regex=False)])
