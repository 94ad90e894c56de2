"""Records that used to stop a scrape or an import for good: a lone surrogate (half an emoji, as
real JSON APIs emit it), a dump line nested too deep to parse, a CSV that is not UTF-8.
Each is repaired or skipped, counted and said, and the rows around it are stored."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from crowdpulse.store import replace_lone_surrogates
from scrapers.records import Post
from test_import_cli import cli, write_zst

HALF_EMOJI = json.loads('"half \\ud83d an emoji"')  # what json.loads makes of an API's unpaired \ud83d


def comment(i: int, body_json: str) -> bytes:
    """A dump comment line whose body is ``body_json`` exactly as it stands in the file."""
    head = json.dumps({"id": f"c{i}", "subreddit": "stocks", "created_utc": 1_600_000_000 + i,
                       "link_id": "t3_abc", "parent_id": "t3_abc", "author": "u", "score": 1})
    return (head[:-1] + f', "body": {body_json}}}\n').encode()


def bodies(db) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT id, body FROM posts ORDER BY id").fetchall())


# ----------------------------------------------------------------- lone surrogates
def test_replace_lone_surrogates_keeps_pairs_and_real_emoji():
    assert replace_lone_surrogates(HALF_EMOJI) == "half \ufffd an emoji"
    assert replace_lone_surrogates("\ud83d\ude00 and \ude00\ud83d") == "\U0001F600 and \ufffd\ufffd"
    assert replace_lone_surrogates("plain \U0001F600 text") == "plain \U0001F600 text"


def test_store_repairs_and_counts_posts_with_a_lone_surrogate(fresh_store):
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    posts = [Post("reddit", "a", "a", created_at=when, body=HALF_EMOJI, raw=json.dumps({"b": HALF_EMOJI}, ensure_ascii=False)),
             Post("reddit", "b", "a", "a", 1, created_at=when, title=HALF_EMOJI, body="fine \U0001F600")]
    got = fresh_store.upsert_posts(posts)
    assert (got.inserted, got.repaired) == (2, 1 + 1)
    stored = fresh_store.posts().set_index("id")
    assert stored.loc["a", "body"] == "half \ufffd an emoji" and stored.loc["b", "title"] == "half \ufffd an emoji"
    assert stored.loc["b", "body"] == "fine \U0001F600"
    assert posts[0].body == HALF_EMOJI  # the caller's records are not changed behind its back


def test_dump_with_a_lone_surrogate_imports_every_line(tmp_path):
    dump = write_zst(tmp_path / "RC_2020-09.zst", [comment(1, '"IWM up"'), comment(2, '"half \\ud83d emoji"'),
                                                    comment(3, '"TLT down"')])
    out = cli("import", "reddit-dump", str(dump), "--db", str(tmp_path / "d.duckdb"), "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert bodies(tmp_path / "d.duckdb") == {"c1": "IWM up", "c2": "half \ufffd emoji", "c3": "TLT down"}
    assert "1 post with broken characters (lone surrogates) stored with U+FFFD" in out.stdout


class _StreamSite(BaseHTTPRequestHandler):
    """A StockTwits stream of one page whose second message holds an unpaired surrogate escape."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        msgs = [{"id": 30 - i, "body": f"$IWM message {i}", "created_at": "2024-01-02T15:00:00Z",
                 "user": {"username": f"u{i}"}} for i in range(3)]
        body = json.dumps({"response": {"status": 200}, "cursor": {"more": False, "max": None}, "messages": msgs})
        body = body.replace("message 1", "message \\ud83d 1").encode()
        self.send_response(200 if self.path.startswith("/api/2/streams/symbol/IWM.json") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def stream_site():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StreamSite)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_scrape_with_a_lone_surrogate_stores_the_page_and_says_so(stream_site, tmp_path):
    db = tmp_path / "s.duckdb"
    out = cli("scrape", "stocktwits", "IWM", "--db", str(db), "--base-url", stream_site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 pages, 3 new posts" in out.stdout
    assert "1 post with broken characters (lone surrogates) stored with U+FFFD" in out.stdout
    assert bodies(db)["29"] == "$IWM message \ufffd 1"
    with duckdb.connect(str(db), read_only=True) as con:
        counts = json.loads(con.execute("SELECT counts FROM runs").fetchone()[0])
    assert counts["posts_repaired"] == 1


# ----------------------------------------------------------------- deep nesting
def test_a_dump_line_nested_too_deep_is_skipped_and_counted(tmp_path):
    deep = b'{"id": "c9", "body": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    dump = write_zst(tmp_path / "RC_2020-09.zst", [comment(1, '"IWM up"'), deep, comment(3, '"TLT down"')])
    out = cli("import", "reddit-dump", str(dump), "--db", str(tmp_path / "d.duckdb"), "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert set(bodies(tmp_path / "d.duckdb")) == {"c1", "c3"}
    assert "1 corrupt line(s) skipped (first at line 2)" in " ".join(out.stderr.split())


# ----------------------------------------------------------------- CSV encodings
def test_a_csv_that_is_not_utf8_is_one_line_naming_the_line_and_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,time\nIWM up,2024-01-01\ncaf\xe9 TLT,2024-01-02\n")
    out = cli("import", "csv", str(path), "--text-col", "text", "--time-col", "time",
              "--db", str(tmp_path / "c.duckdb"), "-q", cwd=tmp_path)
    assert out.returncode == 2
    err = out.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert err == (f"error: {path} is not UTF-8 text: byte 0xe9 on line 3; "
                   "name its encoding with --encoding (e.g. --encoding cp1252)")
    again = cli("import", "csv", str(path), "--text-col", "text", "--time-col", "time", "--encoding", "cp1252",
                "--db", str(tmp_path / "c.duckdb"), "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted(bodies(tmp_path / "c.duckdb").values()) == ["IWM up", "café TLT"]


def test_an_unknown_csv_encoding_is_one_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,time\nIWM up,2024-01-01\n")
    out = cli("import", "csv", str(path), "--text-col", "text", "--time-col", "time", "--encoding", "klingon",
              "--db", str(tmp_path / "c.duckdb"), "-q", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == "error: --encoding 'klingon' is not an encoding Python knows, e.g. utf-8, cp1252, latin-1"
