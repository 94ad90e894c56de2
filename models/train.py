"""Fine-tune a small encoder (default: the packaged all-MiniLM-L6-v2) into a bullish/bearish/neutral
classifier with LoRA adapters, early stopping on an evaluation split and temperature scaling.

The output folder is self-describing (see :mod:`models.finetuned`) and loads offline with
:func:`models.finetuned.load_finetuned`.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import ModelError
from models.labels import LABELS

log = logging.getLogger(__name__)

#: LoRA targets: every linear layer inside the encoder blocks (attention q/k/v/output, FFN in/out).
#: BERT names its projections query/key/value/dense; MPNet (a possible teacher base) q/k/v/o and dense.
LORA_TARGETS = r".*encoder\.layer\.\d+\..*\.(query|key|value|dense|q|k|v|o)$"
#: Modules trained in full and saved next to the adapters (small: ~150k parameters with the pooler).
FULL_MODULES = {"cls": ["classifier", "pooler"], "mean": ["classifier"]}


@dataclass
class TrainResult:
    out_dir: Path
    best_epoch: int
    metrics: dict[str, float]
    temperature: float
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


#: Labels a two-class row may carry: its loss is over these two classes only (p renormalised).
TWO_CLASS = ("bullish", "bearish")


def _validate(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """``df`` as DataFrame[text, label, weight, two_class]: the optional ``weight`` column (default 1)
    scales a row's loss, and a ``two_class`` row (bullish or bearish only, e.g. StockTwits messages their
    authors tagged) is trained on the renormalised bullish/bearish probabilities, never on neutral."""
    if not isinstance(df, pd.DataFrame) or not {"text", "label"} <= set(df.columns):
        raise ModelError(f"The {what} must be a DataFrame with columns text and label.")
    out = df[["text", "label"]].copy()
    out["text"] = out["text"].astype(str)
    bad = sorted(set(out["label"]) - set(LABELS))
    if bad:
        raise ModelError(f"The {what} has label(s) {bad[:5]}; allowed labels are {', '.join(LABELS)}.")
    out["weight"] = 1.0
    if "weight" in df.columns:  # a missing weight (rows of a set without weights) is 1
        weight = pd.to_numeric(df["weight"], errors="coerce")
        if (weight.isna() & df["weight"].notna()).any() or (weight < 0).any():
            raise ModelError(f"The {what} has weights that are not non-negative numbers.")
        out["weight"] = weight.fillna(1.0)
    out["two_class"] = df["two_class"].fillna(False).astype(bool) if "two_class" in df.columns else False
    if (out["two_class"] & ~out["label"].isin(TWO_CLASS)).any():
        raise ModelError(f"The {what} has two-class rows labelled neither {' nor '.join(TWO_CLASS)}.")
    out = out[out["text"].str.strip() != ""]
    if out.empty:
        raise ModelError(f"The {what} has no rows with text.")
    return out.reset_index(drop=True)


def row_losses(logits, y, two_class, label_smoothing: float = 0.0):
    """Per-row cross-entropy: over the three classes, or for ``two_class`` rows over bullish and
    bearish only (the softmax of their two logits, i.e. the renormalised p_bullish / p_bearish)."""
    import torch
    import torch.nn.functional as F

    three = F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction="none")
    if not bool(two_class.any()):
        return three
    pair = [LABELS.index(n) for n in TWO_CLASS]
    two = F.cross_entropy(logits[:, pair], (y == pair[1]).long(), reduction="none")
    return torch.where(two_class, two, three)


def portable_configs(out: Path, base: str) -> None:
    """Name the base encoder in the saved configs by its spec (``minilm``), not by this machine's
    path to it: peft and transformers write the absolute path they loaded it from, which means
    nothing on another machine (loading reads the base from ``crowdpulse_model.json``)."""
    for name, key in (("adapter_config.json", "base_model_name_or_path"), ("config.json", "_name_or_path")):
        path = out / name
        if not path.is_file():
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc.get(key), str) and Path(doc[key]).is_absolute():
            doc[key] = base
            path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator,
                            bucket_batches: int = 50) -> list[np.ndarray]:
    """Shuffle, cut into pools of ``bucket_batches`` batches, sort each pool by length, batch it,
    and shuffle the batches: little padding, still random order."""
    idx = rng.permutation(len(lengths))
    pool = batch_size * bucket_batches
    lengths_arr = np.asarray(lengths)
    batches: list[np.ndarray] = []
    for start in range(0, len(idx), pool):
        chunk = idx[start:start + pool]
        chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def check_distillation(distill_weight: float, distill_temperature: float) -> None:
    """Raise ModelError unless ``distill_weight`` lies in [0, 1] and ``distill_temperature`` is positive."""
    if not 0.0 <= distill_weight <= 1.0 or not distill_temperature > 0:
        raise ModelError(f"the distillation weight must lie in [0, 1] and its temperature be positive, "
                         f"not {distill_weight} and {distill_temperature}")


def distillation_loss(student_logits, teacher_logits, temperature: float):
    """T^2 x KL(softmax(teacher / T) || softmax(student / T)), the batch mean (Hinton et al. 2015)."""
    import torch.nn.functional as F

    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                    reduction="batchmean", log_target=True) * t * t


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=list(range(len(LABELS))),
                                   zero_division=0)),
    }


def _build_model(base_path: str, lora_r: int, lora_alpha: int | None, lora_dropout: float, pooling: str):
    import transformers

    from models.heads import classifier_class

    id2label = dict(enumerate(LABELS))
    prev = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "newly initialized classifier" is expected
    try:
        model = classifier_class(pooling).from_pretrained(
            base_path, num_labels=len(LABELS), id2label=id2label, label2id={v: k for k, v in id2label.items()}
        )
    finally:
        transformers.logging.set_verbosity(prev)
    if lora_r <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=lora_r, lora_alpha=lora_alpha or 2 * lora_r, lora_dropout=lora_dropout,
                     target_modules=LORA_TARGETS, modules_to_save=FULL_MODULES[pooling], bias="none")
    return get_peft_model(model, cfg)


def train(
    data: pd.DataFrame,
    eval_data: pd.DataFrame,
    out_dir: str | Path,
    *,
    base: str = "minilm",
    epochs: int = 4,
    lr: float = 4e-4,
    batch_size: int = 32,
    seed: int = 13,
    patience: int = 1,
    lora_r: int = 16,
    lora_alpha: int | None = None,
    lora_dropout: float = 0.1,
    max_length: int = 128,
    weight_decay: float = 0.01,
    warmup_ratio: float = 0.06,
    pooling: str = "mean",
    label_smoothing: float = 0.0,
    threads: int | None = None,
    progress: bool = True,
    name: str | None = None,
    extra_meta: dict[str, Any] | None = None,
    teacher_logits: np.ndarray | None = None,
    distill_weight: float = 0.5,
    distill_temperature: float = 2.0,
) -> TrainResult:
    """Fine-tune ``base`` on ``data`` (DataFrame[text, label] with LABELS names) and write ``out_dir``.

    LoRA adapters (rank ``lora_r``; 0 = full fine-tune) on every encoder linear layer plus a fully
    trained classifier head over the mean of the token states (``pooling="mean"``, see
    :mod:`models.heads`) or over [CLS] and the pooler (``pooling="cls"``); AdamW with linear warm-up/decay; length-bucketed batches;
    after each epoch the macro-F1 on ``eval_data`` decides the best epoch, and training stops after
    ``patience`` epochs without improvement. The best weights are saved; a temperature is fitted on
    ``eval_data`` logits and stored in ``crowdpulse_model.json`` with the metrics.

    With ``teacher_logits`` (n x 3, one row per row of ``data``, columns in LABELS order) the loss is
    knowledge distillation (Hinton et al. 2015): ``(1 - distill_weight)`` x cross-entropy on the labels
    + ``distill_weight`` x T^2 x KL(teacher || student) at temperature T = ``distill_temperature``.
    """
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from models.calibration import apply_temperature, expected_calibration_error, fit_temperature, nll
    from models.finetuned import META_FILE, base_model_path, predict_logits, weights_sha256

    t0 = time.time()
    data = _validate(data, "training data")
    eval_data = _validate(eval_data, "evaluation data")
    teacher_t = None
    if teacher_logits is not None:
        teacher_t = torch.tensor(np.asarray(teacher_logits, dtype=np.float32))  # a copy: the array may be read-only
        if teacher_t.shape != (len(data), len(LABELS)):
            raise ModelError(f"teacher_logits must be {len(data)} x {len(LABELS)} (one row per training row), "
                             f"not {tuple(teacher_t.shape)}.")
        check_distillation(distill_weight, distill_temperature)
    for what, value, least in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("max_length", max_length, 8)):
        if value < least:
            raise ModelError(f"{what} must be at least {least}, not {value}.")
    if not lr > 0:
        raise ModelError(f"the learning rate must be positive, not {lr}.")
    if pooling not in FULL_MODULES:
        raise ModelError(f"pooling must be one of {', '.join(FULL_MODULES)}, not {pooling!r}.")
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    _seed_all(seed)
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    base_path = base_model_path(base)
    if pooling == "mean":
        from transformers import AutoConfig

        model_type = AutoConfig.from_pretrained(base_path).model_type
        if model_type != "bert":
            raise ModelError(f"pooling 'mean' needs a BERT-family base encoder, and {base!r} is {model_type!r}; "
                             "use pooling 'cls'.")
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = _build_model(base_path, lora_r, lora_alpha, lora_dropout, pooling)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    log.info("training %d rows, evaluating on %d; %d of %d parameters trainable; %d threads",
             len(data), len(eval_data), n_trainable, n_total, threads)

    label_id = {name: i for i, name in enumerate(LABELS)}
    texts = data["text"].tolist()
    y = torch.tensor(data["label"].map(label_id).to_numpy(), dtype=torch.long)
    row_weight = torch.tensor(data["weight"].to_numpy(dtype=np.float32))
    two_class = torch.tensor(data["two_class"].to_numpy(dtype=bool))
    weighted = bool((row_weight != 1).any() or two_class.any())
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    input_ids = enc["input_ids"]
    lengths = [len(ids) for ids in input_ids]
    # Early stopping, the temperature and the metrics read the three-class rows; two-class rows
    # (if any) are scored on bullish vs bearish only and recorded beside them.
    eval_two = eval_data[eval_data["two_class"]]
    eval_data = eval_data[~eval_data["two_class"]].reset_index(drop=True)
    if eval_data.empty:
        raise ModelError("The evaluation data needs three-class rows (bullish, bearish and neutral), not only two-class ones.")
    eval_y = eval_data["label"].map(label_id).to_numpy()
    two_y = eval_two["label"].map(label_id).to_numpy()

    def two_class_accuracy() -> dict[str, float]:
        if eval_two.empty:
            return {}
        lg = predict_logits(model, tokenizer, eval_two["text"].tolist(), max_length=max_length)
        pair = [LABELS.index(n) for n in TWO_CLASS]
        return {"two_class_accuracy": float((np.array(pair)[lg[:, pair].argmax(1)] == two_y).mean())}

    steps_per_epoch = math.ceil(len(data) / batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    sched = get_linear_schedule_with_warmup(opt, int(warmup_ratio * steps_per_epoch * epochs),
                                            steps_per_epoch * epochs)

    best_f1, best_epoch, best_state, bad_epochs = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        model.train()
        batches = length_bucketed_batches(lengths, batch_size, rng)
        it = batches
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(batches, desc=f"epoch {epoch}/{epochs}", unit="batch", mininterval=10)
        total, te = 0.0, time.time()
        for step, idx in enumerate(it, 1):
            feats = tokenizer.pad({"input_ids": [input_ids[i] for i in idx]}, return_tensors="pt")
            logits = model(input_ids=feats["input_ids"], attention_mask=feats["attention_mask"]).logits
            if weighted:
                loss = (row_losses(logits, y[idx], two_class[idx], label_smoothing) * row_weight[idx]).mean()
            else:
                loss = torch.nn.functional.cross_entropy(logits, y[idx], label_smoothing=label_smoothing)
            if teacher_t is not None:
                loss = (1 - distill_weight) * loss + distill_weight * distillation_loss(
                    logits, teacher_t[idx], distill_temperature)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            total += loss.item()
            if progress and hasattr(it, "set_postfix") and step % 10 == 0:
                it.set_postfix(loss=f"{total / step:.4f}")
        ev_logits = predict_logits(model, tokenizer, eval_data["text"].tolist(), max_length=max_length)
        m = classification_metrics(eval_y, ev_logits.argmax(1))
        m.update(two_class_accuracy())
        rec = {"epoch": epoch, "train_loss": total / len(batches), "eval_nll": nll(ev_logits, eval_y),
               "seconds": time.time() - te, **{f"eval_{k}": v for k, v in m.items()}}
        history.append(rec)
        log.info("epoch %d: %s", epoch, json.dumps({k: round(v, 4) for k, v in rec.items()}))
        if m["macro_f1"] > best_f1:
            best_f1, best_epoch, bad_epochs = m["macro_f1"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                log.info("early stop: no macro-F1 gain for %d epoch(s); best epoch %d", bad_epochs, best_epoch)
                break

    model.load_state_dict(best_state)
    model.eval()
    ev_logits = predict_logits(model, tokenizer, eval_data["text"].tolist(), max_length=max_length)
    temperature = fit_temperature(ev_logits, eval_y)
    raw_p = apply_temperature(ev_logits, 1.0)
    cal_p = apply_temperature(ev_logits, temperature)
    metrics = {
        **classification_metrics(eval_y, ev_logits.argmax(1)),
        "nll": nll(ev_logits, eval_y),
        "nll_calibrated": nll(ev_logits, eval_y, temperature),
        "ece": expected_calibration_error(raw_p, eval_y),
        "ece_calibrated": expected_calibration_error(cal_p, eval_y),
        **two_class_accuracy(),
    }

    for stale in ("adapter_model.safetensors", "adapter_config.json", "model.safetensors", "config.json"):
        (out / stale).unlink(missing_ok=True)
    if lora_r > 0:
        model.save_pretrained(str(out))
        kind = "lora"
    else:
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        kind = "full"
    portable_configs(out, base)
    seconds = time.time() - t0
    meta = {
        "format": 1,
        "name": name or out.name,
        "kind": kind,
        "base": base,
        "pooling": pooling,
        "id2label": {str(i): lab for i, lab in enumerate(LABELS)},
        "temperature": temperature,
        "max_length": max_length,
        "weights_sha256": weights_sha256(out),
        "training": {
            "rows": int(len(data)),
            "eval_rows": int(len(eval_data)),
            "label_counts": {k: int(v) for k, v in data["label"].value_counts().items()},
            **({"two_class_rows": int(data["two_class"].sum())} if data["two_class"].any() else {}),
            "hyper_parameters": {
                "epochs": epochs, "best_epoch": best_epoch, "lr": lr, "batch_size": batch_size, "seed": seed,
                "patience": patience, "lora_r": lora_r, "lora_alpha": (lora_alpha or 2 * lora_r) if lora_r else None,
                "lora_dropout": lora_dropout, "lora_targets": LORA_TARGETS if lora_r else None,
                "fully_trained_modules": FULL_MODULES[pooling] if lora_r else "all",
                "pooling": pooling, "label_smoothing": label_smoothing,
                "max_length": max_length, "weight_decay": weight_decay, "warmup_ratio": warmup_ratio,
                "optimizer": "AdamW, linear warm-up/decay, grad-norm clip 1.0", "threads": threads,
                "trainable_parameters": int(n_trainable),
                **({"distill_weight": distill_weight, "distill_temperature": distill_temperature}
                   if teacher_t is not None else {}),
            },
            "eval_metrics": metrics,
            "history": history,
            "seconds": round(seconds, 1),
            **(extra_meta or {}),
        },
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("saved %s (best epoch %d, eval %s, T=%.3f) in %.0f s", out, best_epoch,
             {k: round(v, 4) for k, v in metrics.items()}, temperature, seconds)
    return TrainResult(out_dir=out, best_epoch=best_epoch, metrics=metrics, temperature=temperature,
                       seconds=seconds, history=history)
