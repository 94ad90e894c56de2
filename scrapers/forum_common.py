"""Helpers shared by the classic forum parsers (phpBB, vBulletin): URL cleanup, paging, and
where a themed board puts a post's time (:func:`post_time`)."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from scrapers.crawl import base_of
from scrapers.dates import ForumTime, read_forum_date
from scrapers.errors import ParseError
from scrapers.records import Post
from scrapers.text import utc_from_epoch
from scrapers.xpath import classes, text_of, xpath

log = logging.getLogger(__name__)

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


#: Attributes themes put a post's time in (epoch seconds or milliseconds, ISO, or a printed date).
TIME_ATTRS = ("data-date", "data-time", "data-timestamp", "data-datetime")
#: Parts of a post whose dates are not the post's: the author's profile ("Joined: Jan 2015"),
#: quotes, signatures and "last edited" notes.
NOT_POST_TIME = frozenset({"postprofile", "profile", "userinfo", "user-info", "userdetails", "user-details",
                           "memberinfo", "signature", "notice", "editedby", "edited", "lastedit", "bbc-block",
                           "bbcode_container"})
# attribute values (each knows its element and name), in document order: an attribute axis is
# three times as fast in libxml2 as a predicate over every element
_MACHINE = " | ".join(["descendant-or-self::time/@datetime", "descendant-or-self::*/@title",
                       *(f"descendant-or-self::*/@{a}" for a in TIME_ATTRS)])
_DATE_CLASS = ("descendant::*[contains(@class, 'date') or contains(@class, 'time') or contains(@class, 'posted')"
               " or contains(@class, 'posthead') or contains(@class, 'post-head') or contains(@class, 'postdetails')"
               " or self::header]")
_DIGIT = re.compile(r"\d")
_EPOCH = re.compile(r"\d{9,13}(?:\.\d+)?")


def _elsewhere(el: Any, post: Any, body: Any) -> bool:
    """Whether ``el`` sits in the post's body or in a part whose dates are not the post's."""
    node = el
    while node is not None and node is not post:
        if node is body or node.tag == "blockquote" or NOT_POST_TIME.intersection(classes(node)):
            return True
        node = node.getparent()
    return False


def machine_time(value: str | None, now: datetime | None = None) -> ForumTime:
    """A time written for machines (``datetime=``, ``data-date=``): epoch seconds or ms, ISO
    8601 (a date alone is precise to the day), else a printed date."""
    value = (value or "").strip()
    if not value or not _DIGIT.search(value):
        return None, "exact"
    if _EPOCH.fullmatch(value):
        return utc_from_epoch(value), "exact"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return read_forum_date(value, now=now)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if len(value) == 10:  # 2020-05-30
        return when.replace(hour=23, minute=59, second=59).astimezone(timezone.utc), "day"
    return when.astimezone(timezone.utc), "exact"


def post_time(post: Any, body: Any, now: datetime | None, theme_texts: Iterable[str | None] = ()) -> ForumTime:
    """A post's time wherever the common phpBB / vBulletin themes put it, most exact first:
    ``<time datetime>``, then ``data-date`` / ``data-time`` / ``data-timestamp`` /
    ``data-datetime`` (on the post's element or inside it), then a ``title`` attribute holding a
    date, then the visible date text: ``theme_texts`` (where the parser's theme prints it), the
    text of elements whose class names a date, time or post header, read absolute or ("Today,
    10:32", "Yesterday", "5 minutes ago") relative to ``now``, the page's fetch time. The post's
    ``body``, quotes, signatures, edit notes and the author's profile are never read.
    Returns ``(None, "exact")`` when the post shows no time."""
    values = xpath(post, _MACHINE)
    machine = [v for v in values if v.attrname == "datetime"] + [v for v in values if v.attrname in TIME_ATTRS]
    for value in machine:
        found = machine_time(value, now)
        if found[0] is not None and not _elsewhere(value.getparent(), post, body):
            return found
    for value in values:
        if value.attrname == "title" and _DIGIT.search(value):
            found = read_forum_date(value, now=now)
            if found[0] is not None and not _elsewhere(value.getparent(), post, body):
                return found
    for text in theme_texts:
        found = read_forum_date(text, now=now)
        if found[0] is not None:
            return found
    for el in xpath(post, _DATE_CLASS):
        if not _elsewhere(el, post, body):
            found = read_forum_date(text_of(el), now=now)
            if found[0] is not None:
                return found
    return None, "exact"


def time_stats(posts: list[Post], url: str) -> dict[str, int]:
    """The parse statistics of a forum page: ``parse/no_time`` counts posts that show no time
    (logged, so a board whose dates are not read never passes silently)."""
    missing = sum(1 for p in posts if p.created_at is None)
    if not missing:
        return {}
    log.warning("%s: %d of %d posts show no time crowdpulse can read (created_at left empty)",
                url, missing, len(posts))
    return {"parse/no_time": missing}
