"""Scale-out: the local engine against the Ray engine at 1 and 2 actors, and the driver's memory on a big dump.

1. A database of real r/wallstreetbets comments in whole threads (../shared/data/reddit, the janash
   sample) is scored three times with the shipped default model: the local engine, Ray with one
   actor (2 CPUs, as the local engine has) and Ray with two actors (1 CPU each), on a local Ray
   cluster of this machine's cores that is started once, before the runs (as a real cluster is
   already up). For each: posts/s over the whole run, the seconds until the first shard was
   committed (actor start, model load, the first shard), and the steady rate after it. Ray's
   per-post overhead is (Ray's seconds at 1 actor - the local engine's) / posts: the same posts
   on the same 2 CPUs, every cost of the run included; the tables are checked equal to the local
   engine's.
2. A comment dump larger than this machine's memory (decompressed) is written to /tmp from the
   same real comments repeated under new ids, most in other subreddits; then
   ``crowdpulse import reddit-dump DUMP --subreddit wallstreetbets --score --engine ray`` runs in a
   child process whose resident memory (the driver alone, not Ray's workers) is sampled every 50 ms.

Rerun:  nice -n 10 python bench/scale.py                          # 1,500 comments; a dump 1.05 x RAM
        nice -n 10 python bench/scale.py --posts 600 --dump-gib 2  # quicker, a smaller dump
The dump is deleted afterwards unless --keep-dump.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
SHARED = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared"))
COMMENTS = SHARED / "data" / "reddit" / "janash_wallstreetbets_comments_sample.csv"


def engine_runs(n_posts: int, batch: int, folder: Path) -> list[dict]:
    import ray

    from crowdpulse.config import ScoreSettings
    from crowdpulse.ray_engine import score_store_ray
    from crowdpulse.scoring import score_store
    from crowdpulse.store import Store
    from models import load_model
    from reddit_threads import build_thread_db, scored_tables

    base = folder / "base.duckdb"
    info = build_thread_db(base, n_posts, source=COMMENTS)
    print(f"database: {info['comments']:,} real comments in {info['threads']} threads "
          f"({info['roots']} project-written roots, scored beforehand)")
    runs, reference = [], None
    started = time.perf_counter()
    model = load_model("default")
    print(f"local model load: {time.perf_counter() - started:.1f} s ({model.model_id})")
    for name, actors in (("local", None), ("ray, 1 actor x 2 CPUs", 1), ("ray, 2 actors x 1 CPU", 2)):
        db = folder / f"{actors or 'local'}.duckdb"
        shutil.copy(base, db)
        commits: list[tuple[float, int]] = []
        with Store.open(db) as store:
            posts = len(store.unscored_posts(model.model_id))
            t0 = time.perf_counter()
            if actors is None:
                score_store(store, model, batch_size=batch, progress=False)
            else:
                if not ray.is_initialized():
                    t = time.perf_counter()
                    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                             object_store_memory=256 * 2**20, log_to_driver=False)
                    print(f"ray cluster start: {time.perf_counter() - t:.1f} s (once, not in any run below)")
                    t0 = time.perf_counter()
                score_store_ray(store, "default", ScoreSettings("ray", actors=actors, batch_size=batch), progress=False,
                                on_commit=lambda d: commits.append((time.perf_counter(), int(d["posts"]), d["seconds"])))
            wall = time.perf_counter() - t0
            tables = scored_tables(store)
        run = {"name": name, "posts": posts, "seconds": wall, "posts_per_s": posts / wall}
        if commits:
            first, rest = commits[0], commits[1:]
            run["first_commit_s"] = first[0] - t0
            run["steady_posts_per_s"] = sum(c[1] for c in rest) / (commits[-1][0] - first[0]) if rest else None
            run["actor_seconds_per_post"] = sum(c[2] for c in commits) / posts
        if reference is None:
            reference = tables
        else:
            run["equal_to_local"] = all(
                len(tables[t]) == len(reference[t]) and all(
                    ((tables[t][c] - reference[t][c]).abs().max() < 1e-4) if reference[t][c].dtype.kind == "f"
                    else tables[t][c].equals(reference[t][c]) for c in reference[t].columns) for t in reference)
        runs.append(run)
        print(f"  {name}: {posts:,} posts in {wall:.1f} s")
    ray.shutdown()
    return runs


def write_dump(path: Path, target_bytes: int, wsb_every: int) -> dict:
    """Real comments repeated under new ids until the decompressed dump passes ``target_bytes``; one line in
    ``wsb_every`` is in r/wallstreetbets, the rest in 40 other subreddits."""
    import pandas as pd
    import zstandard

    raw = pd.read_csv(COMMENTS, dtype=str, keep_default_na=False)
    raw = raw[raw["comment"].str.strip() != ""]
    pieces = []
    for row in raw.itertuples():  # one JSON line per real comment, split where the id and subreddit go
        obj = {"all_awardings": [], "archived": False, "author": "user", "author_flair_text": None,
               "body": row.comment, "controversiality": 0, "created_utc": 1_612_137_600, "distinguished": None,
               "edited": False, "gilded": 0, "id": "@ID@", "is_submitter": False, "link_id": f"t3_{row.post_id}",
               "parent_id": f"t3_{row.post_id}", "permalink": "/r/@SUB@/comments/" + row.post_id + "/_/@ID@/",
               "retrieved_on": 1_612_137_660, "score": int(float(row.score_last or 0)), "stickied": False,
               "subreddit": "@SUB@", "subreddit_type": "public", "total_awards_received": 0}
        pieces.append(json.dumps(obj, ensure_ascii=False).encode().split(b"@"))
    subs = [b"sub%02d" % i for i in range(40)]
    # the archives' 2 GiB window; one thread (zstd's threaded jobs are 4 windows long: 8 GiB in memory)
    params = zstandard.ZstdCompressionParameters.from_level(1, window_log=31, write_content_size=False)
    written = lines = kept = 0
    t0 = time.perf_counter()
    with open(path, "wb") as fh, zstandard.ZstdCompressor(compression_params=params).stream_writer(fh) as out:
        while written < target_bytes:
            buf = []
            for parts in pieces:
                sub = b"wallstreetbets" if lines % wsb_every == 0 else subs[lines % 40]
                ident = b"z%x" % lines
                buf.append(b"".join(ident if p == b"ID" else sub if p == b"SUB" else p for p in parts) + b"\n")
                kept += sub == b"wallstreetbets"
                lines += 1
            chunk = b"".join(buf)
            out.write(chunk)
            written += len(chunk)
    return {"lines": lines, "bytes": written, "compressed": path.stat().st_size, "wsb": kept,
            "seconds": time.perf_counter() - t0}


def driver_memory(dump: Path, folder: Path) -> dict:
    """Run the import-and-score CLI on ``dump`` in a child process; sample its resident memory."""
    db = folder / "dump.duckdb"
    cmd = [sys.executable, "-m", "crowdpulse.cli", "import", "reddit-dump", str(dump), "--db", str(db),
           "--subreddit", "wallstreetbets", "--score", "--engine", "ray", "--actors", "2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc, peak, samples = psutil.Process(child.pid), 0, []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                return
            peak = max(peak, rss)
            samples.append((time.perf_counter() - t0, rss))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output = child.communicate()[0].decode(errors="replace")
    stop.set()
    thread.join()
    if child.returncode != 0:
        raise SystemExit(f"the import failed ({child.returncode}):\n{output[-3000:]}")
    from crowdpulse.store import Store

    with Store.open(db, read_only=True) as store:
        counts = store.counts()
    return {"seconds": time.perf_counter() - t0, "peak_rss": peak, "posts": counts["posts"],
            "scores": counts["scores"], "command": " ".join(cmd[1:]), "output": output.strip().splitlines()[-1:],
            "rss_at": [(round(t), r) for t, r in samples[:: max(1, len(samples) // 12)]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=1500, help="real comments in the engine comparison")
    ap.add_argument("--batch-size", type=int, default=150, help="posts per batch / shard")
    ap.add_argument("--dump-gib", type=float, default=None,
                    help="decompressed size of the dump (default: 1.05 x this machine's memory)")
    ap.add_argument("--wsb-every", type=int, default=10_000, help="one line in this many is kept (r/wallstreetbets)")
    ap.add_argument("--skip-engines", action="store_true", help="only the dump")
    ap.add_argument("--skip-dump", action="store_true", help="only the engines")
    ap.add_argument("--keep-dump", type=Path, help="write the dump here and keep it")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not COMMENTS.exists():
        raise SystemExit(f"needs the real comments at {COMMENTS} (../shared)")
    memory = psutil.virtual_memory().total
    print(f"machine: {os.cpu_count()} cores, {memory / 2**30:.1f} GiB memory; "
          f"load average {os.getloadavg()[0]:.1f} (other work shares these cores)")
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="crowdpulse-scale-") as tmp:
        folder = Path(tmp)
        if not args.skip_engines:
            runs = out["engines"] = engine_runs(args.posts, args.batch_size, folder)
            local, ray1, ray2 = runs
            print(f"\n{'run':<26}{'posts':>7}{'seconds':>9}{'posts/s':>9}{'1st commit s':>14}{'steady p/s':>12}"
                  f"{'actor s/post':>14}{'= local':>9}")
            for r in runs:
                steady = r.get("steady_posts_per_s")
                print(f"{r['name']:<26}{r['posts']:>7,}{r['seconds']:>9.1f}{r['posts_per_s']:>9.1f}"
                      f"{r.get('first_commit_s', float('nan')):>14.1f}{steady if steady else float('nan'):>12.1f}"
                      f"{r.get('actor_seconds_per_post', float('nan')):>14.4f}{str(r.get('equal_to_local', '-')):>9}")
            over = (ray1["seconds"] - local["seconds"]) / ray1["posts"]  # same posts, same 2 CPUs, all costs in
            out["ratios"] = {"ray2_over_ray1": ray2["posts_per_s"] / ray1["posts_per_s"],
                             "ray2_over_ray1_steady": ray2["steady_posts_per_s"] / ray1["steady_posts_per_s"],
                             "ray1_over_local": ray1["posts_per_s"] / local["posts_per_s"],
                             "overhead_ms_per_post": over * 1000, "fixed_s": ray1["first_commit_s"]}
            print(f"ratio 2 actors / 1 actor: {out['ratios']['ray2_over_ray1']:.2f} over the run, "
                  f"{out['ratios']['ray2_over_ray1_steady']:.2f} steady; Ray 1 actor / local: "
                  f"{out['ratios']['ray1_over_local']:.2f}")
            print(f"Ray's overhead: {over * 1000:+.1f} ms per post (1 actor against local, same 2 CPUs, every cost of the "
                  f"run included: {ray1['first_commit_s']:.1f} s to the first commit for actor start, model load and "
                  f"the first shard); steady after that {ray1['steady_posts_per_s']:.1f} posts/s")
        if not args.skip_dump:
            target = int((args.dump_gib * 2**30) if args.dump_gib else 1.05 * memory)
            dump = args.keep_dump or folder / "RC_bench.zst"
            made = out["dump"] = write_dump(dump, target, args.wsb_every)
            print(f"\ndump: {made['lines']:,} lines, {made['bytes'] / 2**30:.1f} GiB decompressed "
                  f"({made['bytes'] / memory:.2f} x memory), {made['compressed'] / 2**20:,.0f} MiB compressed, "
                  f"{made['wsb']:,} in r/wallstreetbets; written in {made['seconds']:.0f} s")
            mem = out["memory"] = driver_memory(dump, folder)
            print(f"import --score --engine ray: {mem['seconds']:.0f} s, {mem['posts']:,} posts stored, "
                  f"{mem['scores']:,} scored; driver peak RSS {mem['peak_rss'] / 2**20:,.0f} MiB "
                  f"({mem['peak_rss'] / made['bytes'] * 100:.1f}% of the decompressed dump)")
            print("driver RSS over the run (s, MiB): " + ", ".join(f"{t}: {r / 2**20:,.0f}" for t, r in mem["rss_at"]))
            print(f"  crowdpulse {mem['command'].split(' ', 2)[2]}")
            if not args.keep_dump:
                dump.unlink()
    print("\nrerun: nice -n 10 python bench/scale.py" + (f" --posts {args.posts}" if args.posts != 1500 else "")
          + (f" --dump-gib {args.dump_gib:g}" if args.dump_gib else ""))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
