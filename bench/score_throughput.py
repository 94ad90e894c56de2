"""Throughput of crowdpulse's scorer against ``transformers.pipeline("text-classification")``.

Scores the same real Reddit comments with the same model (the shipped default unless --model)
through the Hugging Face pipeline as users call it (default batch settings, plus batch_size=64)
and through crowdpulse's own scorer (torch and ONNX int8 backends). Prints posts/second of each,
the speed-up, label agreement with the pipeline, accuracy of each on a labeled sample, and peak
resident memory during each run.

Rerun:
    nice -n 10 python bench/score_throughput.py --n 2000 --n-labeled 500
    python bench/score_throughput.py --model tfidf   # any spec crowdpulse accepts (transformers only)
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared"))
COMMENTS = SHARED / "data" / "reddit" / "janash_wallstreetbets_comments_sample.csv"
LABELED = SHARED / "data" / "twitter_fin_news" / "sent_valid.csv"


@dataclass
class Run:
    name: str
    seconds: float
    posts_per_s: float
    peak_rss_mb: float
    agreement_with_pipeline: float | None = None
    labeled_accuracy: float | None = None


class PeakRss:
    """Samples this process's resident memory every 20 ms; ``peak`` is the max seen."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakRss":
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def load_comments(n: int, seed: int) -> list[str]:
    df = pd.read_csv(COMMENTS, usecols=["comment"], dtype=str, keep_default_na=False)
    df = df[df["comment"].str.strip() != ""]
    return df.sample(n=min(n, len(df)), random_state=seed)["comment"].tolist()


def pipeline_labels(pipe, texts, labels_of_model, **kw) -> np.ndarray:
    """Run the HF pipeline; return the argmax in crowdpulse LABELS names."""
    out = pipe(texts, **kw)
    name_to_idx = {v: int(k) for k, v in pipe.model.config.id2label.items()}
    return np.array([labels_of_model[name_to_idx[r[0]["label"] if isinstance(r, list) else r["label"]]] for r in out])


def timed(fn):
    gc.collect()
    with PeakRss() as mem:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    return result, seconds, mem.peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="model spec (a transformer: default, a folder, a hub name)")
    ap.add_argument("--n", type=int, default=2000, help="Reddit comments to score")
    ap.add_argument("--n-labeled", type=int, default=500, help="rows of sent_valid.csv for the accuracy check (0 = skip)")
    ap.add_argument("--batch-size", type=int, default=64, help="crowdpulse batch size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pipeline-default", action="store_true", help="skip the pipeline run with its defaults (batch_size=1); the headline then compares with batch_size=64 alone")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import pipeline

    from models import LABELS, load_model
    from models.data import read_labeled
    from models.transformer import default_threads

    transformers.logging.set_verbosity_error()
    threads = default_threads()
    torch.set_num_threads(threads)
    texts = load_comments(args.n, args.seed)
    labeled = read_labeled(LABELED).sample(n=args.n_labeled, random_state=args.seed) if args.n_labeled else None
    words = np.array([len(t.split()) for t in texts])
    print(f"{len(texts)} comments from {COMMENTS.name} (words per comment: median {np.median(words):.0f}, "
          f"max {words.max()}); {threads} torch/ORT threads; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, CPU: {os.cpu_count()} logical cores visible")

    torch_scorer = load_model(args.model, backend="torch", batch_size=args.batch_size)
    hf_model, tok, model_labels = torch_scorer.model, torch_scorer.tokenizer, torch_scorer.model_labels
    print(f"model {torch_scorer.model_id}: window {torch_scorer.max_length} tokens, T={torch_scorer.temperature:.3f}")
    import transformers

    verbosity = transformers.logging.get_verbosity()
    # The default's mean-pooling head is not in the pipeline's list of known classes: it logs an
    # error line, then runs through the pipeline like any sequence classifier.
    transformers.logging.set_verbosity(transformers.logging.CRITICAL)
    try:
        pipe = pipeline("text-classification", model=hf_model, tokenizer=tok, device=-1)
    finally:
        transformers.logging.set_verbosity(verbosity)
    pipe_kw = {"truncation": True, "max_length": tok.model_max_length if tok.model_max_length < 10**6 else 512}
    pipe(texts[:8], **pipe_kw)  # warm-up

    runs: list[Run] = []
    ref = None
    variants = [] if args.skip_pipeline_default else [("pipeline (defaults, batch_size=1)", {})]
    variants.append(("pipeline (batch_size=64)", {"batch_size": 64}))
    for name, kw in variants:
        pred, secs, peak = timed(lambda: pipeline_labels(pipe, texts, model_labels, **pipe_kw, **kw))
        acc = None
        if labeled is not None:
            lp = pipeline_labels(pipe, labeled["text"].tolist(), model_labels, **pipe_kw, **kw)
            acc = float((lp == labeled["label"].to_numpy()).mean())
        ref = pred if ref is None else ref
        runs.append(Run(name, secs, len(texts) / secs, peak, float((pred == ref).mean()), acc))
        print(f"  {name}: {secs:.1f} s")

    scorers = [("crowdpulse torch", torch_scorer)]
    onnx = load_model(args.model, backend="onnx", batch_size=args.batch_size)
    scorers.append(("crowdpulse onnx-int8", onnx))
    for name, scorer in scorers:
        scorer.predict_proba(texts[:8])  # warm-up
        probs, secs, peak = timed(lambda: scorer.predict_proba(texts))
        pred = np.array(LABELS)[probs.argmax(1)]
        acc = None
        if labeled is not None:
            acc = float((np.array(scorer.predict(labeled["text"].tolist())) == labeled["label"].to_numpy()).mean())
        runs.append(Run(name, secs, len(texts) / secs, peak, float((pred == ref).mean()), acc))
        print(f"  {name}: {secs:.1f} s")

    base = runs[0]  # the pipeline with its defaults, or at batch_size=64 with --skip-pipeline-default
    print(f"\n{'run':<36}{'posts/s':>9}  {'x vs ' + base.name:>38}{'agree':>8}{'acc':>8}{'peak RSS MB':>13}")
    for r in runs:
        acc = f"{r.labeled_accuracy:.4f}" if r.labeled_accuracy is not None else "-"
        print(f"{r.name:<36}{r.posts_per_s:>9.1f}  {r.posts_per_s / base.posts_per_s:>38.2f}"
              f"{r.agreement_with_pipeline:>8.4f}{acc:>8}{r.peak_rss_mb:>13.0f}")
    pb64 = next(r for r in runs if r.name == "pipeline (batch_size=64)")
    for r in runs[-2:]:
        vs_default = "" if args.skip_pipeline_default else f"{r.posts_per_s / base.posts_per_s:.2f}x the pipeline with defaults, "
        print(f"{r.name}: {vs_default}{r.posts_per_s / pb64.posts_per_s:.2f}x the pipeline at batch_size=64; "
              f"accuracy on {args.n_labeled} sent_valid rows {r.labeled_accuracy if r.labeled_accuracy is None else f'{r.labeled_accuracy:.4f}'}"
              f" vs pipeline {pb64.labeled_accuracy if pb64.labeled_accuracy is None else f'{pb64.labeled_accuracy:.4f}'}")
    fastest = max((r for r in runs if r.name.startswith("pipeline")), key=lambda r: r.posts_per_s)
    for r in runs[-2:]:
        print(f"headline: {r.name} is {r.posts_per_s / fastest.posts_per_s:.2f}x the faster pipeline run ({fastest.name})")
    print("peak RSS is the process's resident memory during each run (the model stays loaded throughout).")
    print("rerun: nice -n 10 python bench/score_throughput.py " + f"--model {args.model} --n {args.n} --n-labeled {args.n_labeled}"
          + (" --skip-pipeline-default" if args.skip_pipeline_default else ""))
    if args.json:
        args.json.write_text(json.dumps({"model_id": torch_scorer.model_id, "n": len(texts), "threads": threads,
                                         "runs": [asdict(r) for r in runs]}, indent=2))


if __name__ == "__main__":
    main()
