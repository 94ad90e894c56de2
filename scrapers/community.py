"""Broker community posts in the Tiger Brokers style: a dated post with ``$Name(TICKER)$``
cashtags, a disclaimer paragraph, and dated comments by named users.

The embedded ``<script>window.__APP_DATA__ = {...}</script>`` JSON is parsed when present,
else the visible HTML (``article.post``, ``div.comment``). The post body keeps cashtags
exactly as written. The disclaimer (a ``disclaimer`` field, a ``div.disclaimer``, or a
paragraph starting "Disclaimer:"/"Risk warning:"/"免责声明") is NOT part of ``body``: it is kept
in ``raw`` as ``{"disclaimer": ...}`` so it never reaches the sentiment model.
Comments are children of the post (depth 1); replies to comments have depth 2.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bs4 import BeautifulSoup

from scrapers.botwall import raise_if_bot_wall
from scrapers.complete import whole_page
from scrapers.crawl import CrawlStep
from scrapers.encoding import page_text
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.records import Page, ParseResult, Post
from scrapers.text import html_to_text, utc_from_epoch, utc_from_iso

SOURCE = "community"
_APP_DATA = re.compile(r"window\.__APP_DATA__\s*=\s*", re.S)
_DISCLAIMER = re.compile(r"^\s*(disclaimer|risk warning|risk disclosure|免责声明|风险提示)\s*[:：]", re.I)
CASHTAG = re.compile(r"\$([^$()\n]{1,80})\((\w{1,10}(?:\.\w{1,4})?)\)\$")


def _when(value: Any) -> Any:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return utc_from_epoch(value)
    return utc_from_iso(value) if value else None


def split_disclaimer(text: str) -> tuple[str, str | None]:
    """Body paragraphs without the disclaimer, and the disclaimer (None when absent)."""
    kept, disclaimer = [], []
    for para in text.split("\n\n"):
        (disclaimer if _DISCLAIMER.match(para) or disclaimer else kept).append(para)
    return "\n\n".join(kept), ("\n\n".join(disclaimer) or None)


def _app_data(text: str, url: str) -> dict[str, Any] | None:
    m = _APP_DATA.search(text)
    if not m:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text, m.end())
    except json.JSONDecodeError as exc:
        raise ParseError(f"{url}: window.__APP_DATA__ is not valid JSON ({exc.msg} at character {exc.pos})") from None
    return data if isinstance(data, dict) and "post" in data else None


def _from_app_data(data: dict[str, Any], url: str) -> list[Post]:
    p = data["post"]
    pid = str(p["id"])
    body, inline_disclaimer = split_disclaimer(html_to_text(p.get("content") or ""))
    disclaimer = p.get("disclaimer") or inline_disclaimer
    post_url = p.get("url") or url
    posts = [Post(source=SOURCE, id=pid, thread_id=pid, parent_id=None, depth=0,
                  author=(p.get("author") or {}).get("name"), created_at=_when(p.get("createdAt")),
                  title=p.get("title"), body=body, score=p.get("likeCount"), url=post_url,
                  raw=json.dumps({"disclaimer": disclaimer}, ensure_ascii=False) if disclaimer else None)]

    def add(comment: dict[str, Any], parent: str, depth: int) -> None:
        cid = str(comment["id"])
        posts.append(Post(source=SOURCE, id=cid, thread_id=pid, parent_id=str(comment.get("replyTo") or parent),
                          depth=depth, author=(comment.get("author") or {}).get("name"),
                          created_at=_when(comment.get("createdAt")), body=html_to_text(comment.get("content") or ""),
                          score=comment.get("likeCount"), url=f"{post_url}#comment-{cid}"))
        for reply in comment.get("replies") or []:
            add(reply, cid, depth + 1)

    for comment in data.get("comments") or []:
        add(comment, pid, 1)
    return posts


def _from_html(soup: BeautifulSoup, url: str) -> list[Post]:
    art = soup.select_one("article.post[data-post-id]")
    if art is None:
        raise ParseError(f"{url} is not a community post page (neither __APP_DATA__ nor article.post)")
    pid = art["data-post-id"]
    canonical = soup.select_one("link[rel=canonical]")
    post_url = canonical["href"] if canonical is not None and canonical.get("href") else url
    content = art.select_one("div.post-content")
    disc_el = content.select_one("div.disclaimer, p.disclaimer") if content else None
    disclaimer = html_to_text(disc_el) if disc_el is not None else None
    body, inline = split_disclaimer(html_to_text(content, drop=("div.disclaimer", "p.disclaimer")) if content else "")
    disclaimer = disclaimer or inline
    meta = art.select_one("div.post-meta")
    posts = [Post(source=SOURCE, id=pid, thread_id=pid, parent_id=None, depth=0,
                  author=_text(meta, "a.author"), created_at=_time(meta), title=_text(art, "h1.post-title"),
                  body=body, score=_int(_text(meta, "span.like-count")), url=post_url,
                  raw=json.dumps({"disclaimer": disclaimer}, ensure_ascii=False) if disclaimer else None)]
    for c in soup.select("div.comment[data-comment-id]"):
        ancestors = [a for a in c.find_parents("div") if a.get("data-comment-id")]
        cid = c["data-comment-id"]
        posts.append(Post(source=SOURCE, id=cid, thread_id=pid,
                          parent_id=c.get("data-reply-to") or (ancestors[0]["data-comment-id"] if ancestors else pid),
                          depth=len(ancestors) + 1, author=_text(c, "a.author", own=True), created_at=_time(c, own=True),
                          body=html_to_text(c.find("div", class_="comment-content")),
                          score=_int(_text(c, "span.like-count", own=True)), url=f"{post_url}#comment-{cid}"))
    return posts


def _own(el: Any, selector: str) -> Any:
    """First match of ``selector`` in ``el`` that is not inside a nested comment."""
    for found in el.select(selector):
        owner = found.find_parent("div", attrs={"data-comment-id": True})
        if owner is el:
            return found
    return None


def _text(el: Any, selector: str, own: bool = False) -> str | None:
    if el is None:
        return None
    found = _own(el, selector) if own else el.select_one(selector)
    return found.get_text(" ", strip=True) if found is not None else None


def _time(el: Any, own: bool = False) -> Any:
    if el is None:
        return None
    t = _own(el, "time[datetime]") if own else el.select_one("time[datetime]")
    return utc_from_iso(t["datetime"]) if t is not None else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


@whole_page("community")
@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    raise_if_bot_wall(page)
    text = page_text(page)
    data = _app_data(text, page.url)
    if data is not None:
        return ParseResult(posts=_from_app_data(data, page.url))
    return ParseResult(posts=_from_html(BeautifulSoup(text, "lxml"), page.url))


def crawl_post(client: Any, target: str, base_url: str | None = None, cursor: Any = None) -> Iterator[CrawlStep]:
    """Fetch one community post page (post + its comments) as one step."""
    url = target
    if not target.startswith(("http://", "https://")):
        if not base_url:
            raise ParseError("a community post id needs the site's address: pass --base-url https://community.example.com")
        url = f"{base_url.rstrip('/')}/post/{target.strip('/')}"
    page = client.fetch(url)
    result = parse(page)
    yield CrawlStep(result.posts[0].thread_id if result.posts else target, result.posts, {"complete": True}, url=page.url)
