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
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from protego import Protego

from scrapers.config import FetchConfig
from scrapers.errors import FetchError, RobotsUnavailableError
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
        self._previous: dict[str, float | None] = {}
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
        self._previous[host] = last
        self._last[host] = self.config.clock()

    def not_sent(self, host: str) -> None:
        """The request just let through never reached ``host`` (DNS failure, connection refused):
        it does not count against the host's interval, so a retry waits only its backoff."""
        if host in self._previous:
            previous = self._previous.pop(host)
            if previous is None:
                self._last.pop(host, None)
            else:
                self._last[host] = previous


@dataclass(frozen=True)
class RetryWait:
    """One wait before a retry, as the progress line shows it."""

    url: str
    reason: str      # the retry/reason_count key: 429, 503, timeout, dns, reset, truncated...
    attempt: int     # the attempt that failed, from 1
    attempts: int    # how many this kind of failure gets in all
    delay: float     # seconds

    def describe(self) -> str:
        """``api.stocktwits.com: HTTP 503, attempt 2 of 5, waiting 4.3 s``."""
        host = urlsplit(self.url).netloc or self.url
        why = f"HTTP {self.reason}" if self.reason.isdigit() else REASON_WORDS.get(self.reason, self.reason)
        return f"{host}: {why}, attempt {self.attempt} of {self.attempts}, waiting {self.delay:.1f} s"


REASON_WORDS = {
    "dns": "DNS failure", "refused": "connection refused", "unreachable": "no route to host",
    "timeout": "timed out", "reset": "connection reset", "incomplete_body": "body cut short",
    "truncated": "page cut short", "connection_error": "could not connect",
}


class RetryPolicy:
    """Which responses to retry and how long to wait: ``Retry-After`` (seconds or an HTTP
    date) when the server sends it, else exponential backoff with full jitter.

    An unreachable host (DNS failure, connection refused) gets ``unreachable_retries``, an
    overloaded or flaky one ``retries``. Every wait is counted, logged and passed to
    ``config.on_retry`` before it starts."""

    def __init__(self, config: FetchConfig, stats: Stats, rng: random.Random | None = None) -> None:
        self.config = config
        self.stats = stats
        self.rng = rng or random.Random()

    def retries_for(self, unreachable: bool = False) -> int:
        return self.config.unreachable_retries if unreachable else self.config.retries

    def should_retry(self, attempt: int, unreachable: bool = False) -> bool:
        return attempt < self.retries_for(unreachable)

    def is_retryable(self, status: int) -> bool:
        return status in self.config.retry_statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        parsed = parse_retry_after(retry_after) if retry_after else None
        if parsed is not None:
            return min(parsed, self.config.max_retry_after)
        base = self.config.backoff_base * (2 ** attempt)
        return min(self.config.backoff_max, base + self.rng.uniform(0, self.config.backoff_base))

    def record(self, reason: str, url: str, attempt: int, delay: float, unreachable: bool = False,
               retries: int | None = None) -> RetryWait:
        """Count and announce one retry; ``retries`` overrides the budget of ``unreachable``."""
        total = (self.retries_for(unreachable) if retries is None else retries) + 1
        wait = RetryWait(url, reason, attempt + 1, total, delay)
        self.stats["retry/count"] += 1
        self.stats[f"retry/reason_count/{reason}"] += 1
        log.info("retrying %s (%s), attempt %d of %d, in %.2f s", url, reason, wait.attempt, wait.attempts, delay)
        if self.config.on_retry is not None:
            self.config.on_retry(wait)
        return wait

    def wait(self, reason: str, url: str, attempt: int, delay: float, unreachable: bool = False,
             retries: int | None = None) -> None:
        """Record the retry, then sleep ``delay``."""
        self.record(reason, url, attempt, delay, unreachable, retries)
        self.config.sleep(delay)


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
    """One robots.txt per host, parsed by protego (Google's rules: ``*`` and ``$`` wildcards,
    the longest matching rule wins, Allow wins a tie); ``allowed(url)`` answers for our product
    token (``crowdpulse``), not for the whole User-Agent header.

    What the fetch gave decides, as RFC 9309 says: 2xx is parsed; 401/403 forbid everything
    (Python's robotparser convention, kept); any other 4xx allows everything (no robots.txt);
    a robots.txt that cannot be read (a network failure, or 5xx/429 after the retries) forbids
    everything on that host for this run: :class:`RobotsUnavailableError`, one line, which
    ``--ignore-robots`` overrides. ``fetch_raw(url) -> (status, body)`` raises a FetchError
    when the file cannot be read.
    """

    def __init__(self, config: FetchConfig, stats: Stats, fetch_raw: Callable[[str], tuple[int, bytes]]) -> None:
        self.config = config
        self.stats = stats
        self.fetch_raw = fetch_raw
        self.agent = product_token(config.user_agent)
        self._rules: dict[str, Protego | bool | str] = {}

    def _rules_for(self, url: str) -> Protego | bool | str:
        """A parsed file, True (allow all), False (forbid all) or the reason it could not be read."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._rules:
            self._rules[key] = self._load(key + "/robots.txt")
        return self._rules[key]

    def _load(self, robots_url: str) -> Protego | bool | str:
        try:
            status, body = self.fetch_raw(robots_url)
        except FetchError as exc:
            self.stats["robots/unreachable"] += 1
            return str(exc)
        self.stats["robots/fetched"] += 1
        if status in (401, 403):
            return False
        if status in self.config.retry_statuses or status >= 500:
            self.stats["robots/unreachable"] += 1
            return f"it answered HTTP {status}"
        if status >= 400:
            return True
        return Protego.parse(body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace"))

    def allowed(self, url: str) -> bool:
        rules = self._rules_for(url)
        if isinstance(rules, str):
            host = urlsplit(url).netloc
            raise RobotsUnavailableError(
                f"could not read robots.txt of {host} ({rules}); nothing was fetched from {host}, "
                "since an unreadable robots.txt forbids everything (RFC 9309): try again later, "
                "or pass --ignore-robots if you have the site's permission", url=url)
        ok = rules if isinstance(rules, bool) else rules.can_fetch(url, self.agent)
        if not ok:
            self.stats["robots/forbidden"] += 1
        return ok

    def crawl_delay(self, url: str) -> float | None:
        rules = self._rules_for(url)
        delay = rules.crawl_delay(self.agent) if isinstance(rules, Protego) else None
        return float(delay) if delay is not None else None


ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks parsers to read at least 500 KiB


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: ``crowdpulse`` of ``crowdpulse/0.1 (...)``."""
    return re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0] or user_agent


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


    def discard(self, key: str) -> None:
        for suffix in (".json", ".body"):
            (self.folder / f"{key}{suffix}").unlink(missing_ok=True)
        self.stats["cache/discarded"] += 1


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def monotonic() -> float:
    return time.monotonic()
