"""One window per ONNX call: intra-op threads against concurrent calls.

The int8 ONNX path runs each window alone (``models.onnx.run_rows``: dynamic quantization would
otherwise let a batch change its members' scores). This times the shipped default's cached int8
export on N real r/stocks comments three ways: one call at a time on a session with one and
with all cores as intra-op threads, and calls on all cores at once on a single-threaded session
(what ``models.onnx.RowRunner`` does), and checks the outputs are identical.

    python bench/onnx_row_threads.py --n 600 --runs 3
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=600, help="comments (default 600)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from models import load_model
    from models.onnx import feed, session
    from models.transformer import default_threads

    model = load_model("default", backend="onnx")
    path = model.model.path  # the cached int8 export
    tok = model.tokenizer
    df = pd.read_csv(SHARED / "data" / "reddit" / "janash_stocks_comments_sample.csv", usecols=["comment"]).dropna()
    texts = df["comment"].sample(args.n, random_state=0).tolist()
    rows = []
    for t in texts:
        enc = tok(t, truncation=True, max_length=128, return_tensors="np")
        rows.append((enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)))
    cores = default_threads()
    single, multi = session(path, 1), session(path, cores)

    def run(sess, r):
        return sess.run(["logits"], feed(sess, r[0], r[1]))[0][0]

    for sess in (single, multi):
        [run(sess, r) for r in rows[:20]]  # warm-up
    print(f"{path} ({model.model_id}), {len(rows)} comments, {cores} cores; windows per second:")
    print(f"{'run':>4} {'1 thread':>10} {f'{cores} intra-op threads':>20} {f'{cores} calls at once':>18}")
    ref = None
    for k in range(1, args.runs + 1):
        figures = []
        outs = []
        for how in ("single", "multi", "pool"):
            t0 = time.perf_counter()
            if how == "pool":
                with ThreadPoolExecutor(cores) as ex:
                    got = list(ex.map(lambda r: run(single, r), rows))
            else:
                got = [run(single if how == "single" else multi, r) for r in rows]
            figures.append(len(rows) / (time.perf_counter() - t0))
            outs.append(np.stack(got))
        ref = outs[0] if ref is None else ref
        same = all(np.array_equal(ref, o) for o in outs)
        print(f"{k:>4} {figures[0]:>10.1f} {figures[1]:>20.1f} {figures[2]:>18.1f}   outputs identical: {same}")
    print("rerun: python bench/onnx_row_threads.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
