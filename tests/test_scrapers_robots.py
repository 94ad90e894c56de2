"""robots.txt as sites write it (protego): ``*`` and ``$`` wildcards, longest-match precedence
between Allow and Disallow, our product token, and what a robots.txt that cannot be read does."""
from __future__ import annotations

from collections import Counter

import pytest

from scrapers.config import FetchConfig
from scrapers.errors import FetchError, RobotsDisallowedError, RobotsUnavailableError
from scrapers.http import Client
from scrapers.middleware import RobotsCache, product_token
from tests.test_scrapers_server import NO_ROBOTS, fast_config, serve  # noqa: F401  (fixture)

BASE = "https://forum.example.org"


def robots(text: str, status: int = 200) -> RobotsCache:
    """A RobotsCache whose robots.txt is ``text``, fetched without a network."""
    return RobotsCache(FetchConfig(), Counter(), lambda url: (status, text.encode()))


def allowed(cache: RobotsCache, path: str) -> bool:
    return cache.allowed(BASE + path)


WILDCARDS = """\
User-agent: *
Disallow: /*?sort=
Disallow: /*.json$
Allow: /r/*/comments/$
Disallow: /r/
"""


@pytest.mark.parametrize(("path", "expected"), [
    ("/t/123?sort=new", False),            # "*" spans any characters
    ("/forum/t/123/x?sort=old", False),     # ...including "/"
    ("/t/123?page=2&sort=new", True),       # "?" is literal: "&sort=" is not "?sort="
    ("/t/123?page=2", True),
    ("/api/posts.json", False),             # "$" anchors the end of the URL
    ("/api/posts.json?x=1", True),          # ...so a query after it escapes the rule
    ("/api/posts.jsonl", True),
    ("/r/stocks/comments/", True),          # Allow with "*" and "$", longer than Disallow: /r/
    ("/r/stocks/comments/abc123/title/", False),  # "$" ends the Allow: only Disallow: /r/ matches
    ("/r/stocks/", False),
])
def test_google_wildcards(path, expected):
    assert allowed(robots(WILDCARDS), path) is expected


def test_python_robotparser_got_the_wildcards_wrong():
    """The reason for protego: urllib.robotparser reads "*" and "$" literally."""
    from urllib.robotparser import RobotFileParser

    old = RobotFileParser()
    old.parse(WILDCARDS.splitlines())
    assert old.can_fetch("crowdpulse", BASE + "/t/123?sort=new") is True       # should be forbidden
    assert old.can_fetch("crowdpulse", BASE + "/r/stocks/comments/") is False  # should be allowed
    assert allowed(robots(WILDCARDS), "/t/123?sort=new") is False
    assert allowed(robots(WILDCARDS), "/r/stocks/comments/") is True


LONGEST = """\
User-agent: *
Allow: /forum/
Disallow: /forum/private/
Allow: /forum/private/faq
Disallow: /page
Allow: /page
Disallow: /search*
Allow: /search
"""


@pytest.mark.parametrize(("path", "expected"), [
    ("/forum/viewtopic.php?t=1", True),
    ("/forum/private/inbox", False),         # the longer Disallow beats the shorter Allow
    ("/forum/private/faq.html", True),       # ...and a longer Allow beats it again, whatever the order
    ("/page.html", True),                    # equal length: Allow wins the tie
    ("/searching", False),                   # "/search*" (8 characters) is longer than "/search" (7)
])
def test_longest_match_wins_between_allow_and_disallow(path, expected):
    assert allowed(robots(LONGEST), path) is expected


def test_groups_match_our_product_token_not_the_whole_user_agent():
    text = "User-agent: github\nDisallow: /\n\nUser-agent: crowdpulse\nDisallow: /private/\nCrawl-delay: 7\n\nUser-agent: *\nDisallow: /\n"
    cache = robots(text)
    assert product_token(FetchConfig().user_agent) == "crowdpulse"
    assert "github.com" in FetchConfig().user_agent  # the contact URL must not pick the "github" group
    assert allowed(cache, "/viewtopic.php?t=1") is True
    assert allowed(cache, "/private/x") is False
    assert cache.crawl_delay(BASE + "/") == 7.0


@pytest.mark.parametrize(("status", "expected"), [(404, True), (410, True), (401, False), (403, False)])
def test_missing_file_allows_and_refused_file_forbids(status, expected):
    assert allowed(robots("User-agent: *\nDisallow: /\n", status=status), "/anything") is expected


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_answering_an_error_forbids_with_one_line(status):
    cache = robots("", status=status)
    with pytest.raises(RobotsUnavailableError, match=rf"could not read robots.txt of forum.example.org \(it answered HTTP {status}\).*--ignore-robots") as info:
        allowed(cache, "/t/1")
    assert "\n" not in str(info.value)
    assert cache.stats["robots/unreachable"] == 1


def test_unreachable_robots_is_one_line_and_ignore_robots_overrides(serve):
    """A robots.txt whose host resets every connection: one RobotsDisallowedError line naming the
    cause (no urllib3 exception text), nothing else fetched; --ignore-robots fetches the page."""
    def app(method, path, query, headers):
        if path == "/robots.txt":
            return "RESET"
        return 200, {}, b"page"

    server = serve(app)
    client = Client(fast_config(retries=1))
    with pytest.raises(RobotsDisallowedError) as info:
        client.fetch(server.url + "/t/1")
    message = str(info.value)
    assert message.startswith("could not read robots.txt of 127.0.0.1:")
    assert "reset the connection" in message and "--ignore-robots" in message
    assert "urllib3" not in message and "HTTPConnectionPool" not in message and "\n" not in message
    assert server.paths() == ["/robots.txt", "/robots.txt"]  # retried once, the page never fetched
    with pytest.raises(RobotsUnavailableError):  # remembered for the run: no new attempt
        client.fetch(server.url + "/t/2")
    assert server.paths() == ["/robots.txt", "/robots.txt"]
    assert Client(fast_config(obey_robots=False)).fetch(server.url + "/t/1").body == b"page"


def test_robots_fetch_follows_redirects(serve):
    def app(method, path, query, headers):
        if path == "/robots.txt":
            return 301, {"Location": "/static/robots.txt"}, b""
        if path == "/static/robots.txt":
            return 200, {}, b"User-agent: *\nDisallow: /*?sort=\n"
        return 200, {}, b"page"

    server = serve(app)
    client = Client(fast_config())
    with pytest.raises(RobotsDisallowedError, match="forbids"):
        client.fetch(server.url + "/t/1?sort=new")
    assert client.fetch(server.url + "/t/1").body == b"page"
    assert not isinstance(FetchError("x"), RobotsDisallowedError)
