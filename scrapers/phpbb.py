"""phpBB ``viewtopic.php`` pages (prosilver and themes built on it, and subsilver2-style
tables as a fallback).

``start=`` pages (offset = page x posts-per-page); ``sid=`` is stripped from every URL. The
thread starter (first post on the first page) has depth 0; phpBB is flat, so every other
post has depth 1 and, when the starter is on the same page, it as parent (else None).
Quotes (``blockquote``), signatures (``div.signature``) and code-box headers are removed.
A post's time is found wherever the common themes put it (:func:`forum_common.post_time`);
printed dates are read in the board's time zone, taken as UTC (see scrapers.dates). Posts that
show no time are counted in ``ParseResult.stats["parse/no_time"]``. Parsed with lxml (compiled
XPath); the page is decoded by :mod:`scrapers.encoding`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from scrapers.botwall import raise_if_bot_wall
from scrapers.complete import whole_page
from scrapers.crawl import CrawlStep, resume_cursor
from scrapers.dates import _fold
from scrapers.encoding import parse_html
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.forum_common import absolute, post_time, query_param, strip_session, thread_url, time_stats
from scrapers.records import Page, ParseResult, Post
from scrapers.text import lxml_text
from scrapers.xpath import classes, first, first_of, has_class as c, text_of, xpath

SOURCE = "phpbb"
_USERNAME = f"{c('username')} or {c('username-coloured')}"
_ROWS = f"/descendant::div[{c('post')} and starts-with(@id, 'p')]"
_AUTHOR = f"descendant::p[{c('author')}]"
_USER = f"descendant::*[(self::a or self::span) and ({_USERNAME})]"
_PROFILE_USER = f"descendant::dl[{c('postprofile')}]/descendant::dt/descendant::a[{_USERNAME}]"
_CONTENT = f"descendant::div[{c('postbody')}]/descendant::div[{c('content')}]"
# quotes and signatures go by tag / class; the code box's "Code: Select all" and attachment notes by XPath
_DROP_TAGS = ("blockquote",)
_DROP_CLASSES = ("signature",)
_DROP = (f"descendant::div[{c('codebox')}]/p"
         f" | descendant::div[{c('inline-attachment')}]/descendant::dl[{c('attachbox')}]/descendant::dd")
_TOPIC_LINKS = ("/descendant::link[@rel='canonical']/@href"
                f" | /descendant::h2[{c('topic-title')}]/descendant::a/@href"
                " | /descendant::h2/descendant::a[contains(@href, 't=')]/@href")
# the next page's link, most specific first: rel=next, prosilver's li.next / li.arrow.next, subsilver2's a.right-box
_NEXT = ("/descendant::a[@rel='next'][@href]", f"/descendant::li[{c('next')}]/descendant::a[@href]",
         f"/descendant::a[{c('right-box')} and {c('right')}][@href]")
_SUBSILVER_POSTED = re.compile(r"(Posted|Inviato|Verfasst|Posté)\s*:", re.I)


def _topic_id(root: Any, url: str) -> str | None:
    for href in [url] if query_param(url, "t") else xpath(root, _TOPIC_LINKS):
        t = query_param(href, "t")
        if t:
            return t
    return None


def _title(root: Any) -> str | None:
    """The topic's title: the first ``h2.topic-title`` (or ``h2`` in ``div#page-body``), or an
    ``h2``'s link to the topic."""
    for h2 in root.iter("h2"):
        if "topic-title" in classes(h2) or any(d.get("id") == "page-body" for d in h2.iterancestors("div")):
            return text_of(h2)
        link = first(h2, "descendant::a[contains(@href, 'viewtopic')]")
        if link is not None:
            return text_of(link)
    return None


def _author_line_date(author_p: Any) -> str | None:
    """prosilver's date: the last text of ``p.author`` itself ("by NAME » 24 Aug 2020 04:27")."""
    parts = [s for s in ([author_p.text] + [ch.tail for ch in author_p]) if s and s.strip()]
    return parts[-1].strip() if parts else None


@whole_page("phpbb")
@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    raise_if_bot_wall(page)
    try:
        root = parse_html(page, plain=True)
    except (etree.ParserError, ValueError):
        raise ParseError(f"{page.url} is not an HTML page") from None
    url = strip_session(page.url)
    topic = _topic_id(root, url)
    title = _title(root)
    start = int(query_param(url, "start") or 0)
    link_base = absolute(url, "viewtopic.php")
    posts: list[Post] = []
    rows = xpath(root, _ROWS)
    if not rows:
        return _parse_subsilver(root, page, url, topic, title, start)
    for i, row in enumerate(rows):
        pid = row.get("id")[1:]
        author_p = first(row, _AUTHOR)
        user = first(author_p, _USER) if author_p is not None else None
        user = user if user is not None else first(row, _PROFILE_USER)
        content = first(row, _CONTENT)
        date_text = _author_line_date(author_p) if author_p is not None else None
        posts.append(_post(pid, topic, i, start, text_of(user) if user is not None else None,
                           post_time(row, content, page.fetched_at, (date_text, text_of(author_p))),
                           content, link_base, title, posts))
    if not posts:
        raise ParseError(f"{page.url} has no phpBB posts (expected div.post in viewtopic.php)")
    return ParseResult(posts=posts, next_cursor=_next_start(root, url), stats=time_stats(posts, page.url))


def _post(pid: str, topic: str | None, i: int, start: int, author: str | None, when: tuple[Any, str],
          content: Any, link_base: str, title: str | None, so_far: list[Post]) -> Post:
    starter = start == 0 and i == 0
    return Post(
        source=SOURCE, id=pid, thread_id=topic or pid,
        parent_id=None if starter else (so_far[0].id if so_far and so_far[0].depth == 0 else None),
        depth=0 if starter else 1, author=author, created_at=when[0], time_precision=when[1],
        title=title if starter else None,
        body=lxml_text(content, drop_classes=_DROP_CLASSES, drop_tags=_DROP_TAGS, drop=xpath(content, _DROP))
        if content is not None else "",
        url=f"{link_base}?p={pid}#p{pid}",
    )


def _parse_subsilver(root: Any, page: Page, url: str, topic: str | None, title: str | None, start: int) -> ParseResult:
    """subsilver2-style tables: ``a[name^=p]`` anchors, ``b.postauthor``, ``div.postbody``."""
    link_base = absolute(url, "viewtopic.php")
    posts: list[Post] = []
    for i, anchor in enumerate(xpath(root, "/descendant::a[starts-with(@name, 'p')]")):
        pid = anchor.get("name")[1:]
        if not pid.isdigit():
            continue
        row = next(anchor.iterancestors("table"), None)
        row = row if row is not None else anchor.getparent()
        author = first(row, f"descendant::*[{c('postauthor')}]")
        body = first(row, f"descendant::div[{c('postbody')}]")
        date_text = _subsilver_date(row)
        posts.append(_post(pid, topic, i, start, text_of(author) if author is not None else None,
                           post_time(row, body, page.fetched_at, (date_text,)), body, link_base, title, posts))
    if not posts:
        raise ParseError(f"{page.url} has no phpBB posts (neither prosilver div.post nor subsilver2 tables)")
    return ParseResult(posts=posts, next_cursor=_next_start(root, url), stats=time_stats(posts, page.url))


def _subsilver_date(row: Any) -> str | None:
    """The text after "Posted:" ("<b>Posted:</b> Sat May 30, 2020 12:40 am": the label's tail)."""
    for text in xpath(row, "descendant::text()"):
        if _SUBSILVER_POSTED.search(text):
            tail = text.getparent().tail if text.is_text else None
            return _SUBSILVER_POSTED.split(text + (tail or ""), maxsplit=1)[-1].strip()
    return None


def _next_start(root: Any, url: str) -> int | None:
    nxt = first_of(root, *_NEXT)
    if nxt is not None:
        value = query_param(absolute(url, nxt.get("href")), "start")
        return int(value) if value is not None else None
    return None


def crawl_topic(client: Any, target: str, base_url: str | None = None, cursor: Any = None, *,
                pages: int | None = None) -> Iterator[CrawlStep]:
    """Crawl ``viewtopic.php?t=N`` page by page through ``start=``. ``target`` is a topic URL
    or a topic id (then ``base_url`` is the board's address). Cursor: ``{"start", "complete"}``."""
    url = thread_url(target, base_url, "viewtopic.php", "t", "phpBB topic", "board")
    topic = query_param(url, "t") or target
    cursor = resume_cursor(cursor)
    start = cursor.get("start", 0) if cursor else 0
    done = 0
    while start is not None and (pages is None or done < pages):
        base = re.sub(r"[?&]start=\d+", "", url)
        page = client.fetch(base, params={"start": start} if start else None)
        result = parse(page)
        done += 1
        start = result.next_cursor
        yield CrawlStep(topic, result.posts, {"start": start, "complete": start is None}, url=page.url,
                        stats=result.stats)


__all__ = ["parse", "crawl_topic", "SOURCE", "_fold"]
