"""Resolve a ``--model`` spec the same way everywhere, and load it.

A spec is one of:

* ``default`` -- the shipped fine-tuned model (``models/default/``);
* ``vader`` / ``tfidf`` -- the baselines;
* a local folder -- a crowdpulse model saved by ``crowdpulse models train`` (has
  ``crowdpulse_model.json``) or any Hugging Face sequence-classification folder (has ``config.json``);
* a Hugging Face hub name (``ProsusAI/finbert``) -- loaded from the local cache, or downloaded
  when the hub is reachable.

Hugging Face label names are mapped onto bullish/bearish/neutral: ``positive/negative/neutral``
(FinBERT style), ``Bullish/Bearish/Neutral``, ``pos/neg/neu``. A model whose config names its
labels only ``LABEL_0, LABEL_1, ...`` needs an explicit ``label_map`` such as
``"0=bearish,1=bullish,2=neutral"`` (keys may be the index or the ``LABEL_i`` name).
"""
from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

from models.baselines import TfidfModel, VaderModel, file_hash
from models.data import LABEL_SYNONYMS, parse_label_map
from models.errors import ModelError, ModelSpecError
from models.labels import LABELS

logger = logging.getLogger(__name__)

KNOWN_NAMES = ("default", "vader", "tfidf")
BACKENDS = ("auto", "torch", "onnx")
Kind = Literal["default", "vader", "tfidf", "crowdpulse", "huggingface", "hub"]
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_GENERIC = re.compile(r"^LABEL_(\d+)$", re.IGNORECASE)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "tf_model.h5")


@dataclass(frozen=True)
class ModelSpec:
    """Where a spec points: its kind, a display name and (for folders) the path."""

    spec: str
    kind: Kind
    name: str
    path: Path | None = None


def _not_found(spec: str) -> ModelSpecError:
    return ModelSpecError(
        f"model {spec!r} is neither a known name ({', '.join(KNOWN_NAMES)}), a local folder, "
        "nor reachable on the Hugging Face hub"
    )


def resolve_spec(spec: str) -> ModelSpec:
    """Decide what ``spec`` names, without loading weights (hub names are not checked here)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError(f"model spec must be a non-empty string ({', '.join(KNOWN_NAMES)}, a folder or a hub name)")
    spec = spec.strip()
    if spec in ("vader", "tfidf"):
        return ModelSpec(spec, spec, spec)
    if spec == "default":
        try:
            from models.finetuned import DEFAULT_MODEL_DIR
        except ImportError as exc:
            raise ModelSpecError("the shipped default model is not installed (models.finetuned is missing)") from exc
        folder = Path(DEFAULT_MODEL_DIR)
        if not _is_crowdpulse_folder(folder):
            raise ModelSpecError(
                f"the shipped default model is not installed ({folder} has no crowdpulse_model.json); "
                "rebuild it with: python scripts/train_default.py"
            )
        return ModelSpec(spec, "default", "default", folder)
    path = Path(spec).expanduser()
    if path.is_dir():
        if _is_crowdpulse_folder(path):
            return ModelSpec(spec, "crowdpulse", path.resolve().name, path)
        if (path / "config.json").exists():
            return ModelSpec(spec, "huggingface", path.resolve().name, path)
        raise ModelSpecError(
            f"folder {spec!r} holds neither a crowdpulse model (crowdpulse_model.json) "
            "nor a Hugging Face model (config.json)"
        )
    if path.exists():
        raise ModelSpecError(f"model {spec!r} is a file; give the folder that holds the model")
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") > 1 or os.sep in spec and not _HUB_NAME.match(spec)
    if looks_like_path or not _HUB_NAME.match(spec):
        raise _not_found(spec)
    return ModelSpec(spec, "hub", spec)


def _is_crowdpulse_folder(path: Path) -> bool:
    try:
        from models.finetuned import is_finetuned_folder
    except ImportError:
        return (path / "crowdpulse_model.json").exists()
    return bool(is_finetuned_folder(path))


def map_model_labels(
    id2label: Mapping[int, str] | None, label_map: str | Mapping[str, str] | None = None, *, model: str = "model"
) -> tuple[str, ...]:
    """For each output index of a model, the LABELS name it means.

    Raises:
        ModelSpecError: a label that maps to nothing, or generic ``LABEL_i`` names without ``label_map``.
    """
    if not id2label:
        raise ModelSpecError(f"{model} has no id2label in its config; pass a label map such as '0=bearish,1=bullish,2=neutral'")
    items = sorted((int(k), str(v)) for k, v in id2label.items())
    if [k for k, _ in items] != list(range(len(items))):
        raise ModelSpecError(f"{model} has id2label indices {[k for k, _ in items]}, expected 0..{len(items) - 1}")
    explicit = parse_label_map(label_map) if label_map else None
    out: list[str] = []
    for idx, name in items:
        if explicit is not None:
            target = explicit.get(str(idx)) or explicit.get(name) or explicit.get(name.lower())
            if target is None:
                raise ModelSpecError(f"the label map gives no target for {model}'s label {idx} ({name!r})")
            out.append(target)
            continue
        if _GENERIC.match(name):
            raise ModelSpecError(
                f"{model} names its labels only {', '.join(n for _, n in items)}; pass a label map "
                "such as --label-map '0=bearish,1=bullish,2=neutral' to say which is which"
            )
        target = LABEL_SYNONYMS.get(name.strip().lower())
        if target is None:
            raise ModelSpecError(
                f"{model}'s label {name!r} cannot be mapped onto {', '.join(LABELS)} "
                "(known: positive/negative/neutral, bullish/bearish/neutral); pass a label map"
            )
        out.append(target)
    if "bullish" not in out or "bearish" not in out:
        raise ModelSpecError(f"{model}'s labels {[n for _, n in items]} do not include both a bullish and a bearish class")
    return tuple(out)


def weights_hash(folder: Path) -> str:
    """Short sha256 of a model folder's weight file(s)."""
    for name in _WEIGHT_FILES:
        if (folder / name).exists():
            return file_hash(folder / name)
    shards = sorted(folder.glob("model-*.safetensors")) or sorted(folder.glob("pytorch_model-*.bin"))
    if shards:
        return file_hash(shards[0])
    return file_hash(folder / "config.json")


def resolve_device(device: str | None) -> str:
    """``None`` -> cuda when available, else cpu (logged)."""
    if device:
        return device
    import torch

    chosen = "cuda" if torch.cuda.is_available() else "cpu"
    logger.info("device not given; using %s", chosen)
    return chosen


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_hf(source: str, spec: str, local_only: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as exc:
        if local_only and not Path(source).exists():
            return None
        raise ModelSpecError(f"model {spec!r} could not be loaded as a sequence classifier: {str(exc).splitlines()[0]}") from exc
    return model, tokenizer


def _hub_folder(name: str) -> Path | None:
    try:
        from transformers.utils import cached_file

        found = cached_file(name, "config.json", local_files_only=True)
    except Exception:  # noqa: BLE001 - "not cached" comes in several exception types
        return None
    return Path(found).parent if found else None


def load_model(
    spec: str = "default",
    *,
    device: str | None = None,
    batch_size: int = 64,
    backend: str = "auto",
    label_map: str | Mapping[str, str] | None = None,
):
    """Load the scorer a spec names (see module docstring). Returns a SentimentModel.

    Args:
        spec: ``default``, ``vader``, ``tfidf``, a local folder or a Hugging Face hub name.
        device: torch device (``None`` = cuda when available, else cpu).
        batch_size: windows per forward pass.
        backend: ``torch``, ``onnx`` (ONNX Runtime, int8-quantized) or ``auto`` (onnx on CPU for the
            shipped and saved crowdpulse models when the export works, torch otherwise).
        label_map: for Hugging Face models whose labels are only ``LABEL_i``: ``"0=bearish,1=bullish,2=neutral"``.

    Raises:
        ModelSpecError: the spec names nothing loadable, or the model's labels cannot be mapped.
    """
    if backend not in BACKENDS:
        raise ModelSpecError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ModelSpecError(f"batch_size must be a positive integer, got {batch_size!r}")
    resolved = resolve_spec(spec)
    if resolved.kind == "vader":
        return VaderModel().load()
    if resolved.kind == "tfidf":
        return TfidfModel().load()
    dev = resolve_device(device)
    if resolved.kind in ("default", "crowdpulse"):
        model, tokenizer, meta = _load_crowdpulse(resolved)
        name = "default" if resolved.kind == "default" else str(meta.get("name") or resolved.name)
        digest = str(meta.get("weights_sha256") or weights_hash(resolved.path))[:8]
        scorer = _scorer(model, tokenizer, meta, f"{name}@{digest}", resolved.kind, spec, dev, batch_size, backend)
        if meta.get("stance_model"):
            sub = ModelSpec(f"{spec} stance model", "crowdpulse", "stance", resolved.path / str(meta["stance_model"]))
            s_model, s_tok, s_meta = _load_crowdpulse(sub)
            scorer.stance_model = _scorer(s_model, s_tok, s_meta, f"{name}@{digest}.stance", "crowdpulse",
                                          sub.spec, dev, batch_size, backend)
        elif meta.get("stance_self"):  # trained on ticker-marked text too: it judges each ticker itself
            own = meta["stance_self"]
            scorer.stance_model = scorer
            scorer.stance_weight = float(own.get("weight", 1.0))
            scorer.stance_scope = str(own.get("scope", "multi"))
        return scorer
    if resolved.kind == "huggingface":
        loaded = _load_hf(str(resolved.path), spec, local_only=True)
        folder = resolved.path
    else:
        loaded = _load_hf(spec, spec, local_only=True)
        if loaded is None:
            if not _hub_reachable():
                raise _not_found(spec)
            loaded = _load_hf(spec, spec, local_only=False)
        folder = _hub_folder(spec)
    model, tokenizer = loaded
    labels = map_model_labels(getattr(model.config, "id2label", None), label_map, model=f"model {spec!r}")
    digest = weights_hash(folder) if folder else "unknown"
    max_length = min(int(getattr(model.config, "max_position_embeddings", 512) or 512),
                     int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    meta = {"labels": labels, "temperature": 1.0, "max_length": max_length}
    return _scorer(model, tokenizer, meta, f"{resolved.name}@{digest}", resolved.kind, spec, dev, batch_size, backend)


def _scorer(model, tokenizer, meta: dict, model_id: str, kind: str, spec: str, dev: str, batch_size: int,
            backend: str):
    """A :class:`~models.transformer.TransformerScorer` over a loaded model (ONNX where asked or automatic)."""
    from models.transformer import TransformerScorer, default_threads

    if "labels" in meta:
        labels = meta["labels"]
    else:
        labels = tuple(str(meta["id2label"][k] if k in meta["id2label"] else meta["id2label"][str(k)])
                       for k in range(len(meta["id2label"])))
        labels = map_model_labels(dict(enumerate(labels)), None, model=f"model {spec!r}")
    model.eval()
    scorer_backend = "torch"
    if dev == "cpu":
        import torch

        torch.set_num_threads(default_threads())
    if backend == "onnx" or (backend == "auto" and dev == "cpu" and kind in ("default", "crowdpulse")):
        from models.onnx import onnx_classifier

        try:
            model = onnx_classifier(model, tokenizer, model_id)
            scorer_backend = "onnx"
        except ModelError as exc:
            if backend == "onnx":
                raise
            logger.warning("ONNX backend unavailable for %s (%s); using torch", model_id, exc)
    else:
        model.to(dev)
    temperature = float(meta.get("temperature") or 1.0)
    logger.info("loaded %s (%s, backend %s, labels %s, T=%.3f)", model_id, kind, scorer_backend, labels, temperature)
    return TransformerScorer(
        model, tokenizer, labels, model_id=model_id, temperature=temperature,
        max_length=int(meta.get("max_length") or 128), batch_size=batch_size, device=dev, backend=scorer_backend,
    )


def _load_crowdpulse(resolved: ModelSpec):
    try:
        from models.finetuned import load_finetuned
    except ImportError as exc:
        raise ModelSpecError(f"model {resolved.spec!r} needs models.finetuned, which is not installed") from exc
    if resolved.path is None or not resolved.path.exists():
        raise ModelSpecError(f"model {resolved.spec!r}: folder {resolved.path} does not exist")
    try:
        return load_finetuned(resolved.path)
    except ModelSpecError:
        raise
    except (ModelError, OSError, ValueError, KeyError) as exc:
        raise ModelSpecError(f"model {resolved.spec!r} in {resolved.path} is broken: {str(exc).splitlines()[0]}") from exc
