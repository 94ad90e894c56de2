"""Plain records shared by every site module: a fetched Page and a parsed Post.

Parsing is pure: a site module turns a :class:`Page` (bytes + URL) into a
:class:`ParseResult` (posts and what to fetch next). Nothing here does I/O.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Page:
    """One HTTP response as fetched (or read back from the raw cache)."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def text(self, encoding: str | None = None) -> str:
        """The body as text: in ``encoding``, else the one the page declares or its bytes show
        (:func:`scrapers.encoding.page_text`)."""
        if encoding is None:
            from scrapers.encoding import page_text

            return page_text(self)
        return self.body.decode(encoding, errors="replace")


@dataclass
class Post:
    """A post or comment, the unit crowdpulse stores and scores.

    ``created_at`` is the post's own time in UTC (never the fetch time).
    ``time_precision`` is ``"exact"`` for a real timestamp and ``"day"`` when
    only the day it was seen is known (some bulk exports).
    """

    source: str
    id: str
    thread_id: str
    parent_id: str | None = None
    depth: int = 0
    author: str | None = None
    created_at: datetime | None = None
    title: str | None = None
    body: str = ""
    score: int | None = None
    url: str | None = None
    user_label: str | None = None
    lang: str | None = None
    time_precision: str = "exact"
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Every field is an immutable scalar, so a shallow dict equals dataclasses.asdict, which
        # deep-copies each value and took 80 % of the time of storing a dump import's rows.
        return {name: getattr(self, name) for name in POST_FIELDS}


POST_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Post))


@dataclass
class ParseResult:
    """What one page yields: posts, plus cursors/requests for what comes next.

    ``next_cursor`` is an opaque, JSON-serialisable value (e.g. Reddit's
    ``after``, StockTwits' ``max``, a page number) that resumes the crawl.
    ``pending`` lists follow-up work the page revealed (e.g. Reddit ``more``
    stubs), each a JSON-serialisable dict the site's crawler understands.
    ``stats`` counts what parsing met, e.g. ``parse/no_time``: posts the page shows
    no time for (crawls add these to the run's counts).
    """

    posts: list[Post] = field(default_factory=list)
    next_cursor: Any = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
