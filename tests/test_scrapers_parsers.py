"""Every parser on the real captured pages in ../shared/fixtures, checked against the facts
stated in shared/fixtures/SOURCES.md (counts, authors, times, depths, parent links)."""
from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scrapers import community, discourse, hackernews, phpbb, reddit, stocktwits, vbulletin
from scrapers.detect import detect_site, parse_auto
from scrapers.errors import BotWallError, ParseError
from scrapers.records import Page
from tests.conftest import ROOT, shared_path

pytestmark = pytest.mark.needs_shared


def page(*parts: str, url: str = "https://example.test/") -> Page:
    return Page(url=url, status=200, headers={}, body=shared_path("fixtures", *parts).read_bytes())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def assert_tree(posts):
    """Every parent is in the set (or is the thread), depths grow by one along each link."""
    by_id = {p.id: p for p in posts}
    for p in posts:
        if p.parent_id is None:
            assert p.depth == 0
        elif p.parent_id in by_id:
            assert p.depth == by_id[p.parent_id].depth + 1, p
        assert p.created_at is None or p.created_at.tzinfo is not None


# ------------------------------------------------------------------ reddit
def test_reddit_thread_3hahrw():
    result = reddit.parse(page("reddit", "thread_3hahrw_funny_2016.json"))
    sub, comments = result.posts[0], result.posts[1:]
    assert (sub.id, sub.title, sub.depth, sub.parent_id, sub.score) == ("3hahrw", "Ba Dum Tsss", 0, None, 11702)
    assert sub.created_at == utc(2015, 8, 17, 7, 44, 40)
    assert sub.url == "https://www.reddit.com/r/funny/comments/3hahrw/ba_dum_tsss/"
    assert len(comments) == 476
    assert sum(p.depth == 1 for p in comments) == 137
    assert max(p.depth for p in comments) == 10  # API depth 9, ours is 1-based for comments
    assert sum(p.author == "[deleted]" for p in comments) == 16
    assert sum(p.body == "[deleted]" for p in comments) == 6
    assert len({p.id for p in comments}) == 476
    assert all(p.thread_id == "3hahrw" and not p.id.startswith("t1_") for p in comments)
    first = comments[0]
    assert (first.id, first.author, first.parent_id, first.score) == ("cu5pebp", "johnnwho", "3hahrw", 1136)
    assert_tree(result.posts)
    kinds = Counter(s["type"] for s in result.pending)
    assert kinds == {"more": 12, "continue": 6}
    assert sum(len(s["children"]) for s in result.pending if s["type"] == "more") == 24
    stub = next(s for s in result.pending if s.get("children") == ["cu5pg2h"])
    assert (stub["parent_id"], stub["depth"]) == ("cu5p1hh", 2)


def test_reddit_morechildren_rebuilds_tree_from_parent_id():
    stub = {"type": "more", "thread_id": "3hahrw", "parent_id": "cu5p1hh", "depth": 2, "children": ["cu5pg2h"]}
    result = reddit.parse_morechildren(page("reddit", "morechildren_3hahrw_cu5pg2h_2016.json"), stub)
    assert len(result.posts) == 11 and result.pending == []
    ids = {p.id for p in result.posts}
    inside = [p for p in result.posts if p.parent_id in ids]
    outside = [p for p in result.posts if p.parent_id not in ids]
    assert len(inside) == 10 and [p.parent_id for p in outside] == ["cu5p1hh"]
    assert outside[0].id == "cu5pg2h" and outside[0].depth == 2
    assert all(p.depth is not None for p in result.posts)
    assert_tree(result.posts)


def test_reddit_morechildren_truncation_2020():
    result = reddit.parse_morechildren(page("reddit", "morechildren_ablzuq_2020.json"))
    assert len(result.posts) == 100
    assert len(result.pending) == 96
    assert sum(len(s.get("children", [])) for s in result.pending) == 6263
    assert sum(s["type"] == "continue" for s in result.pending) == 1
    ids = {p.id for p in result.posts}
    assert sum(p.parent_id in ids for p in result.posts) + sum(p.parent_id == "ablzuq" for p in result.posts) >= 100 - 0
    assert sum(p.parent_id == "ablzuq" for p in result.posts) == 23  # top-level comments (the 24th is a more stub)


def test_reddit_request_body_matches_what_we_would_send():
    body = shared_path("fixtures", "reddit", "morechildren_3hahrw_cu5pg2h_2016.request_body.txt").read_text()
    from urllib.parse import parse_qs
    q = parse_qs(body)
    assert q["link_id"] == ["t3_3hahrw"] and q["children"] == ["cu5pg2h"] and q["api_type"] == ["json"]


def test_reddit_continue_thread_depth_offset():
    result = reddit.parse_thread(page("reddit", "thread_continue_3hahrw_cu5v5h7_2016.json"), depth_offset=9)
    comments = result.posts[1:]
    assert [p.id for p in comments][:1] == ["cu5v5h7"]
    assert [p.depth for p in comments] == [10, 11, 12]
    assert comments[1].parent_id == "cu5v5h7"
    alone = reddit.parse_thread(page("reddit", "thread_continue_3hahrw_cu5v5h7_2016.json"))  # a saved page, no crawl
    assert [p.depth for p in alone.posts[1:]] == [None, None, None]  # unknown, not 1, 2, 3


def test_reddit_limit1_thread_2020_has_top_level_more():
    result = reddit.parse(page("reddit", "thread_ablzuq_askreddit_limit1_2020.json"))
    assert len(result.posts) == 2
    top = [s for s in result.pending if s["type"] == "more" and s["parent_id"] == "ablzuq"]
    assert len(top) == 1 and len(top[0]["children"]) == 4682


def test_reddit_listings():
    new = reddit.parse(page("reddit", "listing_r_askreddit_new_2016.json"))
    assert len(new.posts) == 100 and new.next_cursor == "t3_48f6io"
    assert all(p.depth == 0 and p.parent_id is None and p.title for p in new.posts)
    hot = reddit.parse(page("reddit", "listing_r_popular_hot_2026.json"))
    assert len(hot.posts) == 100 and hot.next_cursor == "t3_1skbyfv"
    assert sum("/r/wallstreetbets/" in p.url for p in hot.posts) == 1


def test_oldreddit_html():
    result = reddit.parse(page("reddit", "oldreddit_thread_8dyrb3_aww_2018.html"))
    sub, comments = result.posts[0], result.posts[1:]
    assert sub.id == "8dyrb3" and sub.score == 21427 and sub.author == "Brookefemale"
    assert sub.created_at == utc(2018, 4, 21, 21, 28, 31)
    assert len(comments) == 197
    assert sum(p.depth == 1 for p in comments) == 98
    assert max(p.depth for p in comments) == 9  # 0-based 8
    c = next(p for p in comments if p.id == "dxr2q90")
    assert (c.author, c.score, c.created_at) == ("glitterpig09", 192, utc(2018, 4, 21, 22, 23, 5))
    assert c.body == "Ben is adorable! Is that the cardboard house from Neko Atsume??"
    assert len(result.pending) == 2 and "dxr9ly1" in result.pending[0]["children"]
    assert_tree(result.posts)


def test_new_reddit_shell_is_a_bot_wall():
    p = page("reddit", "newreddit_post_html_socialcrawler_shell_2024.html")
    with pytest.raises(BotWallError, match="social crawler"):
        reddit.parse(p)
    with pytest.raises(BotWallError):
        parse_auto(p)


def test_a_text_file_quoting_a_wall_is_not_a_wall():
    notes = Page(url="file:///notes.md", status=200, headers={}, fetched_at=utc(2024, 1, 1, 0, 0, 0),
                 body=b"# Notes\nNew Reddit says the client was identified as a social crawler.\n")
    with pytest.raises(ParseError, match="cannot tell which site") as err:
        parse_auto(notes)
    assert not isinstance(err.value, BotWallError)


# -------------------------------------------------------------- stocktwits
def test_stocktwits_stream_envelope():
    result = stocktwits.parse(page("stocktwits", "streams_symbol_AAPL_2020-04-24.json"))
    assert len(result.posts) == 30 and result.next_cursor == 208428854
    assert Counter(p.user_label for p in result.posts) == {"bullish": 9, "bearish": 8, None: 13}
    first = result.posts[0]
    assert (first.id, first.author, first.created_at) == ("208435113", "braves716", utc(2020, 4, 24, 18, 35, 11))
    assert not any("&#39;" in p.body or "&amp;" in p.body for p in result.posts)
    assert sum(p.score > 0 for p in result.posts) == 16


def test_stocktwits_jsonl_three_pages():
    result = stocktwits.parse(page("stocktwits", "messages_AAPL_2026-05-31_3pages.jsonl"))
    ids = [int(p.id) for p in result.posts]
    assert len(ids) == 90 == len(set(ids)) and ids == sorted(ids, reverse=True)
    assert Counter(p.user_label for p in result.posts) == {"bullish": 14, "bearish": 10, None: 66}
    assert result.posts[0].created_at == utc(2026, 5, 31, 17, 53, 45)
    assert result.posts[-1].created_at.date().isoformat() == "2026-05-29"


def test_stocktwits_small_array():
    result = stocktwits.parse(page("stocktwits", "messages_TSLA_2022-04-03_subset.json"))
    assert Counter(p.user_label for p in result.posts) == {"bullish": 2, "bearish": 2, None: 2}


@pytest.mark.parametrize("body", [b'[{"kind": "Listing", "data": {}}]', b'{"messages": [{}]}', b'{"messages": 3}'])
def test_stocktwits_refuses_json_that_is_not_messages(body):
    with pytest.raises(ParseError, match="not a StockTwits stream"):
        stocktwits.parse(Page(url="file:///x.json", status=200, headers={}, body=body))


@pytest.mark.parametrize("message", [
    {"id": 1, "body": "$IWM", "created_at": "yesterday"},
    {"id": 1, "body": "$IWM", "created_at": "2024-01-02T15:00:00Z", "entities": {"sentiment": "Bullish"}},
])
def test_a_malformed_field_is_a_parse_error_naming_the_page(message):
    body = json.dumps({"messages": [message]}).encode()
    with pytest.raises(ParseError, match=r"file:///x.json: a stocktwits record has a malformed field"):
        stocktwits.parse(Page(url="file:///x.json", status=200, headers={}, body=body))


# -------------------------------------------------------------- hackernews
@pytest.mark.parametrize("n,count,next_page", [(1, 251, 2), (2, 255, 3), (3, 31, None), (4, 0, None)])
def test_hn_pages(n, count, next_page):
    result = hackernews.parse(page("hackernews", f"item_34219335_whoishiring_2023-01_p{n}.html",
                                   url=f"https://news.ycombinator.com/item?id=34219335&p={n}"))
    story, comments = result.posts[0], result.posts[1:]
    assert story.id == "34219335" and story.title == "Ask HN: Who is hiring? (January 2023)"
    assert story.created_at == utc(2023, 1, 2, 16, 1, 16) and story.score == 456
    assert len(comments) == count and result.next_cursor == next_page
    if n == 1:
        first = comments[0]
        assert (first.id, first.author, first.depth, first.parent_id) == ("34219700", "whoi", 1, "34219335")
        assert first.created_at == utc(2023, 1, 2, 16, 24, 4)
        assert first.body.startswith("WHOI | Multiple Roles") and "\n\nWoods Hole" in first.body
        assert sum(p.body == "[deleted]" and p.author is None for p in comments) == 1
    assert_tree(result.posts)


def test_hn_total_533_comments_over_pages():
    total = sum(len(hackernews.parse(page("hackernews", f"item_34219335_whoishiring_2023-01_p{n}.html")).posts) - 1
                for n in (1, 2, 3, 4))
    # 537 rows; the story header says "533 comments" (HN's count leaves out deleted/dead rows)
    assert total == 251 + 255 + 31
    deleted = sum(p.body == "[deleted]" for n in (1, 2, 3)
                  for p in hackernews.parse(page("hackernews", f"item_34219335_whoishiring_2023-01_p{n}.html")).posts)
    assert total - deleted == 533


def test_hn_old_markup_2018():
    result = hackernews.parse(page("hackernews", "item_16909056_saved_2018.html"))
    comments = result.posts[1:]
    assert len(comments) == 115
    assert result.posts[0].title == "Tech company career ladders"
    c = next(p for p in comments if p.id == "16911460")
    assert c.author == "GlennS" and c.depth == 2 and c.body.startswith("Is there a reason you need to be sponsored")
    assert "reply" not in c.body.splitlines()[-1]
    assert all(p.time_precision == "day" for p in comments)
    assert_tree(result.posts)


def test_hn_firebase_item():
    result = hackernews.parse(page("hackernews", "firebase_item_5172905_story.json"))
    story = result.posts[0]
    assert (story.id, story.author, story.depth, story.parent_id) == ("5172905", "sosuke", 0, None)
    assert story.created_at == utc(2013, 2, 5, 20, 2, 39)
    assert len(result.pending) == 83 and all(j["depth"] == 1 for j in result.pending)


# -------------------------------------------------------------- discourse
def test_discourse_topic_page_and_stream_batches():
    result = discourse.parse(page("discourse", "topic_2108_page_post452_raw.json",
                                  url="https://discuss.criticalfallibilism.com/t/x/2108/446.json"))
    assert [p.id for p in result.posts] == [f"2108/{n}" for n in range(433, 453)]
    assert sum(len(b["post_ids"]) for b in result.pending) == 446 - 20
    assert all(len(b["post_ids"]) <= 20 for b in result.pending) and len(result.pending) == 22
    first = result.posts[0]
    assert first.author == "ActiveMind" and first.parent_id == "2108/428" and first.depth == 2
    assert first.body == "I just recently got told by a friend that lobbies would either want to marry her or be nasty towards her."
    assert first.created_at == datetime(2025, 12, 12, 21, 24, 58, 916000, tzinfo=timezone.utc)


def test_discourse_posts_json_both_orders():
    asc = discourse.parse(page("discourse", "topic_2144_posts.json"))
    desc = discourse.parse(page("discourse", "topic_2144_posts_post_number_21.json"))
    assert len(asc.posts) == 20 and "2144/7" not in {p.id for p in asc.posts}
    assert len(desc.posts) == 19
    assert [p.id for p in desc.posts] == [p.id for p in asc.posts][:19]  # sorted by post_number
    assert asc.posts[0].depth == 0 and asc.posts[0].parent_id is None
    assert_tree(asc.posts)


def test_discourse_latest_posts():
    result = discourse.parse(page("discourse", "latest_posts.json"))
    assert len(result.posts) == 50 and all(p.thread_id for p in result.posts)
    by_id = {p.id: p for p in result.posts}  # newest first, yet a reply whose parent is here sits one below it
    linked = [p for p in result.posts if p.parent_id in by_id]
    assert linked and all(p.depth == by_id[p.parent_id].depth + 1 for p in linked)
    assert all(isinstance(p.score, int) for p in result.posts)  # no likes listed is 0 likes


# -------------------------------------------------------------- phpbb / vbulletin
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("name,topic", [("viewtopic_videolan_t154691", "154691"), ("viewtopic_ubuntu-it_t637551", "637551")])
def test_phpbb_against_expected(name, topic):
    expected = json.loads(shared_path("fixtures", "forums", "phpbb", f"{name}.expected.json").read_text())
    result = phpbb.parse(page("forums", "phpbb", f"{name}.html", url=f"https://forum.example.org/viewtopic.php?t={topic}&sid=0123abcd"))
    assert len(result.posts) == expected["totalThreadPosts"] == len(expected["posts"])
    assert result.posts[0].title == expected["threadTitle"]
    for post, exp in zip(result.posts, expected["posts"]):
        assert post.author == exp["author"]["username"]
        assert post.thread_id == str(expected["threadId"])
        assert post.created_at.strftime("%d %H:%M").lstrip("0") in exp["date"].replace(", ", " ") or \
            post.created_at.strftime("%d") in exp["date"]
        # their text keeps the code box's "Code: Select all" header; ours drops it
        assert _norm(post.body) == _norm(exp["content"].replace("Code: Select all", ""))
        assert "sid=" not in post.url
    assert result.posts[0].depth == 0 and all(p.depth == 1 and p.parent_id == result.posts[0].id for p in result.posts[1:])


def test_phpbb_dates_exact():
    result = phpbb.parse(page("forums", "phpbb", "viewtopic_videolan_t154691.html", url="http://forum.videolan.org/viewtopic.php?t=154691"))
    assert [p.created_at for p in result.posts] == [utc(2020, 8, 24, 4, 27), utc(2020, 8, 24, 10, 37)]
    it = phpbb.parse(page("forums", "phpbb", "viewtopic_ubuntu-it_t637551.html", url="https://forum.ubuntu-it.org/viewtopic.php?t=637551"))
    assert it.posts[0].created_at == utc(2020, 1, 21, 14, 24) and it.posts[4].created_at == utc(2020, 3, 11, 1, 32)
    assert "Janvitus" not in it.posts[1].body.split("\n")[-1]  # signature removed


def test_vbulletin_somethingawful():
    result = vbulletin.parse(page("forums", "somethingawful_vbulletin", "showthread_3507451_page1.html",
                                  url="https://forums.somethingawful.com/showthread.php?threadid=3507451&perpage=40&pagenumber=5"))
    assert len(result.posts) == 40 and result.next_cursor == 6
    first = result.posts[0]
    assert (first.id, first.author, first.created_at, first.thread_id) == ("407741839", "Majuju", utc(2012, 9, 20, 11, 16), "3507451")
    second = result.posts[1]
    assert "JohnnyCanuck posted" not in second.body and "Federal Liberals are really close" not in second.body
    assert second.body.startswith("No. They're not affiliated")
    assert all(p.depth == 1 for p in result.posts)  # page 5: no thread starter here


# -------------------------------------------------------------- community (our own fixtures)
COMMUNITY = ROOT / "tests" / "fixtures" / "community"


@pytest.mark.parametrize("name", ["post_318240957.html", "post_318240957_no_app_data.html"])
def test_community_post(name):
    result = community.parse(Page(url="https://community.example-broker.com/post/318240957", status=200,
                                  headers={}, body=(COMMUNITY / name).read_bytes()))
    post, *comments = result.posts
    assert post.id == "318240957" and post.depth == 0 and post.author == "SmallCapHunter"
    assert "$iShares Russell 2000 ETF(IWM)$" in post.body and "$iShares 20+ Year Treasury Bond ETF(TLT)$" in post.body
    assert "Disclaimer" not in post.body and "investment advice" not in post.body
    assert json.loads(post.raw)["disclaimer"].startswith("Disclaimer: Investing involves risk")
    assert post.body.count("\n\n") == 2 and "calls on the dip & holding" in post.body
    assert post.created_at == utc(2024, 7, 16, 1, 42)
    assert [(c.id, c.parent_id, c.depth, c.author) for c in comments] == [
        ("9001", "318240957", 1, "RateCutRick"), ("9004", "9001", 2, "SmallCapHunter"),
        ("9002", "318240957", 1, "BondBear_77"), ("9003", "318240957", 1, "小盘股")]
    assert comments[0].body == "230 is no problem, wait for the callback to buy"
    assert comments[3].body == "Russel 2000 & the Q's both ran today <3"
    assert community.CASHTAG.findall(post.body) == [("iShares Russell 2000 ETF", "IWM"), ("iShares 20+ Year Treasury Bond ETF", "TLT")]


def test_community_inline_disclaimer_paragraph():
    body, disclaimer = community.split_disclaimer("Bullish $X(IWM)$.\n\nDisclaimer: not advice.")
    assert body == "Bullish $X(IWM)$." and disclaimer == "Disclaimer: not advice."


def test_community_broken_app_data_is_a_clear_error():
    html = b"<html><script>window.__APP_DATA__ = {\"post\": {\"id\": 1, </script></html>"
    with pytest.raises(ParseError, match="__APP_DATA__ is not valid JSON"):
        community.parse(Page(url="https://c.example/post/1", status=200, headers={}, body=html))


# -------------------------------------------------------------- detection
@pytest.mark.parametrize("parts,site", [
    (("reddit", "thread_3hahrw_funny_2016.json"), "reddit"),
    (("reddit", "oldreddit_thread_8dyrb3_aww_2018.html"), "reddit"),
    (("stocktwits", "streams_symbol_AAPL_2020-04-24.json"), "stocktwits"),
    (("discourse", "topic_2144_posts.json"), "discourse"),
    (("hackernews", "item_16909056_saved_2018.html"), "hackernews"),
    (("hackernews", "firebase_item_5172905_story.json"), "hackernews"),
    (("forums", "phpbb", "viewtopic_videolan_t154691.html"), "phpbb"),
    (("forums", "somethingawful_vbulletin", "showthread_3507451_page1.html"), "vbulletin"),
])
def test_detect_by_content(parts, site):
    assert detect_site(page(*parts, url="file:///saved")) == site


def test_truncated_json_is_a_clear_parse_error():
    body = shared_path("fixtures", "reddit", "thread_3hahrw_funny_2016.json").read_bytes()[:5000]
    with pytest.raises(ParseError, match="not valid JSON.*truncated"):
        reddit.parse(Page(url="https://www.reddit.com/comments/3hahrw/.json", status=200, headers={}, body=body))


def test_a_saved_page_with_relative_times_is_dated_from_when_the_file_was_saved(tmp_path):
    import os
    import shutil

    from crowdpulse.scrape import parse_file

    copy = tmp_path / "item.html"
    shutil.copy(shared_path("fixtures", "hackernews", "item_16909056_saved_2018.html"), copy)
    saved = datetime(2018, 4, 24, 12, 0, tzinfo=timezone.utc).timestamp()
    os.utime(copy, (saved, saved))
    posts = parse_file("hackernews", copy)
    assert all(p.created_at.year == 2018 for p in posts if p.created_at)  # not 2026, the day it was parsed
