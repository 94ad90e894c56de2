"""Fetch settings in one place: politeness defaults per host, retry and cache behaviour.

Defaults follow each site's published limits:
- oauth.reddit.com: 100 queries/minute per OAuth client -> 0.6 s between requests;
  anonymous www/old.reddit.com: Reddit allows ~10 requests/minute -> 6 s.
- api.stocktwits.com: 200 requests/hour unauthenticated -> 18 s.
- news.ycombinator.com: robots.txt asks ``Crawl-delay: 30`` (honoured by the robots layer);
  the Firebase API has no published limit -> 0.2 s.
- Discourse sites: default per-IP limit 200 requests/minute -> 0.5 s.
Any other host waits ``default_interval`` (1 s). Every value can be overridden.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from scrapers import __version__

if TYPE_CHECKING:
    from scrapers.middleware import RetryWait

USER_AGENT = (
    f"crowdpulse/{__version__} (research scraper; +https://github.com/crowdpulse/crowdpulse; "
    "contact: crowdpulse-maintainers@users.noreply.github.com)"
)

HOST_INTERVALS: dict[str, float] = {
    "oauth.reddit.com": 0.6,
    "www.reddit.com": 6.0,
    "old.reddit.com": 6.0,
    "reddit.com": 6.0,
    "api.stocktwits.com": 18.0,
    "news.ycombinator.com": 1.0,
    "hacker-news.firebaseio.com": 0.2,
    "127.0.0.1": 0.0,
    "localhost": 0.0,
}

RETRY_STATUSES: tuple[int, ...] = (408, 429, 500, 502, 503, 504, 522, 524)


@dataclass
class FetchConfig:
    """Everything the HTTP client does, as plain settings (tests inject small values).

    ``retries`` is for an overloaded or flaky server (408/429/5xx, timeouts, resets, bodies cut
    short); ``unreachable_retries`` for a host that cannot be reached at all (DNS failure,
    connection refused, no route), which waiting rarely mends. ``truncated_retries``: how often
    a crawl fetches a page again that parsed as cut short (scrapers.complete) before refusing it.
    ``max_redirects``: redirects followed per request, each one throttled and checked against
    robots.txt. ``on_retry`` is told of every wait before it starts (a progress line shows it).

    ``cache_policy``: "revalidate" (send If-None-Match/If-Modified-Since, reuse the cached body
    on 304), "prefer" (serve any cached copy without touching the network — re-parsing never
    re-fetches), or "off".
    """

    user_agent: str = USER_AGENT
    timeout: float = 30.0
    max_body_bytes: int = 32 * 1024 * 1024
    retries: int = 4
    unreachable_retries: int = 1
    truncated_retries: int = 2
    max_redirects: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 600.0
    retry_statuses: tuple[int, ...] = RETRY_STATUSES
    obey_robots: bool = True
    host_intervals: dict[str, float] = field(default_factory=lambda: dict(HOST_INTERVALS))
    default_interval: float = 1.0
    cache_dir: Path | None = None
    cache_policy: str = "revalidate"
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_retry: Callable[["RetryWait"], None] | None = None

    def interval_for(self, host: str) -> float:
        """The interval for ``host`` (a netloc: a port, as in ``127.0.0.1:8080``, does not count)."""
        host = host.lower()
        if host.startswith("["):
            host = host[1:host.find("]")]
        elif host.count(":") == 1:
            host = host.split(":")[0]
        if host in self.host_intervals:
            return self.host_intervals[host]
        parts = host.split(".")
        for i in range(1, len(parts) - 1):  # sub.example.com -> example.com
            parent = ".".join(parts[i:])
            if parent in self.host_intervals:
                return self.host_intervals[parent]
        return self.default_interval
