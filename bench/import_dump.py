"""Benchmark: stream a Pushshift-shaped Reddit comment dump into DuckDB.

Builds a synthetic dump of N lines (default 1,000,000) shaped like the RC_ archives
(the same fields, realistic lengths), compressed as they are (zstd, 2 GiB window, no
content size), then imports it with a filter that keeps about 1% of the lines and prints
lines per second, compressed/decompressed MB/s, the decompress-only speed for comparison,
and resident memory sampled every 20 ms during the import.

Rerun:  nice -n 10 python bench/import_dump.py                 # 1M lines, 1% kept
        nice -n 10 python bench/import_dump.py --lines 200000 --keep-dump /tmp/RC_bench.zst
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import psutil
import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crowdpulse.imports import import_reddit_dumps  # noqa: E402
from crowdpulse.store import Store  # noqa: E402
from scrapers.reddit_dump import MAX_WINDOW, READ_SIZE, DumpFilter, DumpStats, read_dump  # noqa: E402

SUBREDDITS = [f"sub{i}" for i in range(98)] + ["AskReddit", "pics"]
WORDS = ("the market is going up down calls puts earnings rates fed yolo moon hold sell buy tendies "
         "bonds stocks chart volume squeeze dip rally recession inflation cut hike guidance").split()
TOPICAL = ["IWM puts are printing", "long TLT into the cut", "the Russell 2000 lags",
           "treasury yields spiking"]


def comment(i: int, rng: random.Random) -> dict:
    """One comment with the fields (and roughly the size) of a 2021 RC_ dump line."""
    wsb = rng.random() < 0.02  # 2% from r/wallstreetbets, half of them on topic -> ~1% kept
    body = " ".join(rng.choices(WORDS, k=rng.randint(5, 60)))
    if wsb and rng.random() < 0.5:
        body = f"{rng.choice(TOPICAL)} {body}"
    sub = "wallstreetbets" if wsb else rng.choice(SUBREDDITS)
    link = f"t3_{rng.randrange(36**6):x}"
    return {
        "all_awardings": [], "archived": False, "associated_award": None, "author": f"user{rng.randrange(10**6)}",
        "author_flair_background_color": None, "author_flair_css_class": None, "author_flair_richtext": [],
        "author_flair_template_id": None, "author_flair_text": None, "author_flair_text_color": None,
        "author_flair_type": "text", "author_fullname": f"t2_{rng.randrange(36**8):x}",
        "author_patreon_flair": False, "author_premium": False, "body": body, "can_gild": True,
        "collapsed": False, "collapsed_because_crowd_control": None, "collapsed_reason": None,
        "controversiality": 0, "created_utc": 1_609_459_200 + i * 2, "distinguished": None, "edited": False,
        "gilded": 0, "gildings": {}, "id": f"g{i:07x}", "is_submitter": False, "link_id": link,
        "locked": False, "no_follow": True, "parent_id": link if rng.random() < 0.4 else f"t1_g{max(i - 7, 0):07x}",
        "permalink": f"/r/{sub}/comments/{link[3:]}/_/g{i:07x}/", "retrieved_on": 1_609_459_200 + i * 2 + 60,
        "score": rng.randint(-5, 500), "send_replies": True, "stickied": False, "subreddit": sub,
        "subreddit_id": f"t5_{rng.randrange(36**5):x}", "subreddit_name_prefixed": f"r/{sub}",
        "subreddit_type": "public", "top_awarded_type": None, "total_awards_received": 0,
        "treatment_tags": [],
    }


def build_dump(path: Path, lines: int, window_log: int = 31, seed: int = 0) -> tuple[int, float]:
    """Write the dump; returns (uncompressed bytes, seconds)."""
    rng = random.Random(seed)
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log, write_content_size=False,
                                                             threads=-1)
    t0 = time.perf_counter()
    raw = 0
    with open(path, "wb") as fh, zstandard.ZstdCompressor(compression_params=params).stream_writer(fh) as w:
        buf = []
        for i in range(lines):
            buf.append(json.dumps(comment(i, rng), separators=(",", ":")))
            if len(buf) == 10_000:
                data = ("\n".join(buf) + "\n").encode()
                raw += len(data)
                w.write(data)
                buf = []
        if buf:
            data = ("\n".join(buf) + "\n").encode()
            raw += len(data)
            w.write(data)
    return raw, time.perf_counter() - t0


def decompress_only(path: Path) -> tuple[int, int, float, float]:
    """Baseline: decompress and count lines, nothing else. Returns (bytes, lines, wall s, CPU s)."""
    t0, c0 = time.perf_counter(), time.process_time()
    dobj = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).decompressobj()
    size = lines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_SIZE):
            out = dobj.decompress(chunk)
            size += len(out)
            lines += out.count(b"\n")
    return size, lines, time.perf_counter() - t0, time.process_time() - c0


class RssSampler(threading.Thread):
    def __init__(self, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.proc, self.every, self.samples = psutil.Process(), every, []
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
            self.samples.append((self.proc.memory_info().rss, traced))
            time.sleep(self.every)

    def stop(self) -> list[tuple[float, int]]:
        self._stop_evt.set()
        self.join()
        return self.samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep-dump", type=Path, help="build (or reuse) the dump at this path instead of a temp dir")
    ap.add_argument("--subreddit", default="wallstreetbets")
    ap.add_argument("--match", default="IWM|TLT|russell|treasur")
    ap.add_argument("--window-log", type=int, default=31, help="zstd window of the built dump (archives: 31)")
    args = ap.parse_args()
    mib = 1024 * 1024

    with tempfile.TemporaryDirectory() as tmp:
        dump = args.keep_dump or Path(tmp) / "RC_2021-01.zst"
        if dump.exists():
            print(f"reusing {dump}")
        else:
            raw, secs = build_dump(dump, args.lines, args.window_log)
            print(f"built {dump}: {args.lines:,} lines, {raw / mib:,.1f} MiB raw, "
                  f"{dump.stat().st_size / mib:,.1f} MiB zstd (window_log={args.window_log}) in {secs:.1f} s")
        size, nlines, base, base_cpu = decompress_only(dump)
        print(f"decompress only:  {nlines:,} lines in {base:.2f} s wall ({base_cpu:.2f} s CPU) = "
              f"{nlines / base:,.0f} lines/s, {size / mib / base:,.0f} MiB/s decompressed")

        filt = DumpFilter(subreddits=frozenset({args.subreddit}), match=args.match)
        what = f"--subreddit {args.subreddit} --match {args.match!r}"

        t0, c0 = time.perf_counter(), time.process_time()
        kept = sum(1 for _ in read_dump(dump, filt))
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"read only ({what}, no database): {kept:,} kept in {secs:.2f} s wall ({cpu:.2f} s CPU) = "
              f"{nlines / secs:,.0f} lines/s, {nlines / cpu:,.0f} lines per CPU-second")

        store = Store.open(Path(tmp) / "bench.duckdb")
        rss0 = psutil.Process().memory_info().rss
        sampler = RssSampler()
        sampler.start()
        t0, c0 = time.perf_counter(), time.process_time()
        result = import_reddit_dumps(store, [dump], filt, progress=False)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        samples = sampler.stop()
        store.close()
        stats: DumpStats = result.files[0]
        print(f"import ({what}): {stats.lines:,} lines, {stats.parsed:,} parsed as JSON, "
              f"{stats.kept:,} kept ({stats.kept / stats.lines:.2%}), {result.inserted:,} stored "
              f"in {secs:.2f} s wall ({cpu:.2f} s CPU, all threads)")
        print(f"  = {stats.lines / secs:,.0f} lines/s, {dump.stat().st_size / mib / secs:,.1f} MiB/s compressed, "
              f"{size / mib / secs:,.0f} MiB/s decompressed; {base / secs:.0%} of decompress-only speed; "
              f"{stats.lines / cpu:,.0f} lines per CPU-second")
        at = [samples[min(len(samples) - 1, int(len(samples) * q))] for q in (0.1, 0.25, 0.5, 0.75, 0.99)]
        print(f"  RSS before {rss0 / mib:,.0f} MiB, peak {max(r for r, _ in samples) / mib:,.0f} MiB; "
              "at 10/25/50/75/99% of the run: " + " / ".join(f"{r / mib:,.0f}" for r, _ in at)
              + " MiB (includes the zstd window, up to 2^window_log bytes)")

        # Python heap of the reader alone (tracemalloc slows it, so this pass is not timed).
        tracemalloc.start()
        sampler = RssSampler()
        sampler.start()
        sum(1 for _ in read_dump(dump, filt))
        samples = sampler.stop()
        py_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        at = [samples[min(len(samples) - 1, int(len(samples) * q))] for q in (0.1, 0.25, 0.5, 0.75, 0.99)]
        print(f"  Python heap of the reader (tracemalloc): peak {py_peak / mib:,.1f} MiB; at 10/25/50/75/99%: "
              + " / ".join(f"{t / mib:,.1f}" for _, t in at) + " MiB")
        print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}, "
              f"zstandard {zstandard.__version__}")


if __name__ == "__main__":
    main()
