"""Recognise pages served instead of content: bot walls, challenge pages, login walls."""
from __future__ import annotations

import re

from scrapers.errors import BotWallError
from scrapers.records import Page

# (pattern over the first 64 KiB of the page, explanation for the user)
_SIGNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"identified as a social crawler", re.I),
     "new Reddit served its empty 'social crawler' shell (no comments): use the JSON API or old.reddit.com"),
    (re.compile(r"<title>\s*(Just a moment\.\.\.|Attention Required! \| Cloudflare)", re.I),
     "Cloudflare served a browser challenge instead of the page"),
    (re.compile(r"cf-browser-verification|challenges\.cloudflare\.com/turnstile|cf_chl_opt", re.I),
     "Cloudflare served a browser challenge instead of the page"),
    (re.compile(r"whoa there, pardner!|blocked due to a network policy", re.I),
     "Reddit blocked this client (network policy); authenticate with OAuth credentials"),
    (re.compile(r"<title>\s*(Access denied|403 Forbidden)\s*</title>", re.I),
     "the site served an access-denied page"),
)


_HTML = re.compile(r"<(!doctype html|html|head|body|title)\b", re.I)
# Words every sign above needs, lower case: a page holding none of them is no wall, found by a
# substring search (C speed) instead of six case-blind regexes over 64 KiB (2.5 ms a page).
_KEYS = (b"social crawler", b"just a moment", b"attention required", b"cf-browser-verification",
         b"challenges.cloudflare.com", b"cf_chl_opt", b"pardner", b"network policy", b"access denied",
         b"403 forbidden")


def bot_wall_reason(page: Page) -> str | None:
    """Why this page is a bot wall rather than content, or None when it looks like content.

    Walls are HTML pages: a text or JSON file that merely quotes a wall's words is not one."""
    raw = page.body[:65536]
    lowered = raw.lower()
    if not any(key in lowered for key in _KEYS):
        return None
    head = raw.decode("utf-8", errors="replace")
    if not _HTML.search(head):
        return None
    for pattern, reason in _SIGNS:
        if pattern.search(head):
            return reason
    return None


def raise_if_bot_wall(page: Page) -> None:
    reason = bot_wall_reason(page)
    if reason:
        raise BotWallError(f"{page.url}: {reason}")
