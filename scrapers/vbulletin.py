"""vBulletin-style ``showthread.php`` pages (``pagenumber=`` paging).

Handles the Something Awful variant (``table.post#postNNN``, ``dt.author``, ``td.postbody``,
``td.postdate``) and stock vBulletin 3/4 (``div[id^=post_message_]`` / ``li.postcontainer``).
Quoted posts (``div.bbc-block``, ``blockquote``, ``div.bbcode_container``) and signatures are
removed (vBulletin 4's ``blockquote.postcontent`` is the post's own text and stays). The thread
is flat: the first post of page 1 is depth 0, every other post depth 1.
A post's time is found wherever the common themes put it (:func:`forum_common.post_time`:
``<time>``, data attributes, titles, then the theme's date text such as "05-30-2020, 12:40 AM"
or "Today, 10:32 AM"); posts that show none are counted in ``stats["parse/no_time"]``. Parsed
with lxml (compiled XPath); the page is decoded by :mod:`scrapers.encoding`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from scrapers.botwall import raise_if_bot_wall
from scrapers.complete import whole_page
from scrapers.crawl import CrawlStep, resume_cursor
from scrapers.encoding import parse_html
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.forum_common import absolute, post_time, query_param, strip_session, thread_url, time_stats
from scrapers.records import Page, ParseResult, Post
from scrapers.text import lxml_text
from scrapers.xpath import first, first_of, has_class as c, text_of, xpath

SOURCE = "vbulletin"
_DROP_CLASSES = ("bbc-block", "bbcode_container", "signature", "editedby", "bbcode_quote", "after_content")
# quotes; vBulletin 4 wraps the post's own text in blockquote.postcontent, which stays
_DROP = "descendant::blockquote[not(contains(@class, 'postcontent'))]"
_THREAD_LINKS = "/descendant::a[contains(@href, 'threadid=') or contains(@href, 'showthread.php?t=')]/@href"
_SELECTED_PAGE = f"/descendant::div[{c('pages')}]/descendant::option[@selected]"
_CURRENT_PAGE = (f"/descendant::div[{c('pagenav')}]/descendant::td[{c('alt2')}]/descendant::strong"
                 f" | /descendant::span[{c('selected')}]/descendant::a | /descendant::li[{c('current')}]/descendant::a")
_NEXT = (f"/descendant::a[@rel='next'] | /descendant::div[{c('pages')}]/descendant::a[@title='Next page']"
         f" | /descendant::a[starts-with(@title, 'Next Page')] | /descendant::span[{c('prev_next')}]/descendant::a[@rel='next']")
# the page's <title> comes first in the document whenever there is one
_TITLE = ("/descendant::head/title", f"/descendant::a[{c('bclast')}] | /descendant::span[{c('threadtitle')}]/descendant::a"
          " | /descendant::h1 | /descendant::title")
_ROWS = f"/descendant::table[{c('post')} and starts-with(@id, 'post')]"
_ROWS_STOCK = (f"/descendant::li[{c('postcontainer')} and starts-with(@id, 'post_')]"
               " | /descendant::table[starts-with(@id, 'post')]")
_AUTHOR = (f"descendant::dt[{c('author')}] | descendant::a[{c('bigusername')}] | descendant::a[{c('username')}]"
           f" | descendant::div[{c('username_container')}]/descendant::*[{c('username')}]")
_BODY = (f"descendant::td[{c('postbody')}] | descendant::div[starts-with(@id, 'post_message_')]"
         f" | descendant::div[{c('postbody')}]/descendant::div[{c('content')}]")
# the theme's date: Something Awful's td.postdate, vBulletin 4's span.date, vBulletin 3's thead
_DATE = (f"descendant::td[{c('postdate')}] | descendant::span[{c('date')}]"
         f" | descendant::td[{c('thead')}]/descendant::span[{c('time')}]"
         f" | descendant::div[{c('posthead')}]/descendant::span[{c('postdate')}]")
_THEAD = f"descendant::td[{c('thead')}]"


def _thread_id(root: Any, url: str) -> str | None:
    for href in [url] if query_param(url, "threadid") or query_param(url, "t") else xpath(root, _THREAD_LINKS):
        tid = query_param(href, "threadid") or query_param(href, "t")
        if tid:
            return tid
    return None


def _current_page(root: Any, url: str) -> int:
    sel = first(root, _SELECTED_PAGE)
    if sel is not None and sel.get("value", "").isdigit():
        return int(sel.get("value"))
    current = first(root, _CURRENT_PAGE)
    if current is not None and text_of(current).isdigit():
        return int(text_of(current))
    return int(query_param(url, "pagenumber") or query_param(url, "page") or 1)


def _next_page(root: Any, url: str, current: int) -> int | None:
    for a in xpath(root, _NEXT):
        link = absolute(url, a.get("href", ""))
        n = query_param(link, "pagenumber") or query_param(link, "page")
        if n and n.isdigit() and int(n) > current:
            return int(n)
    return None


def _date_text(date: Any) -> str | None:
    """The theme's date element's text without its "#" / "?" link marks."""
    if date is None:
        return None
    return " ".join(s.strip() for s in xpath(date, "descendant::text()") if s.strip() not in ("#", "?", ""))


@whole_page("vbulletin")
@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    raise_if_bot_wall(page)
    try:
        root = parse_html(page, plain=True)
    except (etree.ParserError, ValueError):
        raise ParseError(f"{page.url} is not an HTML page") from None
    url = strip_session(page.url)
    thread = _thread_id(root, url)
    current = _current_page(root, url)
    title_el = first_of(root, *_TITLE)
    title = text_of(title_el) if title_el is not None else None
    if title and " - " in title and title_el.tag == "title":
        title = title.rsplit(" - ", 1)[0]
    link_base = absolute(url, "showthread.php")
    posts: list[Post] = []
    for row in xpath(root, _ROWS) or xpath(root, _ROWS_STOCK):
        pid = re.sub(r"\D", "", row.get("id"))
        if not pid:
            continue
        author = first(row, _AUTHOR)
        body = first(row, _BODY)
        when = post_time(row, body, page.fetched_at, (_date_text(first(row, _DATE)), text_of(first(row, _THEAD))))
        starter = current == 1 and not posts
        posts.append(Post(
            source=SOURCE, id=pid, thread_id=thread or pid,
            parent_id=None if starter else (posts[0].id if posts and posts[0].depth == 0 else None),
            depth=0 if starter else 1, author=text_of(author) if author is not None else None,
            created_at=when[0], time_precision=when[1], title=title if starter else None,
            body=lxml_text(body, drop_classes=_DROP_CLASSES, drop=xpath(body, _DROP)) if body is not None else "",
            url=f"{link_base}?goto=post&postid={pid}#post{pid}",
        ))
    if not posts:
        raise ParseError(f"{page.url} has no vBulletin posts (expected table.post or div#post_message_N)")
    return ParseResult(posts=posts, next_cursor=_next_page(root, url, current), stats=time_stats(posts, page.url))


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
        yield CrawlStep(thread, result.posts, {"page": page_no, "complete": page_no is None}, url=page.url,
                        stats=result.stats)
