"""Hacker News: item pages (``item?id=N&p=K``, follow ``a.morelink``) and the Firebase API.

Two comment markups are handled: the current ``span.commtext.cNN`` / ``td.ind[indent=N]``
and the older ``div.comment > span.c00`` / ``td.ind img[width=40*N]``. ``span.age[title]``
gives the exact time; older saves show only "2 hours ago", which is turned into a time
relative to the page's fetch time with ``time_precision="day"``.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from bs4 import BeautifulSoup

from scrapers.botwall import raise_if_bot_wall
from scrapers.crawl import CrawlStep, base_of, load_json, resume_cursor
from scrapers.errors import ParseError
from scrapers.records import Page, ParseResult, Post
from scrapers.text import html_to_text, utc_from_epoch, utc_from_iso

log = logging.getLogger(__name__)

SOURCE = "hackernews"
WEB = "https://news.ycombinator.com"
API = "https://hacker-news.firebaseio.com"
_AGO = re.compile(r"(\d+)\s+(minute|hour|day|month|year)s?\s+ago")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 365 * 86400}


def _item_url(item_id: str | int) -> str:
    return f"{WEB}/item?id={item_id}"


def _time(age: Any, page: Page) -> tuple[Any, str]:
    if age is None:
        return None, "exact"
    if age.get("title"):
        stamp = age["title"].split()[0]  # newer pages: "2023-01-02T16:01:16 1672675276"
        return utc_from_iso(stamp), "exact"
    m = _AGO.search(age.get_text(" ", strip=True))
    if m:
        return page.fetched_at - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)]), "day"
    return None, "exact"


def _depth(row: Any) -> int:
    ind = row.select_one("td.ind")
    if ind is None:
        return 0
    if ind.get("indent") is not None:
        return int(ind["indent"])
    img = ind.find("img")
    return int(img.get("width", 0)) // 40 if img else 0


def parse(page: Page) -> ParseResult:
    """One item page: the story (depth 0, from ``table.fatitem``) and its comment rows, with
    parents rebuilt from indentation. ``next_cursor`` is the next page number from
    ``a.morelink`` (None on the last page)."""
    if page.body.lstrip()[:1] in (b"{", b"["):
        return parse_api_item(page)
    raise_if_bot_wall(page)
    soup = BeautifulSoup(page.body, "lxml")
    story = soup.select_one("table.fatitem tr.athing[id]")
    if story is None:
        raise ParseError(f"{page.url} is not a Hacker News item page (no table.fatitem)")
    story_id = story["id"]
    sub = soup.select_one("table.fatitem td.subtext")
    title_el = story.select_one("span.titleline > a, a.storylink")
    score_el = sub.select_one("span.score") if sub else None
    created, precision = _time(sub.select_one("span.age") if sub else None, page)
    top = soup.select_one("table.fatitem div.toptext")
    posts = [Post(
        source=SOURCE, id=story_id, thread_id=story_id, parent_id=None, depth=0,
        author=(sub.select_one("a.hnuser").get_text() if sub and sub.select_one("a.hnuser") else None),
        created_at=created, time_precision=precision,
        title=title_el.get_text(" ", strip=True) if title_el else None,
        body=html_to_text(top) if top else "",
        score=int(score_el.get_text().split()[0]) if score_el else None, url=_item_url(story_id),
    )]
    stack: list[str] = []  # stack[d] = id of the last comment seen at indent d
    for row in soup.select("tr.athing.comtr"):
        indent = _depth(row)
        del stack[indent:]
        parent = stack[-1] if stack else story_id
        stack.append(row["id"])
        user = row.select_one("a.hnuser")
        text_el = row.select_one("span.commtext, div.commtext, div.comment > span[class^=c]")
        created, precision = _time(row.select_one("span.age"), page)
        posts.append(Post(
            source=SOURCE, id=row["id"], thread_id=story_id, parent_id=parent, depth=indent + 1,
            author=user.get_text() if user else None, created_at=created, time_precision=precision,
            body=html_to_text(text_el, drop=("div.reply",)) if text_el else "[deleted]",
            url=_item_url(row["id"]),
        ))
    more = soup.select_one("a.morelink[href]")
    next_page = None
    if more:
        query = parse_qs(urlsplit(more["href"]).query)
        next_page = int(query.get("p", ["0"])[0]) or None
    return ParseResult(posts=posts, next_cursor=next_page)


def parse_api_item(page: Page, depth: int = 0, thread_id: str | None = None) -> ParseResult:
    """One Firebase item (``/v0/item/{id}.json``): the post and a pending fetch per ``kids`` id."""
    item = load_json(page)
    if not isinstance(item, dict) or "id" not in item:
        raise ParseError(f"{page.url} is not a Hacker News API item" + (" (null: no such item)" if item is None else ""))
    iid = str(item["id"])
    is_story = item.get("type") in ("story", "job", "poll") or "parent" not in item
    thread = thread_id or (iid if is_story else None)
    body = html_to_text(item.get("text")) if item.get("text") else ""
    if item.get("deleted") or item.get("dead"):
        body = "[deleted]"
    post = Post(
        source=SOURCE, id=iid, thread_id=thread or iid,
        parent_id=None if is_story else str(item.get("parent")), depth=0 if is_story else depth,
        author=item.get("by"), created_at=utc_from_epoch(item.get("time")), title=item.get("title"),
        body=body, score=item.get("score"), url=_item_url(iid), raw=json.dumps(item),
    )
    pending = [{"type": "item", "id": kid, "depth": post.depth + 1, "thread_id": post.thread_id}
               for kid in item.get("kids", [])]
    return ParseResult(posts=[post], next_cursor=None, pending=pending)


def item_id_of(target: str) -> str:
    m = re.search(r"[?&]id=(\d+)", target) or re.fullmatch(r"\s*(\d+)\s*", target)
    if not m:
        raise ParseError(f"cannot find a Hacker News item id in {target!r}: give item?id=N or the number")
    return m.group(1)


def crawl_item(client: Any, target: str, base_url: str = WEB, cursor: Any = None, *,
               pages: int | None = None) -> Iterator[CrawlStep]:
    """Crawl an item page by page (``&p=N``) while ``a.morelink`` points further.
    Cursor: ``{"page": next page number, "complete": bool}``."""
    item_id = item_id_of(target)
    cursor = resume_cursor(cursor)
    page_no = cursor.get("page", 1) if cursor else 1
    done = 0
    while page_no and (pages is None or done < pages):
        page = client.fetch(f"{base_of(base_url)}/item", params={"id": item_id, **({"p": page_no} if page_no > 1 else {})})
        result = parse(page)
        done += 1
        page_no = result.next_cursor
        yield CrawlStep(item_id, result.posts, {"page": page_no, "complete": page_no is None}, url=page.url)


def crawl_api(client: Any, target: str, base_url: str = API, cursor: Any = None, *,
              limit: int | None = None) -> Iterator[CrawlStep]:
    """Crawl a story through the Firebase API, one item per step, breadth-first over ``kids``.
    Cursor: ``{"pending": [...], "complete": bool}``."""
    item_id = item_id_of(target)
    base = base_of(base_url)
    cursor = resume_cursor(cursor)
    pending = list(cursor["pending"]) if cursor else [{"type": "item", "id": int(item_id), "depth": 0, "thread_id": None}]
    fetched = 0
    while pending and (limit is None or fetched < limit):
        job = pending.pop(0)
        page = client.fetch(f"{base}/v0/item/{job['id']}.json", api=True)
        result = parse_api_item(page, depth=job["depth"], thread_id=job.get("thread_id"))
        fetched += 1
        pending.extend(result.pending)
        yield CrawlStep(item_id, result.posts, {"pending": pending, "complete": not pending}, url=page.url)


def absolute(url: str, href: str) -> str:
    return urljoin(url, href)
