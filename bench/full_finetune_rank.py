"""Could a full fine-tune ship in the default's size? Store each encoder update at rank r and see.

A run of ``scripts/train_default.py --lora-r 0`` changes all 22.7M weights of the MiniLM; the
repository may carry under 10 MB. This rebuilds the run's classifier with every encoder linear
layer's update (fine-tuned minus base) cut to its best rank-r approximation (truncated SVD, as
``models.finetuned.reduce_lora_rank`` does for LoRA), the embeddings put back to the base (their
update is 11.7M weights), and biases, LayerNorms, pooler and head kept, and measures it (torch,
fp32, the run's own temperature) on the run's validation split, sent_valid.csv and the held-out
wsb_labels.csv test split, against the uncompressed run.

    python bench/full_finetune_rank.py /tmp/runs/F_cls5 --ranks 32,64
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def validation_of(td, meta: dict, shared: Path) -> pd.DataFrame:
    """The run's validation split, rebuilt from the data files its metadata lists."""
    from models.data import read_labeled

    seed = int(meta["training"].get("split_seed", 13))
    parts = []
    for d in meta["training"]["data"]:
        name = Path(d["file"]).name
        if name == "sent_train.csv":
            df = read_labeled(shared / "data" / "twitter_fin_news" / name)
        elif name == td.WSB_LABELS.name:
            df = td.wsb_split(td.read_wsb_labelled(shared), "train")
        elif d["file"].startswith("models/crowd_data/"):
            df = read_labeled(td.CROWD_DIR / name)
        else:
            raise SystemExit(f"bench: cannot rebuild the validation part of {d['file']}")
        parts.append(td.validation_split(df, seed)[1])
    return pd.concat(parts, ignore_index=True)


def low_rank(model, base_state: dict, rank: int | None):
    """A copy of ``model`` with each encoder linear update at ``rank`` (None: exact) and base embeddings."""
    from models.finetuned import low_rank_factors

    out = copy.deepcopy(model)
    state = out.state_dict()
    kept = total = 0.0
    for key, w in state.items():
        if "encoder.layer" in key and key.endswith(".weight") and w.dim() == 2:
            delta = (w - base_state[key]).float()
            b, a, k, t = low_rank_factors(delta, min(delta.shape) if rank is None else rank)
            kept, total = kept + k, total + t
            state[key] = base_state[key] + b @ a
        elif "embeddings" in key and "LayerNorm" not in key:
            state[key] = base_state[key]
    out.load_state_dict(state)
    return out.eval(), (kept / total if total else 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a folder written by scripts/train_default.py --lora-r 0")
    ap.add_argument("--ranks", default="32,64", help="ranks to try, comma-separated")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    import train_default as td
    from models.data import read_labeled
    from models.finetuned import base_model_path, load_finetuned
    from models.heads import classifier_class

    import transformers

    transformers.logging.set_verbosity_error()  # the base loads without the run's head: a known, expected report
    torch.set_num_threads(args.threads)
    shared = Path(args.shared)
    model, tok, meta = load_finetuned(args.run)
    if meta["training"]["hyper_parameters"].get("lora_r"):
        raise SystemExit(f"bench: {args.run} is a LoRA run (lora_r > 0); this bench is for full fine-tunes")
    base = classifier_class(meta.get("pooling", "cls")).from_pretrained(base_model_path(meta.get("base", "minilm")),
                                                                       num_labels=3)
    sets = {"validation": validation_of(td, meta, shared),
            "sent_valid": read_labeled(shared / "data" / "twitter_fin_news" / "sent_valid.csv"),
            "wsb_test": td.wsb_split(td.read_wsb_labelled(shared), "test")}
    print(f"run {args.run} (seed {meta['training']['hyper_parameters'].get('seed')}, best epoch "
          f"{meta['training']['hyper_parameters'].get('best_epoch')}); accuracy / macro-F1, torch fp32")
    print(f"{'weights':44s} {'energy kept':>11s} " + " ".join(f"{k:>17s}" for k in sets) + "  seconds")
    variants = [("full fine-tune", model, None)]
    for rank in [None, *(int(r) for r in args.ranks.split(","))]:
        m, share = low_rank(model, base.state_dict(), rank)
        variants.append((f"base embeddings, encoder updates {'exact' if rank is None else f'rank {rank}'}", m, share))
    for name, m, share in variants:
        t0 = time.perf_counter()
        cells = []
        for df in sets.values():
            got = td.evaluate(m, tok, meta, df)
            cells.append(f"{got['accuracy']:.4f} / {got['macro_f1']:.4f}")
        print(f"{name:44s} {'' if share is None else f'{share:.3f}':>11s} " + " ".join(f"{c:>17s}" for c in cells)
              + f"  {time.perf_counter() - t0:.0f}")
    print("rerun: python bench/full_finetune_rank.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
