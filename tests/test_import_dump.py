"""Reddit dump import: dumps built here from the real thread in shared/fixtures/reddit,
written one object per line and compressed with a long window as the archives are."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import zstandard

from conftest import shared_path
from scrapers.records import Page
from scrapers.reddit import parse
from scrapers.reddit_dump import (DumpError, DumpFilter, DumpStats, kind_from_fields, kind_from_name,
                                  read_dump)

pytestmark = pytest.mark.needs_shared

THREAD = ("fixtures", "reddit", "thread_3hahrw_funny_2016.json")


def compress(lines: list[bytes], path: Path) -> Path:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, write_content_size=False)
    path.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(b"".join(lines)))
    return path


def thread_objects() -> list[tuple[str, dict]]:
    """The submission and every comment of the fixture thread, in tree order, without 'replies'."""
    data = json.loads(shared_path(*THREAD).read_bytes())
    out = [("t3", data[0]["data"]["children"][0]["data"])]
    stack = list(reversed(data[1]["data"]["children"]))
    while stack:
        child = stack.pop()
        if child["kind"] != "t1":
            continue  # "more" stubs are not in dumps
        obj = {k: v for k, v in child["data"].items() if k != "replies"}
        out.append(("t1", obj))
        replies = child["data"].get("replies")
        if isinstance(replies, dict):
            stack.extend(reversed(replies["data"]["children"]))
    return out


def line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


@pytest.fixture
def api_posts():
    path = shared_path(*THREAD)
    return parse(Page(url="https://oauth.reddit.com/comments/3hahrw/", status=200, headers={},
                      body=path.read_bytes())).posts


def test_dump_equals_api_parse(tmp_path, api_posts):
    objs = thread_objects()
    subs = compress([line(o) for k, o in objs if k == "t3"], tmp_path / "funny_submissions.zst")
    coms = compress([line(o) for k, o in objs if k == "t1"], tmp_path / "funny_comments.zst")
    depths: dict[str, int] = {}
    stats = DumpStats(str(coms))
    got = list(read_dump(subs, depths=depths)) + list(read_dump(coms, stats=stats, depths=depths))
    assert len(got) == 477 == len(api_posts)  # 1 submission + 476 t1
    assert [p.to_dict() for p in got] == [p.to_dict() for p in api_posts]
    assert stats.lines == 476 and stats.kept == 476 and stats.corrupt == 0 and not stats.truncated
    assert sum(p.body == "[deleted]" for p in got) == 6  # kept as such


def test_kind_decided_by_fields_in_a_mixed_file(tmp_path, api_posts):
    path = compress([line(o) for _, o in thread_objects()], tmp_path / "funny_2016.zst")
    assert kind_from_name(path) is None
    got = list(read_dump(path, depths={}))
    assert [p.to_dict() for p in got] == [p.to_dict() for p in api_posts]
    assert kind_from_name("RS_2016-08.zst") == "t3" and kind_from_name("RC_2016-08.zst") == "t1"
    assert kind_from_fields({"id": "a", "title": "x"}) == "t3"
    assert kind_from_fields({"id": "a", "body": "x", "link_id": "t3_b"}) == "t1"


def test_created_utc_int_float_and_string(tmp_path):
    objs = [o for _, o in thread_objects()][1:4]
    ts = [int(o["created_utc"]) for o in objs]
    objs[0]["created_utc"] = ts[0]            # int (most years)
    objs[1]["created_utc"] = float(ts[1])     # float (2016-era API)
    objs[2]["created_utc"] = str(ts[2])       # string (some 2017-2018 dumps)
    got = list(read_dump(compress([line(o) for o in objs], tmp_path / "RC_2015-08.zst")))
    assert [p.created_at for p in got] == [datetime.fromtimestamp(t, tz=timezone.utc) for t in ts]
    assert all(p.parent_id and p.thread_id == "3hahrw" for p in got)


def test_corrupt_lines_are_counted_not_fatal(tmp_path):
    objs = [o for _, o in thread_objects()][1:11]
    lines = [line(o) for o in objs]
    lines.insert(3, b'{"id": "zzz", "subreddit": "funny", "body": "cut off in the mid\n')
    lines.insert(7, b"\x00\xffnot json at all\n")
    lines.insert(9, b"[1, 2, 3]\n")
    lines.insert(9, b"\n")  # blank lines are not corrupt
    stats = DumpStats("x")
    got = list(read_dump(compress(lines, tmp_path / "RC_2015-08.zst"), stats=stats))
    assert len(got) == 10
    assert stats.corrupt == 3 and stats.corrupt_lines == [4, 8, 11]
    assert stats.lines == 14 and not stats.truncated


def test_truncated_file_keeps_what_was_read(tmp_path):
    objs = [o for _, o in thread_objects()][1:]
    full = compress([line(o) for o in objs] * 30, tmp_path / "full.zst")  # ~14k lines, several MiB
    cut = tmp_path / "RC_2015-08.zst"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    stats = DumpStats(str(cut))
    got = list(read_dump(cut, stats=stats))
    assert stats.truncated
    assert 0 < stats.lines < 476 * 30 and len(got) == stats.kept == stats.lines
    assert stats.corrupt == 0  # the cut-off last line is not counted as corrupt
    assert stats.message() == f"{cut} is truncated after {stats.lines:,} lines; the {stats.kept:,} rows read from it are stored"


def test_not_zstd_is_a_clear_error(tmp_path):
    bad = tmp_path / "RC_2015-08.zst"
    bad.write_bytes(b'{"id": "a"}\n' * 10)
    with pytest.raises(DumpError, match="is not a zstandard file"):
        list(read_dump(bad))


def _comment(i: int, subreddit: str, body: str, created) -> dict:
    return {"id": f"c{i}", "subreddit": subreddit, "body": body, "created_utc": created,
            "link_id": "t3_abc", "parent_id": "t3_abc", "author": "u", "score": 1}


def test_filters_subreddit_match_since_until(tmp_path):
    day = 1_600_000_000
    rows = [
        _comment(0, "wallstreetbets", "IWM puts printing", day),
        _comment(1, "WallStreetBets", "long TLT into the cut", day + 100),      # case of the name
        _comment(2, "stocks", "the russell is lagging", day + 200),
        _comment(3, "funny", "IWM joke", day + 300),                            # wrong subreddit
        _comment(4, "wallstreetbets", "GME to the moon", day + 400),            # no match
        _comment(5, "wallstreetbets", "treasuries\nand IWM", str(day + 86_400)),  # escaped newline
        _comment(6, "wallstreetbets", "mention subreddit stocks: IWM", day - 86_400),  # too early
        {"id": "s1", "subreddit": "stocks", "title": "Treasury auction", "selftext": "", "created_utc": day},
    ]
    path = compress([line(r) for r in rows], tmp_path / "mixed.zst")

    def ids(**kw):
        return [p.id for p in read_dump(path, DumpFilter(**kw))]

    assert ids() == ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "s1"]
    assert ids(subreddits=frozenset({"stocks", "WallStreetBets"})) == ["c0", "c1", "c2", "c4", "c5", "c6", "s1"]
    assert ids(match="IWM|TLT|russell|treasur") == ["c0", "c1", "c2", "c3", "c5", "c6", "s1"]
    assert ids(match=r"\biwm\b") == ["c0", "c3", "c5", "c6"]
    assert ids(match=r"treasuries\s+and") == ["c5"]  # not raw-prefiltered: matched after parsing
    since = datetime.fromtimestamp(day, tz=timezone.utc)
    assert ids(since=since) == ["c0", "c1", "c2", "c3", "c4", "c5", "s1"]
    assert ids(since=since, until=datetime.fromtimestamp(day + 300, tz=timezone.utc)) == ["c0", "c1", "c2", "s1"]
    assert ids(subreddits=frozenset({"wallstreetbets"}), match="iwm",
               since=since) == ["c0", "c5"]


def test_prefilter_only_parses_candidate_lines(tmp_path):
    rows = [_comment(i, "stocks" if i % 100 == 0 else "pics", "text", 1_600_000_000 + i) for i in range(1000)]
    stats = DumpStats("x")
    got = list(read_dump(compress([line(r) for r in rows], tmp_path / "RC_2020-09.zst"),
                         DumpFilter(subreddits=frozenset({"stocks"})), stats=stats))
    assert len(got) == 10 and stats.lines == 1000 and stats.parsed == 10


def test_bad_filters_are_clear_errors():
    with pytest.raises(DumpError, match="not a valid regular expression"):
        DumpFilter(match="IWM(")
    with pytest.raises(DumpError, match="subreddit name"):
        DumpFilter(subreddits=frozenset({"wall street"}))


def test_an_empty_dump_file_is_an_error(tmp_path):
    f = tmp_path / "RC_2021-01.zst"
    f.write_bytes(b"")
    with pytest.raises(DumpError, match="is empty"):
        list(read_dump(f))
