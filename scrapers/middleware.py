"""Politeness and resilience layers around the HTTP client, one small class each.

Like Scrapy's downloader middlewares, each layer reads its settings from
:class:`~scrapers.config.FetchConfig` and counts what it did into a shared ``stats``
dict (``retry/count``, ``throttle/waits``, ``robots/forbidden``, ``cache/hit`` ...), so a
pipeline run can record the counts.
"""
from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from scrapers.config import FetchConfig
from scrapers.records import Page

log = logging.getLogger(__name__)

Stats = Counter


class Throttle:
    """Keeps at least the host's interval between two requests to the same host.

    The interval is the configured one, raised to robots.txt's ``Crawl-delay`` when given.
    """

    def __init__(self, config: FetchConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self._last: dict[str, float] = {}
        self._crawl_delay: dict[str, float] = {}

    def set_crawl_delay(self, host: str, delay: float) -> None:
        self._crawl_delay[host] = float(delay)

    def interval(self, host: str) -> float:
        return max(self.config.interval_for(host), self._crawl_delay.get(host, 0.0))

    def wait(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None:
            remaining = last + self.interval(host) - self.config.clock()
            if remaining > 0:
                self.stats["throttle/waits"] += 1
                self.stats["throttle/wait_ms"] += int(remaining * 1000)
                self.config.sleep(remaining)
        self._last[host] = self.config.clock()


class RetryPolicy:
    """Which responses to retry and how long to wait: ``Retry-After`` (seconds or an HTTP
    date) when the server sends it, else exponential backoff with full jitter."""

    def __init__(self, config: FetchConfig, stats: Stats, rng: random.Random | None = None) -> None:
        self.config = config
        self.stats = stats
        self.rng = rng or random.Random()

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.config.retries

    def is_retryable(self, status: int) -> bool:
        return status in self.config.retry_statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        parsed = parse_retry_after(retry_after) if retry_after else None
        if parsed is not None:
            return min(parsed, self.config.max_retry_after)
        base = self.config.backoff_base * (2 ** attempt)
        return min(self.config.backoff_max, base + self.rng.uniform(0, self.config.backoff_base))

    def record(self, reason: str, url: str, attempt: int, delay: float) -> None:
        self.stats["retry/count"] += 1
        self.stats[f"retry/reason_count/{reason}"] += 1
        log.info("retrying %s (%s), attempt %d, in %.2f s", url, reason, attempt + 1, delay)


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.warning("ignoring unparseable Retry-After header %r", value)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class RobotsCache:
    """One parsed robots.txt per host; ``allowed(url)`` answers for our User-Agent.

    A missing robots.txt (404) allows everything; 401/403 disallow everything (the
    convention of Python's robotparser); an unreachable one allows and is counted.
    """

    def __init__(self, config: FetchConfig, stats: Stats, fetch_raw: Callable[[str], tuple[int, bytes]]) -> None:
        self.config = config
        self.stats = stats
        self.fetch_raw = fetch_raw
        self._parsers: dict[str, RobotFileParser] = {}

    def parser_for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._parsers:
            robots_url = key + "/robots.txt"
            parser = RobotFileParser(robots_url)
            try:
                status, body = self.fetch_raw(robots_url)
                self.stats["robots/fetched"] += 1
            except Exception as exc:  # network trouble: do not block the crawl on robots.txt
                log.warning("could not read %s (%s); treating it as allowing everything", robots_url, exc)
                self.stats["robots/unreachable"] += 1
                status, body = 404, b""
            if status in (401, 403):
                parser.disallow_all = True
            elif status >= 400:
                parser.allow_all = True
            else:
                parser.parse(body.decode("utf-8", errors="replace").splitlines())
            self._parsers[key] = parser
        return self._parsers[key]

    def allowed(self, url: str) -> bool:
        ok = self.parser_for(url).can_fetch(self.config.user_agent, url)
        if not ok:
            self.stats["robots/forbidden"] += 1
        return ok

    def crawl_delay(self, url: str) -> float | None:
        delay = self.parser_for(url).crawl_delay(self.config.user_agent)
        return float(delay) if delay is not None else None


class RawCache:
    """On-disk cache of raw responses: ``<key>.body`` (bytes) + ``<key>.json`` (url, status,
    headers, fetched_at). The key hashes method, URL and request body. An unreadable entry is
    a logged, counted miss."""

    def __init__(self, folder: Path, stats: Stats) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stats = stats

    @staticmethod
    def key(method: str, url: str, data: bytes | None = None) -> str:
        h = hashlib.sha256(f"{method.upper()} {url}".encode())
        if data:
            h.update(b"\0" + data)
        return h.hexdigest()

    def load(self, key: str) -> Page | None:
        meta_path, body_path = self.folder / f"{key}.json", self.folder / f"{key}.body"
        if not meta_path.exists():
            self.stats["cache/miss"] += 1
            return None
        try:
            meta = json.loads(meta_path.read_text())
            body = body_path.read_bytes()
            return Page(url=meta["url"], status=meta["status"], headers=meta["headers"], body=body,
                        fetched_at=datetime.fromisoformat(meta["fetched_at"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("cache entry %s is unreadable (%s); fetching again", key, exc)
            self.stats["cache/unreadable"] += 1
            return None

    def store(self, key: str, page: Page) -> None:
        body_path = self.folder / f"{key}.body"
        tmp = body_path.with_suffix(".tmp")
        tmp.write_bytes(page.body)
        tmp.replace(body_path)
        meta = {"url": page.url, "status": page.status, "headers": page.headers,
                "fetched_at": page.fetched_at.isoformat()}
        (self.folder / f"{key}.json").write_text(json.dumps(meta))
        self.stats["cache/stored"] += 1


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def monotonic() -> float:
    return time.monotonic()
