"""What ``crowdpulse models list`` shows: the specs a user can pass to ``--model``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from models.errors import ModelError

logger = logging.getLogger(__name__)


def _crowdpulse_folder(folder: Path, name: str | None = None) -> tuple[str, dict] | None:
    """``(model_id, metadata)`` of a crowdpulse model folder, read from its files; None if unreadable."""
    try:
        from models.finetuned import read_meta, weights_sha256
    except ImportError:
        return None
    try:
        meta = read_meta(folder)
        digest = str(meta.get("weights_sha256") or weights_sha256(folder))[:8]
    except (ModelError, OSError, ValueError, KeyError) as exc:
        logger.warning("cannot read model folder %s: %s", folder, exc)
        return None
    return f"{name or meta.get('name') or folder.resolve().name}@{digest}", meta  # as models.spec.load_model names it


def _crowdpulse_id(folder: Path, name: str | None = None) -> str | None:
    got = _crowdpulse_folder(folder, name)
    return got[0] if got else None


def model_id_of(spec: str) -> str | None:
    """The model_id ``load_model(spec)`` would report, read from files without loading weights.

    Known for ``default``, crowdpulse folders, ``vader`` and ``tfidf``; ``None`` for Hugging Face
    models (their id needs the loaded model) and for specs that do not resolve.
    """
    from models.spec import ModelSpecError, resolve_spec

    try:
        resolved = resolve_spec(spec)
    except ModelSpecError:
        return None
    if resolved.kind in ("default", "crowdpulse"):
        return _crowdpulse_id(Path(resolved.path), "default" if resolved.kind == "default" else None)
    if resolved.kind in ("vader", "tfidf"):
        from models.baselines import TfidfModel, VaderModel

        try:
            return (VaderModel() if resolved.kind == "vader" else TfidfModel()).load().model_id
        except ModelError:
            return None
    return None


def available_models(models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows ``{spec, model_id, kind, description}`` for default, vader, tfidf and saved folders.

    model_ids are computed without loading weights (file hashes only).
    """
    from models.baselines import TfidfModel, VaderModel
    from models.spec import _is_crowdpulse_folder

    rows: list[dict[str, Any]] = []
    try:
        from models.finetuned import DEFAULT_MODEL_DIR

        default = _crowdpulse_folder(Path(DEFAULT_MODEL_DIR), "default") if _is_crowdpulse_folder(Path(DEFAULT_MODEL_DIR)) else None
    except ImportError:
        default = None
    default_id, description = None, "shipped model not installed"
    if default:
        default_id, meta = default
        members = len(meta.get("members") or [])
        description = ((f"shipped ensemble of {members} fine-tuned MiniLM classifiers" if members > 1
                        else "shipped fine-tuned MiniLM")
                       + (" (with its target-aware stance model)" if meta.get("stance_model") else ""))
    rows.append({"spec": "default", "model_id": default_id, "kind": "crowdpulse", "description": description})
    rows.append({"spec": "vader", "model_id": VaderModel().load().model_id, "kind": "baseline",
                 "description": "VADER lexicon (compound score)"})
    tfidf = TfidfModel()
    try:
        tfidf_id = tfidf.load().model_id
    except ModelError:
        tfidf_id = None
    rows.append({"spec": "tfidf", "model_id": tfidf_id, "kind": "baseline",
                 "description": "TF-IDF + logistic regression (Twitter Financial News train)"})
    if models_dir is not None and Path(models_dir).is_dir():
        for folder in sorted(p for p in Path(models_dir).iterdir() if p.is_dir()):
            if _is_crowdpulse_folder(folder):
                mid = _crowdpulse_id(folder)
                rows.append({"spec": str(folder), "model_id": mid, "kind": "saved" if mid else "unreadable",
                             "description": "saved by crowdpulse models train" if mid else
                             "unreadable: its crowdpulse_model.json or weights do not load"})
            elif (folder / "config.json").exists():
                rows.append({"spec": str(folder), "model_id": None, "kind": "huggingface",
                             "description": "Hugging Face folder (model_id known once loaded)"})
    return rows
