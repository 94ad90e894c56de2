"""The one HTTP client every site uses: requests + throttle, robots, retry, cache layers.

``Client.fetch(url)`` returns a :class:`~scrapers.records.Page` for a 2xx response (or a
cached copy) and raises a :class:`~scrapers.errors.FetchError` subclass phrased for the
user otherwise. Parsing never happens here.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import requests

from scrapers.config import FetchConfig
from scrapers.errors import (
    AccessDeniedError, BodyTooLargeError, FetchError, NotFoundError, RobotsDisallowedError,
)
from scrapers.middleware import RawCache, RetryPolicy, RobotsCache, Throttle, now_utc
from scrapers.records import Page

log = logging.getLogger(__name__)


class Client:
    """A polite HTTP client. ``stats`` counts what every layer did.

    ``api=True`` on a request marks an API call governed by the API's own terms (OAuth
    Reddit, StockTwits, HN Firebase): robots.txt, written for web crawlers, is not consulted
    for it. Everything else obeys robots.txt unless ``config.obey_robots`` is False.
    """

    def __init__(self, config: FetchConfig | None = None, session: requests.Session | None = None) -> None:
        self.config = config or FetchConfig()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = self.config.user_agent
        self.stats: Counter = Counter()
        self.throttle = Throttle(self.config, self.stats)
        self.retry = RetryPolicy(self.config, self.stats)
        self.robots = RobotsCache(self.config, self.stats, self._fetch_robots)
        self.cache = RawCache(self.config.cache_dir, self.stats) if self.config.cache_dir and self.config.cache_policy != "off" else None
        self.auth_headers: dict[str, str] = {}
        # Set by a login (scrapers.reddit_auth.login): renews the bearer token in auth_headers;
        # called a minute before auth_expires_at (time.time() seconds) and once on an HTTP 401.
        self.auth_renew: Callable[[Client], None] | None = None
        self.auth_expires_at: float | None = None

    # ------------------------------------------------------------------ public
    def fetch(self, url: str, *, params: dict[str, Any] | None = None, method: str = "GET",
              data: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
              api: bool = False, use_cache: bool = True) -> Page:
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        body = urlencode(data, doseq=True).encode() if data else None
        host = urlsplit(url).netloc
        if not urlsplit(url).scheme in ("http", "https"):
            raise FetchError(f"cannot fetch {url!r}: only http:// and https:// URLs are supported", url=url)
        key = self.cache.key(method, url, body) if self.cache and use_cache else None
        cached = self.cache.load(key) if key else None
        if cached is not None and self.config.cache_policy == "prefer":
            self.stats["cache/hit"] += 1
            return cached
        if self.config.obey_robots and not api:
            if not self.robots.allowed(url):
                raise RobotsDisallowedError(
                    f"robots.txt of {host} forbids fetching {url}; nothing was fetched "
                    "(pass --ignore-robots if you have the site's permission)", url=url)
            delay = self.robots.crawl_delay(url)
            if delay:
                self.throttle.set_crawl_delay(host, delay)
        if self.auth_renew and self.auth_expires_at is not None and time.time() >= self.auth_expires_at - 60:
            self._renew_auth("expires")
        page = self._fetch_with_retries(method, url, body, self._headers(headers, cached))
        if page.status == 401 and self.auth_renew and self.auth_headers:
            self._renew_auth("was refused")
            page = self._fetch_with_retries(method, url, body, self._headers(headers, cached))
        if page.status == 304 and cached is not None:
            self.stats["cache/revalidated"] += 1
            return cached
        self._raise_for_status(page)
        if key:
            self.cache.store(key, page)
        return page

    # ----------------------------------------------------------------- internals
    def _headers(self, headers: dict[str, str] | None, cached: Page | None) -> dict[str, str]:
        req_headers = dict(self.auth_headers)
        req_headers.update(headers or {})
        if cached is not None:
            if cached.headers.get("etag"):
                req_headers["If-None-Match"] = cached.headers["etag"]
            if cached.headers.get("last-modified"):
                req_headers["If-Modified-Since"] = cached.headers["last-modified"]
        return req_headers

    def _renew_auth(self, why: str) -> None:
        log.info("access token %s: logging in again", why)
        self.auth_renew(self)  # type: ignore[misc]
        self.stats["auth/renewed"] += 1

    def _fetch_with_retries(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Page:
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            self.throttle.wait(host)
            self.stats["request/count"] += 1
            try:
                page = self._send(method, url, body, headers)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
                if not self.retry.should_retry(attempt):
                    self.stats["retry/max_reached"] += 1
                    what = f"timed out after {self.config.timeout:g} s" if reason == "timeout" else "could not connect"
                    raise FetchError(f"gave up on {url}: {what} ({attempt + 1} attempts)", url=url) from None
                delay = self.retry.delay(attempt)
                self.retry.record(reason, url, attempt, delay)
                self.config.sleep(delay)
                attempt += 1
                continue
            self.stats[f"response/status/{page.status}"] += 1
            if not self.retry.is_retryable(page.status):
                return page
            if not self.retry.should_retry(attempt):
                self.stats["retry/max_reached"] += 1
                raise FetchError(f"gave up on {url}: HTTP {page.status} after {attempt + 1} attempts "
                                 "(the site is rate-limiting or failing; try again later)", url=url, status=page.status)
            delay = self.retry.delay(attempt, page.headers.get("retry-after"))
            self.retry.record(str(page.status), url, attempt, delay)
            self.config.sleep(delay)
            attempt += 1

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Page:
        if body is not None:
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        with self.session.request(method, url, data=body, headers=headers, timeout=self.config.timeout,
                                  stream=True, allow_redirects=True) as resp:
            limit = self.config.max_body_bytes
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise BodyTooLargeError(f"{url} is {int(declared)} bytes, over the {limit}-byte maximum", url=url)
            chunks, size = [], 0
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    self.stats["response/too_large"] += 1
                    raise BodyTooLargeError(f"{url} sent more than the {limit}-byte maximum body size", url=url)
                chunks.append(chunk)
            return Page(url=resp.url, status=resp.status_code,
                        headers={k.lower(): v for k, v in resp.headers.items()},
                        body=b"".join(chunks), fetched_at=now_utc())

    def _raise_for_status(self, page: Page) -> None:
        status, url = page.status, page.url
        if status < 400:
            return
        if status in (401, 403):
            raise AccessDeniedError(f"{url} refused access (HTTP {status}): it needs a login, is private, "
                                    "or the site blocks this client", url=url, status=status)
        if status in (404, 410):
            raise NotFoundError(f"{url} was not found (HTTP {status}): removed, private or mistyped", url=url, status=status)
        raise FetchError(f"{url} answered HTTP {status}", url=url, status=status)

    def _fetch_robots(self, url: str) -> tuple[int, bytes]:
        host = urlsplit(url).netloc
        self.throttle.wait(host)
        resp = self.session.get(url, timeout=self.config.timeout)
        return resp.status_code, resp.content[: 512 * 1024]
