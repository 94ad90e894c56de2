"""Several fine-tuned classifiers over the same base, scored as one model.

:class:`LogitEnsemble` runs every member on the same tokens and averages their logits. It
behaves like a ``transformers`` sequence classifier (``config``, ``device``,
``forward(...).logits``), so the scorer, the ONNX export (one graph holding every member) and
``transformers.pipeline`` run it unchanged.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from transformers.modeling_outputs import SequenceClassifierOutput


class LogitEnsemble(torch.nn.Module):
    """Mean of the members' logits."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        n = members[0].config.num_labels
        if any(m.config.num_labels != n for m in members):
            raise ValueError("ensemble members must have the same number of classes")
        self.members = torch.nn.ModuleList(members)
        self.config = copy.deepcopy(members[0].config)
        self.config.architectures = [type(self).__name__]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **kwargs):
        logits = torch.stack([
            m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
            for m in self.members
        ]).mean(0)
        return SequenceClassifierOutput(logits=logits)


def save_member(src, dst, *, half: bool = True) -> str:
    """Copy the fine-tuned folder ``src`` to ``dst`` as an ensemble member; returns its weights sha256.

    With ``half`` the floating-point tensors are stored as float16: half the bytes, and the loaded
    model (cast back to float32) scores within 1e-3 of the original (tests/test_models_ensemble.py).
    """
    import json
    import shutil
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from models.finetuned import META_FILE, weights_sha256

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.suffix == ".safetensors" and half:
            tensors = load_file(str(f))
            save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(dst / f.name),
                      metadata={"format": "pt"})
        elif f.is_file() and f.name not in ("README.md", "MODEL_CARD.md"):  # the ensemble has one card
            shutil.copy2(f, dst / f.name)
    digest = weights_sha256(dst)
    meta = json.loads((dst / META_FILE).read_text(encoding="utf-8"))
    meta["weights_sha256"] = digest
    meta["stored_as"] = "float16" if half else "float32"
    (dst / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return digest
