"""Pick the site parser for a saved page: by URL host/path first, then by content."""
from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from scrapers import community, discourse, hackernews, phpbb, reddit, stocktwits, vbulletin
from scrapers.botwall import raise_if_bot_wall
from scrapers.errors import ParseError, ScraperError
from scrapers.records import Page, ParseResult

Parser = Callable[[Page], ParseResult]

PARSERS: dict[str, Parser] = {
    "reddit": reddit.parse,
    "oldreddit": reddit.parse_oldreddit,
    "stocktwits": stocktwits.parse,
    "community": community.parse,
    "discourse": discourse.parse,
    "phpbb": phpbb.parse,
    "vbulletin": vbulletin.parse,
    "hackernews": hackernews.parse,
}
SITES: tuple[str, ...] = (*PARSERS, "auto")


def parser_for(site: str) -> Parser:
    if site == "auto":
        return parse_auto
    try:
        return PARSERS[site]
    except KeyError:
        raise ScraperError(f"unknown site {site!r}; allowed: {', '.join(SITES)}") from None


def detect_site(page: Page) -> str:
    """The site name for a page, from its URL when telling, else from its content."""
    parts = urlsplit(page.url)
    host, path = parts.netloc.lower(), parts.path.lower()
    if "reddit.com" in host:
        return "reddit"
    if "stocktwits.com" in host:
        return "stocktwits"
    if "ycombinator.com" in host or "hacker-news.firebaseio.com" in host:
        return "hackernews"
    if path.endswith("viewtopic.php"):
        return "phpbb"
    if path.endswith("showthread.php"):
        return "vbulletin"
    head = page.body[:200_000].decode("utf-8", errors="replace")
    stripped = head.lstrip()
    if stripped.startswith(("[", "{")):
        if '"post_stream"' in head or '"latest_posts"' in head:
            return "discourse"
        if re.search(r'"kind"\s*:\s*"(Listing|t[13]|more)"', head) or '"things"' in head:
            return "reddit"
        if '"messages"' in head or '"entities"' in head and '"symbols"' in head:
            return "stocktwits"
        if '"by"' in head and ('"kids"' in head or '"descendants"' in head or '"parent"' in head):
            return "hackernews"
    else:
        if "__APP_DATA__" in head or 'class="post" data-post-id' in head:
            return "community"
        if 'class="fatitem"' in head or "athing comtr" in head:
            return "hackernews"
        if "data-fullname=" in head and "thing" in head:
            return "reddit"
        if "viewtopic.php" in head and ('class="post ' in head or "postbody" in head):
            return "phpbb"
        if "showthread.php" in head and (re.search(r'id="post_?\d+"', head) or "post_message_" in head):
            return "vbulletin"
    raise_if_bot_wall(page)
    raise ParseError(f"cannot tell which site {page.url} comes from; name it: {', '.join(PARSERS)}")


def parse_auto(page: Page) -> ParseResult:
    return PARSERS[detect_site(page)](page)
