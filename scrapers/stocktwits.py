"""StockTwits symbol streams: ``/api/2/streams/symbol/{SYM}.json``.

30 messages a page, newest first; ``max`` pages back in time (cursor.max = oldest id on the
page), ``since`` polls forward (cursor.since = newest id). Each message keeps its author's
own Bullish/Bearish tag (``entities.sentiment.basic``) as ``user_label``.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from scrapers.crawl import CrawlStep, base_of, load_json, resume_cursor
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.records import Page, ParseResult, Post
from scrapers.text import clean_text, utc_from_iso

log = logging.getLogger(__name__)

SOURCE = "stocktwits"
API = "https://api.stocktwits.com"
_LABELS = {"bullish": "bullish", "bearish": "bearish"}


def message_to_post(msg: dict[str, Any]) -> Post:
    """One StockTwits message object to a Post (a reply's parent is the message it answers)."""
    mid = str(msg["id"])
    conv = msg.get("conversation") or {}
    parent = conv.get("in_reply_to_message_id")
    thread = conv.get("parent_message_id") or msg["id"]
    sentiment = (msg.get("entities") or {}).get("sentiment") or {}
    label = _LABELS.get(str(sentiment.get("basic") or "").lower())
    user = msg.get("user") or {}
    likes = msg.get("likes") or {}
    return Post(
        source=SOURCE, id=mid, thread_id=str(thread), parent_id=str(parent) if parent else None,
        depth=1 if parent else 0, author=user.get("username"),
        created_at=utc_from_iso(msg.get("created_at")), title=None,
        body=clean_text(msg.get("body"), drop_quotes=False), score=int(likes.get("total", 0)),
        url=f"https://stocktwits.com/{user.get('username')}/message/{mid}" if user.get("username") else None,
        user_label=label, raw=json.dumps(msg, ensure_ascii=False),
    )


def _posts(messages: Any, url: str) -> list[Post]:
    """Posts of a list of message objects; anything else in it is a ParseError naming the item."""
    if not isinstance(messages, list):
        raise ParseError(f"{url} is not a StockTwits stream: 'messages' is not a list")
    for n, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("id") is None:
            raise ParseError(f"{url} is not a StockTwits stream: item {n} is not a message object with an id")
    return [message_to_post(m) for m in messages]


@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    """A stream page ``{cursor, messages[]}``, a bare JSON array of messages, or JSON lines
    (one message per line, as collectors save them). ``next_cursor`` is ``cursor.max`` when
    ``cursor.more`` is true, else None."""
    text = page.body.decode("utf-8", errors="replace").strip()
    if text.startswith("{") and "\n{" in text and not text.startswith('{"response"'):
        try:
            messages = [json.loads(line) for line in text.splitlines() if line.strip()]
            return ParseResult(posts=_posts(messages, page.url), next_cursor=None)
        except json.JSONDecodeError:
            pass  # not JSON lines: fall through to the envelope parser's error
    data = load_json(page)
    if isinstance(data, list):
        return ParseResult(posts=_posts(data, page.url), next_cursor=None)
    if not isinstance(data, dict) or "messages" not in data:
        errors = data.get("errors") if isinstance(data, dict) else None
        raise ParseError(f"{page.url} is not a StockTwits stream" + (f": {errors}" if errors else ": no 'messages'"))
    cursor = data.get("cursor") or {}
    posts = _posts(data["messages"], page.url)
    next_cursor = cursor.get("max") if cursor.get("more") and posts else None
    return ParseResult(posts=posts, next_cursor=next_cursor)


def symbol_of(target: str) -> str:
    sym = target.strip().lstrip("$").upper()
    if not re.fullmatch(r"[A-Z0-9.\-]{1,15}", sym):
        raise ParseError(f"{target!r} is not a ticker symbol: give one like IWM or $TLT")
    return sym


def crawl_symbol(client: Any, target: str, base_url: str = API, cursor: Any = None, *,
                 pages: int | None = None, since: datetime | None = None,
                 newer_than: int | None = None) -> Iterator[CrawlStep]:
    """Page back through a symbol's stream with ``max`` until ``cursor.more`` is false,
    ``pages`` pages were read, or messages get older than ``since``.

    ``newer_than`` (a message id) polls forward instead with ``since=``: only messages newer
    than it. The crawl cursor is ``{"max": oldest id fetched, "newest": newest id seen,
    "complete": bool}``; a completed crawl re-run pages back only to the newest id it had seen.
    """
    sym = symbol_of(target)
    url = f"{base_of(base_url)}/api/2/streams/symbol/{sym}.json"
    previous = cursor if isinstance(cursor, dict) else {}
    cursor = resume_cursor(cursor)
    max_id = cursor.get("max") if cursor else None
    newest = previous.get("newest")
    stop_at = newer_than if newer_than is not None else (previous.get("newest") if previous.get("complete") else None)
    done = 0
    while pages is None or done < pages:
        params: dict[str, Any] = {"limit": 30}
        if max_id:
            params["max"] = max_id
        if stop_at:
            params["since"] = stop_at
        page = client.fetch(url, params=params, api=True)
        result = parse(page)
        posts = result.posts
        done += 1
        ids = [int(p.id) for p in posts]
        if ids:
            newest = max(ids + ([newest] if newest else []))
        reached = False
        if since is not None:
            kept = [p for p in posts if p.created_at is None or p.created_at >= since]
            reached, posts = len(kept) < len(posts), kept
        max_id = result.next_cursor
        complete = max_id is None or reached or not ids
        yield CrawlStep(sym, posts, {"max": max_id, "newest": newest, "complete": complete}, url=page.url)
        if complete:
            return
