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
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from scrapers.config import FetchConfig
from scrapers.errors import (
    AccessDeniedError, BodyTooLargeError, FetchError, NotFoundError, RedirectError, RobotsDisallowedError,
)
from scrapers.middleware import RawCache, RetryPolicy, RobotsCache, Throttle, now_utc
from scrapers.records import Page
from scrapers.transport import TRANSPORT_ERRORS, IncompleteBody, transport_failure

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
        self._cache_keys: dict[str, str] = {}  # final URL of a fetched page -> its cache key

    # ------------------------------------------------------------------ public
    def fetch(self, url: str, *, params: dict[str, Any] | None = None, method: str = "GET",
              data: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
              api: bool = False, use_cache: bool = True) -> Page:
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        body = urlencode(data, doseq=True).encode() if data else None
        if not urlsplit(url).scheme in ("http", "https"):
            raise FetchError(f"cannot fetch {url!r}: only http:// and https:// URLs are supported", url=url)
        key = self.cache.key(method, url, body) if self.cache and use_cache else None
        cached = self.cache.load(key) if key else None
        if cached is not None and self.config.cache_policy == "prefer":
            self.stats["cache/hit"] += 1
            return cached
        self._check_robots(url, api)
        if self.auth_renew and self.auth_expires_at is not None and time.time() >= self.auth_expires_at - 60:
            self._renew_auth("expires")
        page = self._request(method, url, body, self._headers(headers, cached), api=api)
        if page.status == 401 and self.auth_renew and self.auth_headers:
            self._renew_auth("was refused")
            page = self._request(method, url, body, self._headers(headers, cached), api=api)
        if page.status == 304 and cached is not None:
            self.stats["cache/revalidated"] += 1
            return cached
        self._raise_for_status(page)
        if key:
            self.cache.store(key, page)
            self._cache_keys[page.url] = key
        return page

    def forget(self, url: str) -> None:
        """Drop the cached copy of the page last fetched as ``url`` (its final URL), so the next
        fetch downloads it again: a crawl calls this for a page that parsed as cut short."""
        key = self._cache_keys.pop(url, None)
        if self.cache is not None and key:
            self.cache.discard(key)

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

    def _check_robots(self, url: str, api: bool) -> None:
        if not self.config.obey_robots or api:
            return
        host = urlsplit(url).netloc
        if not self.robots.allowed(url):
            raise RobotsDisallowedError(
                f"robots.txt of {host} forbids fetching {url}; nothing was fetched "
                "(pass --ignore-robots if you have the site's permission)", url=url)
        delay = self.robots.crawl_delay(url)
        if delay:
            self.throttle.set_crawl_delay(host, delay)

    def _request(self, method: str, url: str, body: bytes | None, headers: dict[str, str], *,
                 api: bool = False, robots: bool = True) -> Page:
        """Send, following redirects here rather than in requests, so that every request a
        redirect leads to waits for the throttle, is checked against robots.txt (``robots``)
        and is retried like the first; a loop or more than ``max_redirects`` is one
        :class:`RedirectError`. Credentials are not sent on to another host."""
        chain = [url]
        while True:
            page = self._fetch_with_retries(method, url, body, headers)
            location = page.headers.get("location")
            if page.status not in REDIRECTS or not location:
                return page
            target = urljoin(url, location)
            self.stats["redirect/count"] += 1
            if urlsplit(target).scheme not in ("http", "https"):
                raise RedirectError(f"{chain[0]} redirects to {target!r}, which is not an http(s) URL; "
                                    "nothing was fetched from it", url=chain[0])
            if target in chain:
                self.stats["redirect/loop"] += 1
                raise RedirectError(f"{chain[0]} redirects in a loop ({' -> '.join(_short(u) for u in chain + [target])}); "
                                    "the site is misconfigured or wants a login or cookies this client does not have", url=chain[0])
            if len(chain) > self.config.max_redirects:
                self.stats["redirect/max_reached"] += 1
                raise RedirectError(f"{chain[0]} redirected more than {self.config.max_redirects} times "
                                    f"(last to {target}); gave up", url=chain[0])
            log.info("following HTTP %d redirect %s -> %s", page.status, url, target)
            if page.status == 303 or (page.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            if urlsplit(target).netloc != urlsplit(url).netloc:
                headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
            if robots:
                self._check_robots(target, api)
            chain.append(target)
            url = target

    def _fetch_with_retries(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Page:
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            self.throttle.wait(host)
            self.stats["request/count"] += 1
            try:
                page = self._send(method, url, body, headers)
            except (*TRANSPORT_ERRORS, IncompleteBody) as exc:
                failure = transport_failure(exc, host, self.config.timeout)
                if failure.unreachable:
                    self.throttle.not_sent(host)
                if not self.retry.should_retry(attempt, failure.unreachable):
                    self.stats["retry/max_reached"] += 1
                    raise FetchError(f"gave up on {url}: {failure.what} ({attempt + 1} attempts)", url=url) from None
                self.retry.wait(failure.reason, url, attempt, self.retry.delay(attempt), failure.unreachable)
                attempt += 1
                continue
            except requests.RequestException as exc:  # an invalid URL or header: not worth retrying
                raise FetchError(f"cannot fetch {url}: {type(exc).__name__}: {exc}", url=url) from None
            self.stats[f"response/status/{page.status}"] += 1
            if not self.retry.is_retryable(page.status):
                return page
            if not self.retry.should_retry(attempt):
                self.stats["retry/max_reached"] += 1
                raise FetchError(f"gave up on {url}: HTTP {page.status} after {attempt + 1} attempts "
                                 "(the site is rate-limiting or failing; try again later)", url=url, status=page.status)
            self.retry.wait(str(page.status), url, attempt, self.retry.delay(attempt, page.headers.get("retry-after")))
            attempt += 1

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Page:
        if body is not None:
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        with self.session.request(method, url, data=body, headers=headers, timeout=self.config.timeout,
                                  stream=True, allow_redirects=False) as resp:
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
            encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
            if declared and declared.isdigit() and not encoded and size < int(declared) and method != "HEAD":
                raise IncompleteBody(size, int(declared))  # urllib3 checks this too; a cached copy must never be short
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
        """robots.txt through the same throttle, retries and (robots-free) redirects as a page."""
        page = self._request("GET", url, None, {}, robots=False)
        return page.status, page.body


REDIRECTS = (301, 302, 303, 307, 308)


def _short(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") or "/"
