"""What every crawler yields, and helpers shared by the site crawlers.

A crawler is a generator of :class:`CrawlStep`, one per fetched page. The caller stores
``posts`` and ``cursor`` together (``store.save_page``) and, to resume, passes the last
stored cursor back to the crawler. A cursor with ``"complete": True`` means the last run
finished; crawlers then start over (picking up anything new; upserts keep rows unique).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scrapers.botwall import raise_if_bot_wall
from scrapers.errors import ParseError, TruncatedPageError
from scrapers.records import Page, Post

log = logging.getLogger(__name__)


@dataclass
class CrawlStep:
    """One fetched page: the target crawled, the posts it gave, and the cursor after it."""

    target: str
    posts: list[Post]
    cursor: Any
    url: str = ""
    stats: dict[str, int] = field(default_factory=dict)


def load_json(page: Page) -> Any:
    """The page body as JSON, or a :class:`ParseError` that says what is wrong with it."""
    text = page.body.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if not stripped:
        raise ParseError(f"{page.url} returned an empty body where JSON was expected")
    if stripped.startswith("<"):
        raise_if_bot_wall(page)
        raise ParseError(f"{page.url} returned HTML where JSON was expected (a login page, an error page or a bot wall)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{page.url} is not valid JSON ({exc.msg} at character {exc.pos} of {len(text)}): "
            "the response was truncated or malformed"
        ) from None


def resume_cursor(cursor: Any) -> Any:
    """The cursor to resume from: None when absent or when the previous crawl completed."""
    if isinstance(cursor, dict) and cursor.get("complete"):
        return None
    return cursor


#: start(cursor, pages) -> the site's crawler from ``cursor`` for at most ``pages`` pages (None: all)
Start = Callable[[Any, "int | None"], Iterator[CrawlStep]]


def _cursor_key(cursor: Any) -> str:
    return hashlib.sha1(json.dumps(cursor, sort_keys=True, default=str).encode()).hexdigest()


def guarded(start: Start, cursor: Any, client: Any, *, pages: int | None = None, label: str = "crawl") -> Iterator[CrawlStep]:
    """The steps of ``start(cursor, pages)``, with two guards every crawl needs.

    - A page that parsed as cut short (:class:`TruncatedPageError`) is never yielded: its cached
      copy is dropped, and after a wait the crawler starts again from the last cursor yielded
      (the caller stores each step before asking for the next), up to
      ``client.config.truncated_retries`` times; then the error goes up and the stored cursor
      still points at that page, so the next run fetches it again.
    - A crawl that does not advance (a next cursor or a page URL seen before in this run: a
      StockTwits ``max`` that repeats, a ``p=2`` that serves page 1 again) stops there with one
      warning, counted as ``crawl/repeated_cursor`` or ``crawl/repeated_url``; the step that
      repeated is not yielded, so the stored cursor stays before it.
    """
    stats, retries = client.stats, client.config.truncated_retries
    first = resume_cursor(cursor)
    seen_cursors = {_cursor_key(first)} if first is not None else set()
    seen_urls: set[str] = set()
    done, failures = 0, 0
    steps = start(cursor, pages)
    while True:
        try:
            step = next(steps)
        except StopIteration:
            return
        except TruncatedPageError as exc:
            if failures >= retries:
                stats["retry/max_reached"] += 1
                raise TruncatedPageError(f"{exc} (fetched {failures + 1} times; the next run fetches it again)",
                                         url=exc.url) from None
            client.forget(exc.url or "")
            client.retry.wait("truncated", exc.url or label, failures, client.retry.delay(failures), retries=retries)
            failures += 1
            steps = start(cursor, None if pages is None else pages - done)
            continue
        failures = 0
        key = _cursor_key(step.cursor)
        complete = isinstance(step.cursor, dict) and step.cursor.get("complete")
        if step.url and step.url in seen_urls:
            stats["crawl/repeated_url"] += 1
            log.warning("%s: %s was served again, so the crawl does not advance; stopped after %d pages "
                        "(the next run resumes from the last stored page)", label, step.url, done)
            return
        if not complete and key in seen_cursors:
            stats["crawl/repeated_cursor"] += 1
            log.warning("%s: %s gave a next cursor seen before (%s), so the crawl does not advance; stopped after "
                        "%d pages (the next run resumes from the last stored page)", label, step.url or "a page",
                        one_line(json.dumps(step.cursor, default=str), 60), done)
            return
        seen_cursors.add(key)
        if step.url:
            seen_urls.add(step.url)
        done += 1
        cursor = step.cursor
        yield step


def base_of(base_url: str) -> str:
    return base_url.rstrip("/")


_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = 80) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
