"""Parse throughput of crowdpulse's site parsers on real captured pages (no network).

Parses each page repeatedly (the bytes are already in memory, as when re-parsing the raw
cache) and prints records (posts + comments) parsed per second for:
- Reddit thread JSON (thread_3hahrw_funny_2016.json, 477 records),
- Hacker News item HTML (item_34219335 pages 1-3, 540 records, lxml),
- old.reddit HTML, StockTwits stream JSON,
- phpBB viewtopic HTML (the two captured boards: ubuntu-it t637551, 6 long posts in 88 KB, and
  videolan t154691, 2 posts in 22 KB; lxml),
- vBulletin showthread HTML (Something Awful 3507451: 40 posts in 133 KB, windows-1252 with no
  declared charset, so the encoding is guessed on every parse; lxml).

records/s is wall-clock time; cpu rec/s divides by this process's CPU time instead, which moves
less when other jobs share the CPUs (the load average printed first says how busy they were).

Rerun:
    nice -n 10 python bench/parse_throughput.py            # default: 3 s per parser
    python bench/parse_throughput.py --seconds 10
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared"))
FIX = SHARED / "fixtures"

from scrapers import hackernews, phpbb, reddit, stocktwits, vbulletin  # noqa: E402
from scrapers.records import Page  # noqa: E402

CASES = [
    ("reddit thread JSON", reddit.parse, ["reddit/thread_3hahrw_funny_2016.json"]),
    ("hackernews item HTML", hackernews.parse, [f"hackernews/item_34219335_whoishiring_2023-01_p{n}.html" for n in (1, 2, 3)]),
    ("old.reddit HTML", reddit.parse_oldreddit, ["reddit/oldreddit_thread_8dyrb3_aww_2018.html"]),
    ("stocktwits stream JSON", stocktwits.parse, ["stocktwits/streams_symbol_AAPL_2020-04-24.json"]),
    ("phpbb viewtopic HTML", phpbb.parse, ["forums/phpbb/viewtopic_ubuntu-it_t637551.html",
                                            "forums/phpbb/viewtopic_videolan_t154691.html"]),
    ("vbulletin showthread HTML", vbulletin.parse, ["forums/somethingawful_vbulletin/showthread_3507451_page1.html"]),
]


def measure(parser, pages: list[Page], seconds: float) -> tuple[int, float, float, int]:
    """Records parsed, wall seconds, CPU seconds and rounds over ``pages`` for about ``seconds``."""
    records = rounds = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        for page in pages:
            records += len(parser(page).posts)
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return records, elapsed, time.process_time() - cpu_start, rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="time spent per parser")
    args = ap.parse_args()
    if not FIX.exists():
        sys.exit(f"fixtures not found at {FIX}; set CROWDPULSE_SHARED")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} (other processes share these CPUs); {args.seconds:g} s per parser")
    print(f"{'parser':<26} {'records/page set':>16} {'rounds':>7} {'records/s':>11} {'cpu rec/s':>11} {'MB/s':>7}")
    for name, parser, files in CASES:
        pages = [Page(url=f"https://example.test/{f}", status=200, headers={}, body=(FIX / f).read_bytes()) for f in files]
        size = sum(len(p.body) for p in pages)
        records, elapsed, cpu, rounds = measure(parser, pages, args.seconds)
        print(f"{name:<26} {records // rounds:>16} {rounds:>7} {records / elapsed:>11,.0f} {records / cpu:>11,.0f} "
              f"{size * rounds / elapsed / 1e6:>7.1f}")
    print("rerun: nice -n 10 python bench/parse_throughput.py --seconds 3")


if __name__ == "__main__":
    main()
