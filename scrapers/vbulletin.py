"""vBulletin-style ``showthread.php`` pages (``pagenumber=`` paging).

Handles the Something Awful variant (``table.post#postNNN``, ``dt.author``, ``td.postbody``,
``td.postdate``) and stock vBulletin 3/4 (``div[id^=post_message_]`` / ``li.postcontainer``).
Quoted posts (``div.bbc-block``, ``blockquote``, ``div.bbcode_container``) and signatures are
removed. The thread is flat: the first post of page 1 is depth 0, every other post depth 1.
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

SOURCE = "vbulletin"
_DROP = ("div.bbc-block", "blockquote", "div.bbcode_container", "div.signature", "p.editedby",
         "div.bbcode_quote", "div.after_content")


def _thread_id(soup: BeautifulSoup, url: str) -> str | None:
    for href in [url] + [a.get("href", "") for a in soup.select("a[href*='threadid='], a[href*='showthread.php?t=']")]:
        tid = query_param(href, "threadid") or query_param(href, "t")
        if tid:
            return tid
    return None


def _current_page(soup: BeautifulSoup, url: str) -> int:
    sel = soup.select_one("div.pages option[selected]")
    if sel is not None and sel.get("value", "").isdigit():
        return int(sel["value"])
    current = soup.select_one("div.pagenav td.alt2 strong, span.selected a, li.current a")
    if current is not None and current.get_text(strip=True).isdigit():
        return int(current.get_text(strip=True))
    return int(query_param(url, "pagenumber") or query_param(url, "page") or 1)


def _next_page(soup: BeautifulSoup, url: str, current: int) -> int | None:
    for a in soup.select("a[rel=next], div.pages a[title='Next page'], a[title^='Next Page'], span.prev_next a[rel=next]"):
        n = query_param(absolute(url, a.get("href", "")), "pagenumber") or query_param(absolute(url, a.get("href", "")), "page")
        if n and n.isdigit() and int(n) > current:
            return int(n)
    return None


@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    raise_if_bot_wall(page)
    soup = BeautifulSoup(page_text(page), "lxml")
    url = strip_session(page.url)
    thread = _thread_id(soup, url)
    current = _current_page(soup, url)
    title_el = soup.select_one("a.bclast, span.threadtitle a, h1, title")
    title = title_el.get_text(" ", strip=True) if title_el else None
    if title and " - " in title and title_el.name == "title":
        title = title.rsplit(" - ", 1)[0]
    posts: list[Post] = []
    rows = soup.select("table.post[id^=post]") or soup.select("li.postcontainer[id^=post_], table[id^=post][id$='']")
    for row in rows:
        pid = re.sub(r"\D", "", row["id"])
        if not pid:
            continue
        author = row.select_one("dt.author, a.bigusername, a.username, div.username_container .username")
        body = row.select_one("td.postbody, div[id^=post_message_], div.postbody div.content")
        date = row.select_one("td.postdate, span.date, td.thead span.time, div.posthead span.postdate")
        date_text = " ".join(s.strip() for s in date.find_all(string=True) if s.strip() not in ("#", "?", "")) if date else None
        starter = current == 1 and not posts
        posts.append(Post(
            source=SOURCE, id=pid, thread_id=thread or pid,
            parent_id=None if starter else (posts[0].id if posts and posts[0].depth == 0 else None),
            depth=0 if starter else 1, author=author.get_text(" ", strip=True) if author else None,
            created_at=parse_forum_date(date_text), title=title if starter else None,
            body=html_to_text(body, drop=_DROP) if body is not None else "",
            url=absolute(url, f"showthread.php?goto=post&postid={pid}#post{pid}"),
        ))
    if not posts:
        raise ParseError(f"{page.url} has no vBulletin posts (expected table.post or div#post_message_N)")
    return ParseResult(posts=posts, next_cursor=_next_page(soup, url, current))


def crawl_thread(client: Any, target: str, base_url: str | None = None, cursor: Any = None, *,
                 pages: int | None = None) -> Iterator[CrawlStep]:
    """Crawl ``showthread.php?threadid=N`` through ``pagenumber=``. Cursor: ``{"page", "complete"}``."""
    url = thread_url(target, base_url, "showthread.php", "threadid", "vBulletin thread", "forum")
    thread = query_param(url, "threadid") or query_param(url, "t") or target
    url = re.sub(r"[?&]pagenumber=\d+", "", url)
    cursor = resume_cursor(cursor)
    page_no = cursor.get("page", 1) if cursor else int(query_param(target, "pagenumber") or 1) if not target.isdigit() else 1
    done = 0
    while page_no and (pages is None or done < pages):
        page = client.fetch(url, params={"pagenumber": page_no})
        result = parse(page)
        done += 1
        page_no = result.next_cursor
        yield CrawlStep(thread, result.posts, {"page": page_no, "complete": page_no is None}, url=page.url)
