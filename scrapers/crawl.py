"""What every crawler yields, and helpers shared by the site crawlers.

A crawler is a generator of :class:`CrawlStep`, one per fetched page. The caller stores
``posts`` and ``cursor`` together (``store.save_page``) and, to resume, passes the last
stored cursor back to the crawler. A cursor with ``"complete": True`` means the last run
finished; crawlers then start over (picking up anything new; upserts keep rows unique).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from scrapers.botwall import raise_if_bot_wall
from scrapers.errors import ParseError
from scrapers.records import Page, Post


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


def base_of(base_url: str) -> str:
    return base_url.rstrip("/")


_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = 80) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
