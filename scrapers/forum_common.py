"""Helpers shared by the classic forum parsers (phpBB, vBulletin): URL cleanup and paging."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from scrapers.crawl import base_of
from scrapers.errors import ParseError

SESSION_PARAMS = {"sid", "s", "phpsessid", "ma"}


def strip_session(url: str) -> str:
    """Remove session ids (``sid=``, ``s=``) from a forum URL so the same page has one URL."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SESSION_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def query_param(url: str, name: str) -> str | None:
    for k, v in parse_qsl(urlsplit(url).query):
        if k == name:
            return v
    return None


def absolute(base: str, href: str) -> str:
    return strip_session(urljoin(base, href))


def thread_url(target: str, base_url: str | None, script: str, id_param: str, thread: str, site: str) -> str:
    """The URL to crawl for ``target``: a thread id (needs ``base_url``) or a thread URL.

    With ``base_url`` a URL's query is moved onto that address (``{base}/{script}?{query}``);
    session ids are stripped. ``thread`` and ``site`` name things in the error, e.g.
    "phpBB topic" and "board".
    """
    if target.isdigit():
        if not base_url:
            raise ParseError(f"a {thread} id needs the {site}'s address: pass --base-url https://forum.example.com")
        return f"{base_of(base_url)}/{script}?{id_param}={target}"
    url = strip_session(target)
    if base_url:
        url = base_of(base_url) + f"/{script}?" + urlsplit(url).query
    return url
