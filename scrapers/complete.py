"""Is an HTML page whole? The check every HTML parser runs, so a page cut short is never stored
as a finished page.

A server or proxy that stops mid-page can still answer 200: the parser then finds the posts
before the cut and nothing says the rest is missing. :func:`ended_early` names the signs:

- the body is shorter than its ``Content-Length`` (no ``Content-Encoding``);
- the page opened ``<html>``/``<body>`` but never closed them (every real page and browser
  save in ``../shared/fixtures`` closes them; a fragment that never opened them is not judged);
- it holds fewer posts than it says: phpBB's "N posts • Page X of Y" and vBulletin's
  "Results A to B of N" or, on a page with a next page, the ``perpage=`` of its links.

Each HTML parser is wrapped in :func:`whole_page` (a decorator): a page that ended early raises
:class:`~scrapers.errors.TruncatedPageError`, also when the cut made the parser itself fail,
and the crawl fetches it again or refuses it (``scrapers.crawl.guarded``).
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable

from scrapers.errors import ParseError, TruncatedPageError
from scrapers.forum_common import query_param
from scrapers.records import Page, ParseResult

_OPENED = re.compile(rb"<(?:html|body)[\s>]", re.I)
_CLOSED = re.compile(rb"</(?:html|body)\s*>", re.I)
_PHPBB_PAGINATION = re.compile(
    rb'<div class="pagination">\s*(\d[\d.,]*)\s+[^<\d]+(?:<strong>\s*(\d+)\s*</strong>[^<]*<strong>\s*(\d+)\s*</strong>)?',
    re.S)
_VB_RESULTS = re.compile(rb"Results?\s+(\d[\d,]*)\s+to\s+(\d[\d,]*)\s+of\s+(\d[\d,]*)", re.I)
_PERPAGE = re.compile(rb"[?&;]perpage=(\d+)")


def _number(raw: bytes) -> int:
    return int(re.sub(rb"\D", b"", raw))


def short_body(page: Page) -> str | None:
    declared = page.headers.get("content-length", "")
    encoded = page.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    if declared.isdigit() and not encoded and len(page.body) < int(declared):
        return f"the body has {len(page.body)} of the {int(declared)} bytes its Content-Length declares"
    return None


def unclosed(page: Page) -> str | None:
    if _OPENED.search(page.body, 0, 65536) and not _CLOSED.search(page.body):
        return "the page stops before its closing </body></html>"
    return None


def _phpbb_expected(page: Page, result: ParseResult) -> int | None:
    m = _PHPBB_PAGINATION.search(page.body)
    if not m:
        return None
    total, start = _number(m.group(1)), int(query_param(page.url, "start") or 0)
    if m.group(2) and m.group(3) and int(m.group(2)) < int(m.group(3)):  # not the last page
        nxt = result.next_cursor
        return nxt - start if isinstance(nxt, int) and nxt > start else None
    return total - start


def _vbulletin_expected(page: Page, result: ParseResult) -> int | None:
    m = _VB_RESULTS.search(page.body)
    if m:
        return _number(m.group(2)) - _number(m.group(1)) + 1
    if result.next_cursor is None:
        return None  # the last page holds whatever is left
    per = Counter(_PERPAGE.findall(page.body)).most_common(1)
    return int(per[0][0]) if per else None


#: site -> how many posts the page says it holds (None when it does not say).
EXPECTED: dict[str, Callable[[Page, ParseResult], int | None]] = {
    "phpbb": _phpbb_expected,
    "vbulletin": _vbulletin_expected,
}


def too_few(page: Page, site: str, result: ParseResult) -> str | None:
    expected = EXPECTED[site](page, result) if site in EXPECTED else None
    if expected is not None and len(result.posts) < expected:
        return f"it holds {len(result.posts)} posts where the page says {expected}"
    return None


def ended_early(page: Page, site: str, result: ParseResult | None = None) -> str | None:
    """Why ``page`` looks cut short, or None when it looks whole. Without ``result`` (the
    parser failed) only the body is judged."""
    if page.body.lstrip()[:1] in (b"{", b"["):  # JSON: a cut shows as invalid JSON (scrapers.crawl.load_json)
        return short_body(page)
    return short_body(page) or unclosed(page) or (too_few(page, site, result) if result is not None else None)


def _error(page: Page, why: str) -> TruncatedPageError:
    return TruncatedPageError(f"{page.url} ended early: {why}; nothing from it was stored", url=page.url)


def whole_page(site: str) -> Callable[[Callable[..., ParseResult]], Callable[..., ParseResult]]:
    """Decorate a site's HTML ``parse(page)``: a page that :func:`ended_early` raises
    :class:`TruncatedPageError` instead of returning the posts before the cut."""
    def wrap(parse: Callable[..., ParseResult]) -> Callable[..., ParseResult]:
        @functools.wraps(parse)
        def checked(page: Page, *args, **kwargs) -> ParseResult:
            try:
                result = parse(page, *args, **kwargs)
            except TruncatedPageError:
                raise
            except ParseError as exc:
                why = ended_early(page, site)
                if why:
                    raise _error(page, why) from exc
                raise
            why = ended_early(page, site, result)
            if why:
                raise _error(page, why)
            return result
        return checked
    return wrap
