"""Crawlers of the other sites against a local server serving the captured pages at their
real paths: Hacker News paging, Discourse stream batches, phpBB/vBulletin pages, community."""
from __future__ import annotations

import json

import pytest

from crowdpulse.scrape import parse_file, run_scrape
from crowdpulse.errors import CrowdpulseError
from scrapers.errors import ScraperError
from tests.conftest import ROOT, shared_path
from tests.test_scrapers_server import JSON, NO_ROBOTS, fast_config, serve  # noqa: F401  (fixture)

HTML = {"Content-Type": "text/html; charset=utf-8"}


def test_hackernews_pages_until_no_morelink(serve, fresh_store):
    pages = {n: shared_path("fixtures", "hackernews", f"item_34219335_whoishiring_2023-01_p{n}.html").read_bytes()
             for n in (1, 2, 3)}

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return 200, {}, b"User-agent: *\nDisallow: /x?\nDisallow: /vote\n"
        if path == "/item" and query.get("id") == "34219335":
            return 200, HTML, pages[int(query.get("p", 1))]
        return 404, {}, b""

    server = serve(app)
    counts = run_scrape(fresh_store, "hackernews", "https://news.ycombinator.com/item?id=34219335",
                        base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 3 and counts["robots/fetched"] == 1
    df = fresh_store.posts("source = 'hackernews'")
    assert len(df) == 1 + 251 + 255 + 31 == df["id"].nunique()
    assert set(df["parent_id"].dropna()) <= set(df["id"])
    assert [p for p in server.paths() if p.startswith("/item")] == [
        "/item?id=34219335", "/item?id=34219335&p=2", "/item?id=34219335&p=3"]


def test_discourse_topic_fetches_the_whole_stream_in_batches_of_20(serve, fresh_store):
    topic = json.loads(shared_path("fixtures", "discourse", "topic_2108_page_post452_raw.json").read_text())
    stream = topic["post_stream"]["stream"]

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        if path == "/t/comments-on-the-boyfriends-introduction-to-feminism/2108.json":
            return 200, JSON, json.dumps(topic).encode()
        if path == "/t/2108/posts.json":
            ids = query["post_ids[]"]
            ids = ids if isinstance(ids, list) else [ids]
            assert len(ids) <= 20
            posts = [{"id": int(i), "topic_id": 2108, "post_number": stream.index(int(i)) + 1, "username": f"u{i}",
                      "created_at": "2025-01-01T00:00:00Z", "cooked": f"<p>post {i}</p>", "reply_to_post_number": None}
                     for i in ids]
            return 200, JSON, json.dumps({"post_stream": {"posts": posts}, "id": 2108}).encode()
        return 404, {}, b""

    server = serve(app)
    counts = run_scrape(fresh_store, "discourse",
                        "https://discuss.example.org/t/comments-on-the-boyfriends-introduction-to-feminism/2108",
                        base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 1 + 22
    df = fresh_store.posts("source = 'discourse'")
    assert len(df) == 446 == df["id"].nunique()
    assert df.loc[df["id"] == "2108/1", "depth"].item() == 0


def test_phpbb_and_vbulletin_single_page_crawls(serve, fresh_store):
    php = shared_path("fixtures", "forums", "phpbb", "viewtopic_videolan_t154691.html").read_bytes()
    vb = shared_path("fixtures", "forums", "somethingawful_vbulletin", "showthread_3507451_page1.html").read_bytes()

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        if path == "/viewtopic.php" and query.get("t") == "154691":
            assert "sid" not in query
            return 200, HTML, php
        if path == "/showthread.php" and query.get("threadid") == "3507451":
            return 200, HTML, vb
        return 404, {}, b""

    server = serve(app)
    c1 = run_scrape(fresh_store, "phpbb", "http://forum.videolan.org/viewtopic.php?t=154691&sid=deadbeef",
                    base_url=server.url, fetch_config=fast_config())
    assert c1["pages"] == 1 and c1["posts_new"] == 2
    c2 = run_scrape(fresh_store, "vbulletin", "3507451", base_url=server.url, fetch_config=fast_config(), pages=1)
    assert c2["pages"] == 1 and c2["posts_new"] == 40
    assert fresh_store.get_cursor("vbulletin", "3507451") == {"page": 6, "complete": False}


def test_community_crawl_and_parse_file(serve, fresh_store):
    body = (ROOT / "tests" / "fixtures" / "community" / "post_318240957.html").read_bytes()
    server = serve(lambda m, p, q, h: NO_ROBOTS if p == "/robots.txt" else (200, HTML, body) if p == "/post/318240957" else (404, {}, b""))
    counts = run_scrape(fresh_store, "community", "318240957", base_url=server.url, fetch_config=fast_config())
    assert counts["posts_new"] == 5
    posts = parse_file("auto", ROOT / "tests" / "fixtures" / "community" / "post_318240957_no_app_data.html")
    assert len(posts) == 5 and posts[0].source == "community"


def test_bad_options_are_one_line_errors(fresh_store):
    with pytest.raises(CrowdpulseError, match="unknown site 'myspace'; allowed: reddit, stocktwits"):
        run_scrape(fresh_store, "myspace", "x")
    with pytest.raises(CrowdpulseError, match="--since 'yesterday' is not a date"):
        run_scrape(fresh_store, "stocktwits", "IWM", since="yesterday", base_url="http://127.0.0.1:9")
    with pytest.raises(ScraperError, match="not a ticker symbol"):
        run_scrape(fresh_store, "stocktwits", "not a symbol!", base_url="http://127.0.0.1:9")
    with pytest.raises(ScraperError, match="needs the board's address"):
        run_scrape(fresh_store, "phpbb", "154691")


def test_reddit_search_listing_stops_at_since(serve, fresh_store):
    listing = shared_path("fixtures", "reddit", "listing_r_askreddit_new_2016.json").read_bytes()
    created = sorted(c["data"]["created_utc"] for c in json.loads(listing)["data"]["children"])

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        assert path == "/r/stocks/search.json" and query["q"] == "IWM" and query["restrict_sr"] == "1"
        return 200, JSON, listing

    server = serve(app)
    from datetime import datetime, timezone
    since = datetime.fromtimestamp(created[50], tz=timezone.utc)
    counts = run_scrape(fresh_store, "reddit", "r/stocks", query="IWM", since=since.isoformat(),
                        base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 1 and counts["posts_new"] == 50  # older posts dropped, crawl stopped
    assert fresh_store.get_cursor("reddit", "r/stocks?q=IWM")["complete"] is True
