"""Helpers shared by the classic forum parsers (phpBB, vBulletin): URL cleanup and paging."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

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
