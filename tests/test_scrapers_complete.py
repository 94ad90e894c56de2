"""A page cut short is never taken as whole (scrapers.complete), for every HTML parser: real
captured pages cut in half, written phpBB/vBulletin pages missing posts they announce, and a
body shorter than its Content-Length."""
from __future__ import annotations

import pytest

from scrapers import community, hackernews, phpbb, reddit, vbulletin
from scrapers.complete import ended_early
from scrapers.detect import parse_auto
from scrapers.errors import ParseError, TruncatedPageError
from scrapers.records import Page
from tests.conftest import ROOT, shared_path

HTML = {"content-type": "text/html; charset=utf-8"}


def page(body: bytes, url: str, headers: dict[str, str] | None = None) -> Page:
    return Page(url=url, status=200, headers=headers if headers is not None else dict(HTML), body=body)


def cut(body: bytes, fraction: float = 0.5) -> bytes:
    return body[: int(len(body) * fraction)]


# --------------------------------------------------------------------------- written forum pages
def phpbb_page(topic: int, start: int, per_page: int, total: int, drop: int = 0) -> bytes:
    """A prosilver viewtopic page: "N posts • Page X of Y", posts start+1..start+per_page (less
    ``drop`` of them, as a cut between posts leaves it), a next link unless it is the last page."""
    pages = -(-total // per_page)
    current = start // per_page + 1
    numbers = list(range(start + 1, min(start + per_page, total) + 1))
    numbers = numbers[: len(numbers) - drop] if drop else numbers
    nxt = (f'<li class="arrow next"><a class="button" rel="next" href="./viewtopic.php?t={topic}&amp;start={start + per_page}">'
           "Next</a></li>") if current < pages else ""
    posts = "".join(
        f'<div id="p{topic * 1000 + n}" class="post has-profile bg{n % 2 + 1}"><div class="inner">'
        f'<div class="postbody"><div id="post_content{topic * 1000 + n}"><h3><a href="#p{topic * 1000 + n}">Re: small caps</a></h3>'
        f'<p class="author"><a class="unread" href="#"></a><span class="responsive-hide">by <strong>'
        f'<a href="./memberlist.php?u={n}" class="username">trader{n}</a></strong> &raquo; </span>'
        f'<time datetime="2024-03-{n % 28 + 1:02d}T10:00:00+00:00">Mar {n % 28 + 1}, 2024</time></p>'
        f'<div class="content">Post {n}: IWM looks {"strong" if n % 2 else "weak"} into the close.</div>'
        "</div></div></div></div>\n"
        for n in numbers)
    return (f'<!DOCTYPE html>\n<html dir="ltr" lang="en-gb"><head><meta charset="utf-8"><title>Small caps - Board</title>'
            f'<link rel="canonical" href="https://board.example.org/viewtopic.php?t={topic}"></head>\n'
            f'<body id="phpbb"><div id="page-body"><h2 class="topic-title"><a href="./viewtopic.php?t={topic}">Small caps</a></h2>\n'
            f'<div class="action-bar bar-top"><div class="pagination">\n{total} posts\n'
            f'&bull; Page <strong>{current}</strong> of <strong>{pages}</strong><ul>{nxt}</ul></div></div>\n'
            f"{posts}"
            f'<div class="action-bar bar-bottom"><div class="pagination">{total} posts</div></div></div>'
            '<div id="page-footer">Powered by phpBB</div></body></html>\n').encode()


def vbulletin_page(thread: int, first: int, last: int, total: int, drop: int = 0) -> bytes:
    """A vBulletin 4 showthread page saying "Results FIRST to LAST of TOTAL"."""
    numbers = list(range(first, last + 1))
    numbers = numbers[: len(numbers) - drop] if drop else numbers
    posts = "".join(
        f'<li class="postbit postcontainer" id="post_{thread * 100 + n}"><div class="posthead">'
        f'<span class="postdate"><span class="date">03-{n % 28 + 1:02d}-2024, 10:00 AM</span></span></div>'
        f'<div class="username_container"><a class="username" href="member.php?u={n}">member{n}</a></div>'
        f'<div id="post_message_{thread * 100 + n}">TLT post {n}</div></li>\n' for n in numbers)
    return (f'<!DOCTYPE html><html><head><title>Rates - Forum</title></head><body>'
            f'<a href="showthread.php?t={thread}">Rates</a><div id="postpagestats_above">Results {first} to {last} of {total}</div>'
            f'<ol id="posts">{posts}</ol></body></html>').encode()


PHPBB_URL = "https://board.example.org/viewtopic.php?t=7"


def test_written_phpbb_pages_whole_and_missing_posts():
    whole = phpbb.parse(page(phpbb_page(7, 0, 10, 25), PHPBB_URL))
    assert len(whole.posts) == 10 and whole.next_cursor == 10
    last = phpbb.parse(page(phpbb_page(7, 20, 10, 25), PHPBB_URL + "&start=20"))
    assert len(last.posts) == 5 and last.next_cursor is None
    with pytest.raises(TruncatedPageError, match=r"ended early: it holds 8 posts where the page says 10"):
        phpbb.parse(page(phpbb_page(7, 0, 10, 25, drop=2), PHPBB_URL))
    with pytest.raises(TruncatedPageError, match=r"holds 4 posts where the page says 5"):
        phpbb.parse(page(phpbb_page(7, 20, 10, 25, drop=1), PHPBB_URL + "&start=20"))


def test_written_vbulletin_results_line():
    url = "https://forum.example.org/showthread.php?t=9"
    assert len(vbulletin.parse(page(vbulletin_page(9, 1, 10, 25), url)).posts) == 10
    with pytest.raises(TruncatedPageError, match=r"holds 9 posts where the page says 10"):
        vbulletin.parse(page(vbulletin_page(9, 1, 10, 25, drop=1), url))


def test_a_cut_that_breaks_the_parser_is_still_named_a_cut():
    body = phpbb_page(7, 0, 10, 25)
    with pytest.raises(TruncatedPageError, match="stops before its closing </body></html>") as info:
        phpbb.parse(page(body[: body.index(b'<div id="p')], PHPBB_URL))
    assert isinstance(info.value.__cause__, ParseError)  # the parser's own "no phpBB posts"


def test_short_body_against_content_length():
    body = phpbb_page(7, 0, 10, 25)
    headers = {**HTML, "content-length": str(len(body) + 100)}
    with pytest.raises(TruncatedPageError, match=rf"has {len(body)} of the {len(body) + 100} bytes its Content-Length declares"):
        phpbb.parse(page(body, PHPBB_URL, headers))
    gzipped = {**headers, "content-encoding": "gzip"}  # the header counts compressed bytes: not comparable
    assert len(phpbb.parse(page(body, PHPBB_URL, gzipped)).posts) == 10


def test_fragments_and_json_are_not_judged_by_markup():
    fragment = b'<div class="post" id="p1"><div class="postbody"><div class="content">hi</div></div></div>'
    assert ended_early(page(fragment, PHPBB_URL), "phpbb") is None
    assert ended_early(page(b'{"id": 1, "kids": [2]}', "https://hacker-news.firebaseio.com/v0/item/1.json"), "hackernews") is None


# --------------------------------------------------------------------------- real captured pages
REAL = [
    (("hackernews", "item_34219335_whoishiring_2023-01_p2.html"), "https://news.ycombinator.com/item?id=34219335&p=2", hackernews.parse),
    (("hackernews", "item_16909056_saved_2018.html"), "https://news.ycombinator.com/item?id=16909056", hackernews.parse),
    (("reddit", "oldreddit_thread_8dyrb3_aww_2018.html"), "https://old.reddit.com/r/aww/comments/8dyrb3/", reddit.parse),
    (("forums", "phpbb", "viewtopic_videolan_t154691.html"), "http://forum.videolan.org/viewtopic.php?t=154691", phpbb.parse),
    (("forums", "phpbb", "viewtopic_ubuntu-it_t637551.html"), "https://forum.ubuntu-it.org/viewtopic.php?t=637551", phpbb.parse),
    (("forums", "somethingawful_vbulletin", "showthread_3507451_page1.html"),
     "https://forums.somethingawful.com/showthread.php?threadid=3507451&perpage=40&pagenumber=5", vbulletin.parse),
]


@pytest.mark.parametrize(("parts", "url", "parse"), REAL, ids=[p[0][-1] for p in REAL])
def test_real_pages_pass_whole_and_fail_cut(parts, url, parse):
    body = shared_path("fixtures", *parts).read_bytes()
    assert parse(page(body, url)).posts
    assert parse_auto(page(body, url)).posts
    for fraction in (0.35, 0.6, 0.9, 0.999):
        with pytest.raises(TruncatedPageError, match="ended early"):
            parse(page(cut(body, fraction), url))


def test_hackernews_page_two_cut_short_loses_nothing_silently():
    """The issue's case: HN page 2 cut short (status 200) gave 106 of 255 comments as if whole."""
    body = shared_path("fixtures", "hackernews", "item_34219335_whoishiring_2023-01_p2.html").read_bytes()
    url = "https://news.ycombinator.com/item?id=34219335&p=2"
    assert len(hackernews.parse(page(body, url)).posts) == 1 + 255
    with pytest.raises(TruncatedPageError, match=r"item\?id=34219335&p=2 ended early: the page stops before its closing"):
        hackernews.parse(page(cut(body, 0.45), url))


def test_somethingawful_page_missing_a_post_is_refused():
    body = shared_path("fixtures", "forums", "somethingawful_vbulletin", "showthread_3507451_page1.html").read_bytes()
    url = "https://forums.somethingawful.com/showthread.php?threadid=3507451&perpage=40&pagenumber=5"
    first = body.index(b'<table class="post "')
    second = body.index(b'<table class="post "', first + 1)
    with pytest.raises(TruncatedPageError, match="holds 39 posts where the page says 40"):
        vbulletin.parse(page(body[:first] + body[second:], url))


@pytest.mark.parametrize("name", ["post_318240957.html", "post_318240957_no_app_data.html"])
def test_community_pages(name):
    body = (ROOT / "tests" / "fixtures" / "community" / name).read_bytes()
    url = "https://community.example.com/post/318240957"
    assert len(community.parse(page(body, url)).posts) == 5
    with pytest.raises(TruncatedPageError, match="ended early"):
        community.parse(page(cut(body, 0.97), url))


def test_parse_command_refuses_a_cut_saved_page(tmp_path):
    from crowdpulse.scrape import parse_file

    saved = tmp_path / "viewtopic.html"
    saved.write_bytes(phpbb_page(7, 0, 10, 25)[:3000])
    with pytest.raises(TruncatedPageError, match="ended early: the page stops before its closing"):
        parse_file("phpbb", saved, url=PHPBB_URL)
