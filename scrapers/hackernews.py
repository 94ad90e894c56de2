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

from lxml import etree

from scrapers.botwall import raise_if_bot_wall
from scrapers.complete import whole_page
from scrapers.crawl import CrawlStep, base_of, load_json, resume_cursor
from scrapers.encoding import parse_html
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.records import Page, ParseResult, Post
from scrapers.text import html_to_text, lxml_text, utc_from_epoch, utc_from_iso
from scrapers.xpath import first as _first, has_class as _cls

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
        stamp = age.get("title").split()[0]  # newer pages: "2023-01-02T16:01:16 1672675276"
        return utc_from_iso(stamp), "exact"
    m = _AGO.search(" ".join(age.text_content().split()))
    if m:
        return page.fetched_at - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)]), "day"
    return None, "exact"


def _depth(row: Any) -> int:
    ind = _first(row, f".//td[{_cls('ind')}]")
    if ind is None:
        return 0
    if ind.get("indent") is not None:
        return int(ind.get("indent"))
    img = _first(ind, ".//img")
    return int(img.get("width", 0) or 0) // 40 if img is not None else 0


def _scan_row(row: Any) -> dict[str, Any]:
    """One pass over a comment row: indent, user link, age span and the text element."""
    found: dict[str, Any] = {"indent": 0}
    for el in row.iter():
        cls = el.get("class")
        if not cls:
            continue
        classes = cls.split()
        if "ind" in classes:
            if el.get("indent") is not None:
                found["indent"] = int(el.get("indent"))
            else:
                img = next(el.iter("img"), None)
                found["indent"] = int(img.get("width", 0) or 0) // 40 if img is not None else 0
        elif "hnuser" in classes and "hnuser" not in found:
            found["hnuser"] = el
        elif "age" in classes and "age" not in found:
            found["age"] = el
        elif "text" not in found and ("commtext" in classes or (
                el.tag == "span" and classes[0].startswith("c") and el.getparent() is not None
                and "comment" in (el.getparent().get("class") or "").split())):
            found["text"] = el
    return found


def _rows(root: Any) -> list[Any]:
    return [tr for tr in root.iter("tr") if "comtr" in (tr.get("class") or "").split()]


@whole_page("hackernews")
@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    """One item page: the story (depth 0, from ``table.fatitem``) and its comment rows, with
    parents rebuilt from indentation. ``next_cursor`` is the next page number from
    ``a.morelink`` (None on the last page). Uses lxml directly (thousands of comments/s)."""
    if page.body.lstrip()[:1] in (b"{", b"["):
        return parse_api_item(page)
    raise_if_bot_wall(page)
    try:
        root = parse_html(page)
    except (etree.ParserError, ValueError):
        raise ParseError(f"{page.url} is not an HTML page") from None
    fat = next((t for t in root.iter("table") if "fatitem" in (t.get("class") or "").split()), None)
    story = _first(fat, f".//tr[{_cls('athing')} and @id]") if fat is not None else None
    if story is None:
        raise ParseError(f"{page.url} is not a Hacker News item page (no table.fatitem)")
    story_id = story.get("id")
    sub = _first(fat, f".//td[{_cls('subtext')}]")
    title_el = _first(story, f".//span[{_cls('titleline')}]/a | .//a[{_cls('storylink')}]")
    score_el = _first(sub, f".//span[{_cls('score')}]") if sub is not None else None
    user_el = _first(sub, f".//a[{_cls('hnuser')}]") if sub is not None else None
    created, precision = _time(_first(sub, f".//span[{_cls('age')}]") if sub is not None else None, page)
    top = _first(fat, f".//div[{_cls('toptext')}]")
    posts = [Post(
        source=SOURCE, id=story_id, thread_id=story_id, parent_id=None, depth=0,
        author=user_el.text_content() if user_el is not None else None,
        created_at=created, time_precision=precision,
        title=" ".join(title_el.text_content().split()) if title_el is not None else None,
        body=lxml_text(top) if top is not None else "",
        score=int(score_el.text_content().split()[0]) if score_el is not None else None, url=_item_url(story_id),
    )]
    stack: list[str] = []  # stack[d] = id of the last comment seen at indent d
    for row in _rows(root):
        found = _scan_row(row)
        indent = found["indent"]
        del stack[indent:]
        parent = stack[-1] if stack else story_id
        cid = row.get("id")
        stack.append(cid)
        user, text_el = found.get("hnuser"), found.get("text")
        created, precision = _time(found.get("age"), page)
        posts.append(Post(
            source=SOURCE, id=cid, thread_id=story_id, parent_id=parent, depth=indent + 1,
            author=user.text_content() if user is not None else None, created_at=created, time_precision=precision,
            body=lxml_text(text_el, drop_classes=("reply",)) if text_el is not None else "[deleted]",
            url=_item_url(cid),
        ))
    more = next((a for a in root.iter("a") if "morelink" in (a.get("class") or "").split() and a.get("href")), None)
    next_page = None
    if more is not None:
        query = parse_qs(urlsplit(more.get("href")).query)
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
