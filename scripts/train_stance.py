#!/usr/bin/env python
"""Train a target-aware stance model and attach it to a model folder (the shipped default has none:
measured on the reddit pairs it did not beat the clause mean; docs/models.md).

    python scripts/train_stance.py --out models/default/stance     # attaches it to the default; ~30-40 min on 2 threads
    python scripts/train_stance.py --out /tmp/stance               # an experiment, attached to nothing

The model reads a post with the ticker to judge marked (``<<IWM>>``, :func:`sentiment.text.mark_target`)
and answers bullish / bearish / neutral toward that ticker. Its examples come from the project's own
crowd sets, models/crowd_data/crowd_train*.csv (MIT), where each row carries one stance for all the
tickers it names (:mod:`sentiment.stance_data`): every row once per ticker, plus composite posts of
2-3 rows with different tickers (mostly different stances), each asked about one of their tickers.
The project's stance sets, models/crowd_data/stance_train*.csv (MIT: whole multi-ticker posts written for
crowdpulse, one stance per ticker), add each post once per ticker (--pair-oversample times).

Rows are split 90/10 per file with the same stratified split as scripts/train_default.py
(--split-seed), so the default's validation rows are this model's validation rows too; 10 % of the
stance-set posts join the validation split. Held out for evaluation: models/crowd_data/crowd_test*.csv
turned into examples the same way, models/crowd_data/stance_test*.csv, and the hand-labelled Reddit pairs
of eval/sentiment (python eval/sentiment/evaluate.py).

When --out sits inside a crowdpulse model folder (models/default/stance), the parent's
crowdpulse_model.json names it as its "stance_model" and its weights hash is recomputed, so the
parent's model_id changes with the stance model. The weights are stored as float16.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from models.data import read_labeled  # noqa: E402
from models.finetuned import META_FILE, load_finetuned, reduce_lora_rank, sha256_file, weights_sha256  # noqa: E402
from models.train import train  # noqa: E402
from sentiment.stance_data import linked_rows, pair_examples, read_stance_posts, stance_examples  # noqa: E402
from train_default import evaluate, validation_split, write_card  # noqa: E402

log = logging.getLogger("train_stance")
CROWD_DIR = REPO / "models" / "crowd_data"
NAME = "crowdpulse-minilm-target-stance-v1"


def split_files(files: list[Path], split_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``files`` split per file exactly as scripts/train_default.py splits them."""
    parts = [validation_split(read_labeled(p), split_seed) for p in files]
    return pd.concat([a for a, _ in parts], ignore_index=True), pd.concat([b for _, b in parts], ignore_index=True)


def split_posts(files: list[Path], split_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The posts of the stance sets ``files``, 90/10 at random (``split_seed``), as (train, validation)."""
    from sklearn.model_selection import train_test_split

    if not files:
        empty = pd.DataFrame({"text": [], "stances": []})
        return empty, empty
    posts = pd.concat([read_stance_posts(p) for p in files], ignore_index=True)
    return tuple(train_test_split(posts, test_size=0.1, random_state=split_seed))


def attach(parent: Path, child: Path) -> None:
    """Name ``child`` as ``parent``'s stance model and refresh the parent's weights hash."""
    meta_p = parent / META_FILE
    meta = json.loads(meta_p.read_text(encoding="utf-8"))
    meta["stance_model"] = child.relative_to(parent).as_posix()
    meta["weights_sha256"] = weights_sha256(parent)
    meta_p.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if "evaluation" in meta.get("training", {}):  # a card written by train_default: add the stance model to it
        write_card(parent, meta)
    log.info("attached %s to %s (weights sha256 now %s)", child, parent, meta["weights_sha256"][:12])


def card(meta: dict, evals: dict[str, dict], files: list[Path], pair_files: list[Path], cmd: str) -> str:
    tr = meta["training"]
    hp = tr["hyper_parameters"]
    lines = [
        "# crowdpulse target-aware stance model", "",
        f"`{NAME}`: bullish / bearish / neutral toward **one marked ticker** of a post (`<<IWM>>`), LoRA adapters "
        "(peft) and a mean-pooling head over the packaged all-MiniLM-L6-v2 (Apache-2.0), stored as float16. "
        "`sentiment.analyze.analyze_posts` asks it about every ticker a post names; the post's own label "
        "still comes from the parent model. Built by `scripts/train_stance.py`.", "",
        "## Rebuild", "", "```", cmd, "```", "",
        f"Trained on {tr['hardware']}; {tr['seconds'] / 60:.1f} min.", "",
        "## Training data", "",
        "Examples built by `sentiment.stance_data.stance_examples` from these files (each row: one stance for all "
        "its tickers): every row once per ticker it names, plus composite posts of 2-3 rows with disjoint tickers."
        + (" The stance sets (whole multi-ticker posts, one stance per ticker) add every post once per ticker, "
           f"x{meta['training'].get('pair_oversample', 1)}." if pair_files else ""), "",
        "| file | licence | sha256 |", "|---|---|---|",
        *[f"| `models/crowd_data/{p.name}` | MIT (written for this project) | `{sha256_file(p)}` |"
          for p in [*files, *pair_files]],
        "", f"Training examples: {tr['rows']} ({tr['label_counts']}); validation examples: {tr['eval_rows']}.", "",
        "## Hyper-parameters", "", "| name | value |", "|---|---|",
        *[f"| {k} | `{str(v).replace('|', chr(92) + '|')}` |" for k, v in hp.items()],
        f"| stored at rank | `{tr['stored_rank']['rank']}` (truncated SVD of each adapter update, "
        f"{100 * tr['stored_rank']['norm_kept']:.1f} % of its squared norm kept; measured after) |",
        "", "## Evaluation (measured by this script)", "",
        "| set | rows | accuracy | macro-F1 |", "|---|---|---|---|",
        *[f"| {k} | {v['rows']} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} |" for k, v in evals.items()],
        "", "The held-out files (`crowd_test*.csv`, `stance_test*.csv`) were never trained on. On real Reddit "
        "comments the stance "
        "figures come from `python eval/sentiment/evaluate.py` (docs/sentiment.md).", "",
        "## Limits", "",
        ("- Taught by joined sentences and by multi-ticker posts written for the project, not by real ones: a "
         "ticker named in passing inside someone else's opinion (a benchmark, an index it joins) can take that "
         "opinion's stance." if pair_files else
         "- Taught by joined sentences, not by real multi-ticker posts: a ticker named in passing inside someone "
         "else's opinion (a benchmark, an index it joins) can take that opinion's stance."),
        "- English only; max_length 128 tokens at inference (longer posts are cut to the sentences around the ticker).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder to write (models/default/stance attaches it to the default)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--store-rank", type=int, default=12,
                    help="store the adapters at this lower rank (truncated SVD of each update; keeps the folder small)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--composites", type=int, default=5000, help="composite posts built from the training rows")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--split-seed", type=int, default=13, help="as scripts/train_default.py --split-seed")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--crowd-files", nargs="+", metavar="NAME",
                    help="crowd training files in models/crowd_data (default: every crowd_train*.csv there)")
    ap.add_argument("--pair-files", nargs="*", metavar="NAME",
                    help="stance sets in models/crowd_data (default: every stance_train*.csv there; the flag alone: none)")
    ap.add_argument("--pair-oversample", type=int, default=2, help="times each stance-set example is repeated")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    files = ([CROWD_DIR / Path(n).name for n in args.crowd_files] if args.crowd_files
             else sorted(CROWD_DIR.glob("crowd_train*.csv")))
    bad = [p.name for p in files if not p.is_file() or p.name.startswith("crowd_test")]
    if bad:
        ap.error(f"--crowd-files: not training files in {CROWD_DIR}: {', '.join(bad)}")
    pair_files = ([CROWD_DIR / Path(n).name for n in args.pair_files] if args.pair_files is not None
                  else sorted(CROWD_DIR.glob("stance_train*.csv")))
    bad = [p.name for p in pair_files if not p.is_file() or not p.name.startswith("stance_train")]
    if bad:
        ap.error(f"--pair-files: not stance training files in {CROWD_DIR}: {', '.join(bad)}")
    if args.pair_oversample < 1:
        ap.error("--pair-oversample must be at least 1")
    tests = sorted(CROWD_DIR.glob("crowd_test*.csv"))
    rows_tr, rows_va = split_files(files, args.split_seed)
    posts_tr, posts_va = split_posts(pair_files, args.split_seed)
    pairs_tr = pair_examples(posts_tr)
    train_df = pd.concat([stance_examples(linked_rows(rows_tr), composites=args.composites, seed=args.seed),
                          *[pairs_tr] * args.pair_oversample], ignore_index=True)
    val_df = pd.concat([stance_examples(linked_rows(rows_va), composites=args.composites // 10, seed=args.seed + 1),
                        pair_examples(posts_va)], ignore_index=True)
    test_rows = linked_rows(pd.concat([read_labeled(p) for p in tests], ignore_index=True))
    test_df = stance_examples(test_rows, composites=1000, seed=args.seed + 2)
    pair_tests = sorted(CROWD_DIR.glob("stance_test*.csv"))
    test_pairs = (pair_examples(pd.concat([read_stance_posts(p) for p in pair_tests], ignore_index=True))
                  if pair_tests else None)
    log.info("examples: train %d (%d from stance sets, x%d), validation %d, held-out test %d + %d stance-set pairs",
             len(train_df), len(pairs_tr), args.pair_oversample, len(val_df), len(test_df),
             0 if test_pairs is None else len(test_pairs))

    out = Path(args.out)
    cmd = ("python scripts/train_stance.py " + " ".join(sys.argv[1:])
           + ("" if args.crowd_files else " --crowd-files " + " ".join(p.name for p in files))
           + ("" if args.pair_files is not None else " --pair-files " + " ".join(p.name for p in pair_files)))
    with tempfile.TemporaryDirectory() as tmp:
        train(train_df, val_df, tmp, epochs=args.epochs, lr=args.lr, lora_r=args.lora_r, max_length=args.max_length,
              seed=args.seed, patience=1, pooling="mean", threads=args.threads, progress=not args.no_progress, name=NAME,
              extra_meta={"command": cmd, "task": "target stance (ticker marked as <<TICKER>>)",
                          "hardware": f"{platform.machine()} CPU ({os.cpu_count()} cores, shared), "
                                      f"{args.threads or os.cpu_count()} torch thread(s)",
                          "split_seed": args.split_seed, "pair_oversample": args.pair_oversample,
                          "data": [{"file": f"models/crowd_data/{p.name}", "sha256": sha256_file(p)}
                                   for p in [*files, *pair_files]]})
        from models.ensemble import save_member

        kept = reduce_lora_rank(tmp, args.store_rank) if args.store_rank < args.lora_r else 1.0
        log.info("adapters stored at rank %d (%.2f %% of the updates' squared norm kept)",
                 min(args.store_rank, args.lora_r), 100 * kept)
        staged = Path(tmp) / "half"
        save_member(tmp, staged, half=True)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staged, out)
    (out / "README.md").unlink(missing_ok=True)
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    model, tok, loaded = load_finetuned(out)
    evals = {name: evaluate(model, tok, loaded, df) for name, df in (
        ("validation (10 % of the crowd_train rows and stance-set posts, held out)", val_df),
        ("crowd_test*.csv singles", test_df[test_df["kind"] == "single"]),
        ("crowd_test*.csv composites", test_df[test_df["kind"] == "composite"]),
        *([("stance_test*.csv pairs (multi-ticker posts)", test_pairs)] if test_pairs is not None else []))}
    meta["evaluation"] = evals
    meta["training"]["stored_rank"] = {"rank": min(args.store_rank, args.lora_r), "norm_kept": round(kept, 4)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card(meta, evals, files, pair_files, cmd), encoding="utf-8")
    for k, v in evals.items():
        print(f"{k:60s} rows {v['rows']:5d}  accuracy {v['accuracy']:.4f}  macro-F1 {v['macro_f1']:.4f}")
    if (out.parent / META_FILE).is_file():
        attach(out.parent, out)


if __name__ == "__main__":
    main()
