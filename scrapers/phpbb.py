"""phpBB ``viewtopic.php`` pages (prosilver, and subsilver2-style tables as a fallback).

``start=`` pages (offset = page x posts-per-page); ``sid=`` is stripped from every URL. The
thread starter (first post on the first page) has depth 0; phpBB is flat, so every other
post has depth 1 and, when the starter is on the same page, it as parent (else None).
Quotes (``blockquote``), signatures (``div.signature``) and code-box headers are removed.
Dates are read as written, in the board's time zone, taken as UTC (see scrapers.dates).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bs4 import BeautifulSoup

from scrapers.botwall import raise_if_bot_wall
from scrapers.crawl import CrawlStep, resume_cursor
from scrapers.dates import parse_forum_date
from scrapers.encoding import page_text
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.forum_common import absolute, query_param, strip_session, thread_url
from scrapers.records import Page, ParseResult, Post
from scrapers.text import html_to_text
from scrapers.dates import _fold

SOURCE = "phpbb"
_DROP = ("blockquote", "div.signature", "div.codebox > p", "div.inline-attachment dl.attachbox dd")
_BY = re.compile(r"^\s*(by|da|von|par|por|door|av|od|przez)\s+", re.I)


def _topic_id(soup: BeautifulSoup, url: str) -> str | None:
    for href in [url] + [el.get("href", "") for el in soup.select("link[rel=canonical], h2.topic-title a, h2 a[href*='t=']")]:
        t = query_param(href, "t")
        if t:
            return t
    return None


def _date_text(author_p: Any) -> str:
    time_el = author_p.find("time")
    if time_el is not None and time_el.get("datetime"):
        return time_el["datetime"]
    parts = [s for s in author_p.find_all(string=True, recursive=False) if s.strip()]
    return parts[-1].strip() if parts else author_p.get_text(" ", strip=True)


@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    raise_if_bot_wall(page)
    soup = BeautifulSoup(page_text(page), "lxml")
    url = strip_session(page.url)
    topic = _topic_id(soup, url)
    title_el = soup.select_one("h2.topic-title a, h2.topic-title, h2 a[href*='viewtopic'], div#page-body h2")
    title = title_el.get_text(" ", strip=True) if title_el else None
    start = int(query_param(url, "start") or 0)
    posts: list[Post] = []
    rows = soup.select("div.post[id^=p]")
    if not rows:
        return _parse_subsilver(soup, page, url, topic, title, start)
    for i, row in enumerate(rows):
        pid = row["id"][1:]
        author_p = row.select_one("p.author")
        user = (author_p.select_one("a.username, a.username-coloured, span.username, span.username-coloured")
                if author_p else None) or row.select_one("dl.postprofile dt a.username, dl.postprofile dt a.username-coloured")
        content = row.select_one("div.postbody div.content")
        posts.append(_post(pid, topic, i, start, user.get_text(strip=True) if user else None,
                           _date_text(author_p) if author_p else None, content, url, title, posts))
    if not posts:
        raise ParseError(f"{page.url} has no phpBB posts (expected div.post in viewtopic.php)")
    return ParseResult(posts=posts, next_cursor=_next_start(soup, url))


def _post(pid: str, topic: str | None, i: int, start: int, author: str | None, date_text: str | None,
          content: Any, url: str, title: str | None, so_far: list[Post]) -> Post:
    starter = start == 0 and i == 0
    created = parse_forum_date(date_text) if date_text and not re.match(r"\d{4}-\d\d-\d\dT", date_text) else None
    if created is None and date_text and re.match(r"\d{4}-\d\d-\d\dT", date_text):
        from scrapers.text import utc_from_iso
        created = utc_from_iso(date_text)
    return Post(
        source=SOURCE, id=pid, thread_id=topic or pid,
        parent_id=None if starter else (so_far[0].id if so_far and so_far[0].depth == 0 else None),
        depth=0 if starter else 1, author=author, created_at=created,
        title=title if starter else None, body=html_to_text(content, drop=_DROP) if content is not None else "",
        url=absolute(url, f"viewtopic.php?p={pid}#p{pid}"),
    )


def _parse_subsilver(soup: BeautifulSoup, page: Page, url: str, topic: str | None, title: str | None, start: int) -> ParseResult:
    """subsilver2-style tables: ``a[name^=p]`` anchors, ``b.postauthor``, ``div.postbody``."""
    posts: list[Post] = []
    for i, anchor in enumerate(soup.select("a[name^=p]")):
        pid = anchor["name"][1:]
        if not pid.isdigit():
            continue
        row = anchor.find_parent("table") or anchor.parent
        author = row.select_one(".postauthor, b.postauthor")
        body = row.select_one("div.postbody")
        date_el = row.find(string=re.compile(r"(Posted|Inviato|Verfasst|Posté)\s*:", re.I))
        date_text = re.sub(r"^.*?:\s*", "", date_el) if date_el else None
        posts.append(_post(pid, topic, i, start, author.get_text(strip=True) if author else None,
                           date_text, body, url, title, posts))
    if not posts:
        raise ParseError(f"{page.url} has no phpBB posts (neither prosilver div.post nor subsilver2 tables)")
    return ParseResult(posts=posts, next_cursor=_next_start(soup, url))


def _next_start(soup: BeautifulSoup, url: str) -> int | None:
    nxt = soup.select_one("a[rel=next], li.next a, li.arrow.next a, a.right-box.right")
    if nxt is not None and nxt.get("href"):
        value = query_param(absolute(url, nxt["href"]), "start")
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
        yield CrawlStep(topic, result.posts, {"start": start, "complete": start is None}, url=page.url)


__all__ = ["parse", "crawl_topic", "SOURCE", "_fold"]
