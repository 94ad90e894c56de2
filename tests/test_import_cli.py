"""`crowdpulse import reddit-dump` / `import csv` as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import zstandard

ROWS = [{"id": f"c{i}", "subreddit": "wallstreetbets" if i % 2 else "pics", "body": f"IWM calls {i}",
         "created_utc": 1_600_000_000 + i, "link_id": "t3_abc", "parent_id": "t3_abc", "author": "u",
         "score": i} for i in range(4000)]


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def write_zst(path, lines: list[bytes]):
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, write_content_size=False)
    path.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(b"".join(lines)))
    return path


def posts(db) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT id, depth, parent_id FROM posts ORDER BY id").fetchall()


def test_reddit_dump_filters_reports_corrupt_and_truncated(tmp_path):
    lines = [json.dumps(r).encode() + b"\n" for r in ROWS]
    lines.insert(10, b'{"id": "broken", "subreddit": "wallstreetbets", "body": "IWM\n')
    good = write_zst(tmp_path / "RC_2020-09.zst", lines)
    full = write_zst(tmp_path / "big.zst", lines * 40)
    cut = tmp_path / "RC_2020-10.zst"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    db = tmp_path / "t.duckdb"
    out = cli("import", "reddit-dump", str(good), "--db", str(db), "--subreddit", "wallstreetbets",
              "--match", "iwm", "--until", "2020-09-13", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "stored 2,000 posts (2,000 new, 0 updated)" in out.stdout
    assert "1 corrupt line(s) skipped (first at line 11)" in out.stderr
    assert len(posts(db)) == 2000 and posts(db)[0][1:] == (1, "abc")

    out = cli("import", "reddit-dump", str(good), str(cut), "--db", str(db), "--subreddit", "wallstreetbets", "-q",
              cwd=tmp_path)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith(f"error: {cut} is truncated after ") and "rows read from it are stored" in err
    assert "Traceback" not in out.stderr
    assert "posts (0 new," in out.stdout and "RC_2020-10.zst" in out.stdout  # summary printed before the error
    assert len(posts(db)) == 2000  # same ids: nothing stored twice


def test_reddit_dump_bad_input_is_one_line(tmp_path):
    out = cli("import", "reddit-dump", str(tmp_path / "RC_missing.zst"), "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == f"error: no such file: {tmp_path / 'RC_missing.zst'}"
    out = cli("import", "reddit-dump", str(tmp_path), "--match", "IWM(", "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert out.returncode == 2 and "is not a valid regular expression" in out.stderr and out.stderr.count("\n") == 1
    out = cli("import", "reddit-dump", str(tmp_path), "--since", "last week", cwd=tmp_path)
    assert out.returncode == 2 and "--since 'last week' is not a date" in out.stderr


def test_csv_command_and_missing_column(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("seen,text,cid\n2021-01-29,IWM calls,a1\n2021-01-30,TLT puts,a2\n", encoding="utf-8")
    db = tmp_path / "t.duckdb"
    out = cli("import", "csv", str(path), "--text-col", "text", "--time-col", "seen", "--id-col", "cid",
              "--source", "reddit", "--db", str(db), "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 posts (time precision day)" in out.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT id, created_at::VARCHAR, time_precision FROM posts ORDER BY id").fetchall() == [
            ("a1", "2021-01-29 23:59:59", "day"), ("a2", "2021-01-30 23:59:59", "day")]
    out = cli("import", "csv", str(path), "--text-col", "comment", "--time-col", "seen", "--db", str(db), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: {path} has no column 'comment' (given as --text-col); "
                                  "its columns are: 'seen', 'text', 'cid'")
