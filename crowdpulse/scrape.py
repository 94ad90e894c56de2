"""Glue between the scrapers and the store: run a crawl page by page into the database,
and parse saved pages for the ``parse`` command.

Each fetched page is committed together with its crawl cursor (``store.save_page``), so a
crawl killed at any point resumes from the last committed page and re-running stores no
duplicates (upserts keyed by (source, id)).
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import Store
from scrapers import community, discourse, hackernews, phpbb, reddit, stocktwits, vbulletin
from scrapers.config import FetchConfig
from scrapers.crawl import CrawlStep, guarded
from scrapers.detect import SITES, parser_for
from scrapers.errors import ScraperError
from scrapers.http import Client
from scrapers.middleware import RetryWait
from scrapers.records import Page, Post

log = logging.getLogger(__name__)

SCRAPE_SITES: tuple[str, ...] = ("reddit", "stocktwits", "community", "discourse", "phpbb", "vbulletin", "hackernews")
SOURCE_OF = {"oldreddit": "reddit"}


def parse_file(site: str, path: str | Path, url: str | None = None) -> list[Post]:
    """Parse one saved page with the named site parser (or ``auto``)."""
    parser = parser_for(site) if site in SITES else _unknown_site(site, SITES)
    path = Path(path)
    saved = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)  # when the file was saved, not now
    page = Page(url=url or path.resolve().as_uri(), status=200, headers={}, body=path.read_bytes(), fetched_at=saved)
    return parser(page).posts


def _unknown_site(site: str, allowed: tuple[str, ...]) -> Any:
    raise CrowdpulseError(f"unknown site {site!r}; allowed: {', '.join(allowed)}")


def parse_since(value: str | date | datetime | None) -> datetime | None:
    """``--since``: a date (YYYY-MM-DD) or an ISO datetime, as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CrowdpulseError(f"--since {value!r} is not a date: use YYYY-MM-DD or an ISO time like 2024-07-01T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def make_client(*, ignore_robots: bool = False, cache_dir: str | Path | None = None,
                config: FetchConfig | None = None) -> Client:
    config = config or FetchConfig()
    if ignore_robots:
        config.obey_robots = False
    if cache_dir:
        config.cache_dir = Path(cache_dir)
    return Client(config)


def _crawler(client: Client, site: str, target: str, cursor: Any, *, base_url: str | None,
             pages: int | None, since: datetime | None, query: str | None) -> Iterator[CrawlStep]:
    if site == "reddit":
        base = base_url or _reddit_base(client)
        if "/comments/" in target or (not target.startswith(("r/", "/r/")) and "reddit.com" not in target):
            return reddit.crawl_thread(client, target, base_url=base, cursor=cursor)
        return reddit.crawl_listing(client, target, base_url=base, cursor=cursor, query=query, pages=pages, since=since)
    if site == "stocktwits":
        return stocktwits.crawl_symbol(client, target, base_url=base_url or stocktwits.API, cursor=cursor, pages=pages, since=since)
    if site == "hackernews":
        if base_url and "firebaseio" in base_url:
            return hackernews.crawl_api(client, target, base_url=base_url, cursor=cursor)
        return hackernews.crawl_item(client, target, base_url=base_url or hackernews.WEB, cursor=cursor, pages=pages)
    if site == "discourse":
        return discourse.crawl_topic(client, target, base_url or "", cursor=cursor)
    if site == "phpbb":
        return phpbb.crawl_topic(client, target, base_url=base_url, cursor=cursor, pages=pages)
    if site == "vbulletin":
        return vbulletin.crawl_thread(client, target, base_url=base_url, cursor=cursor, pages=pages)
    if site == "community":
        return community.crawl_post(client, target, base_url=base_url, cursor=cursor)
    return _unknown_site(site, SCRAPE_SITES)


def _reddit_base(client: Client) -> str:
    from scrapers.reddit_auth import OAUTH_BASE, load_credentials, login, missing_credentials_hint

    creds = load_credentials()
    if creds:
        login(client, creds)
        return OAUTH_BASE
    log.warning("no Reddit OAuth credentials: trying anonymous access to www.reddit.com. %s", missing_credentials_hint())
    return reddit.WEB


def crawl_key(site: str, target: str, query: str | None = None) -> str:
    """The crawl_state target under which a crawl's cursor is kept."""
    key = target.strip()
    if site == "reddit" and "/comments/" in key:
        key = "thread:" + reddit.thread_id_of(key)
    elif site == "stocktwits":
        key = "symbol:" + stocktwits.symbol_of(key)
    return key + (f"?q={query}" if query else "")


def run_scrape(store: Store, site: str, target: str, *, base_url: str | None = None, limit: int | None = None,
               since: str | date | datetime | None = None, pages: int | None = None, query: str | None = None,
               ignore_robots: bool = False, cache_dir: str | Path | None = None, client: Client | None = None,
               fetch_config: FetchConfig | None = None, on_step: Callable[[CrawlStep, dict[str, int]], None] | None = None,
               on_retry: Callable[[RetryWait], None] | None = None, run_id: str | None = None) -> dict[str, int]:
    """Crawl ``target`` on ``site`` into ``store``, page by page, resuming from the stored
    cursor. Returns counts: pages, posts_new, posts_updated, posts_repaired (stored with U+FFFD for a
    lone surrogate, :func:`crowdpulse.store.replace_lone_surrogates`), the parsers' counters
    (``parse/no_time``: posts whose page shows no time) and the fetch layers' counters
    (``retry/count``, ``throttle/waits``, ``cache/hit``, ``crawl/repeated_cursor`` ...).
    ``on_retry`` is told of each wait before a retry. A page cut short is fetched again and
    never stored as done; a crawl that stops advancing ends with a warning
    (``scrapers.crawl.guarded``). On a failure every page stored so far stays; the error is
    re-raised with ``.counts`` attached."""
    if site not in SCRAPE_SITES:
        _unknown_site(site, SCRAPE_SITES)
    if limit is not None and limit <= 0:
        raise CrowdpulseError(f"--limit must be a positive number of posts, got {limit}")
    if pages is not None and pages <= 0:
        raise CrowdpulseError(f"--pages must be a positive number of pages, got {pages}")
    client = client or make_client(ignore_robots=ignore_robots, cache_dir=cache_dir, config=fetch_config)
    if on_retry is not None:
        client.config.on_retry = on_retry
    source = SOURCE_OF.get(site, site)
    key = crawl_key(site, target, query)
    cursor = store.get_cursor(source, key)
    run_id = run_id or f"scrape-{uuid.uuid4().hex[:12]}"
    counts = {"pages": 0, "posts": 0, "posts_new": 0, "posts_updated": 0, "posts_repaired": 0}
    config = {"site": site, "target": target, "base_url": base_url, "query": query, "pages": pages, "limit": limit,
              "since": str(since) if since else None}
    stored = 0
    try:
        with store.recorded_run(run_id, "scrape", config, counts):
            try:
                since_at = parse_since(since)

                def start(from_cursor: Any, max_pages: int | None) -> Iterator[CrawlStep]:
                    return _crawler(client, site, target, from_cursor, base_url=base_url, pages=max_pages,
                                    since=since_at, query=query)

                for step in guarded(start, cursor, client, pages=pages, label=f"{site} {target}"):
                    posts = step.posts
                    if limit is not None:
                        posts = posts[: max(0, limit - stored)]
                    result = store.save_page(source, key, posts, step.cursor)
                    stored += len(posts)
                    counts["pages"] += 1
                    counts["posts"] += len(posts)
                    counts["posts_new"] += result.inserted
                    counts["posts_updated"] += result.updated
                    counts["posts_repaired"] += result.repaired
                    for key, value in step.stats.items():  # what parsing met, e.g. parse/no_time
                        counts[key] = counts.get(key, 0) + value
                    if on_step:
                        on_step(step, counts)
                    if limit is not None and stored >= limit:
                        break
            finally:
                counts.update(client.stats)
    except (ScraperError, CrowdpulseError) as exc:  # what was stored stays; the caller reports the counts
        exc.counts = counts  # type: ignore[attr-defined]
        raise
    return counts
