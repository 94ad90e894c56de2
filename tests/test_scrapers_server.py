"""The HTTP client and the crawlers against a local server on 127.0.0.1 (ephemeral port)
serving the captured pages at their real paths: retries, Retry-After, timeouts, robots.txt,
caching, bad bodies, full Reddit thread expansion, StockTwits paging, resume after a kill."""
from __future__ import annotations

import copy
import json
import time
from urllib.parse import urlsplit

import pytest

from crowdpulse.scrape import run_scrape
from scrapers import reddit, stocktwits
from scrapers.config import FetchConfig
from scrapers.errors import (
    AccessDeniedError, BodyTooLargeError, CredentialsError, FetchError, NotFoundError, ParseError,
    RobotsDisallowedError,
)
from scrapers.http import Client
from scrapers.middleware import parse_retry_after
from tests.conftest import shared_path

from tests.fault_server import Response, Server


@pytest.fixture
def serve():
    servers = []

    def start(app):
        s = Server(app)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def fast_config(**kw) -> FetchConfig:
    base = dict(backoff_base=0.01, backoff_max=0.05, default_interval=0.0, host_intervals={}, timeout=2.0, retries=3)
    base.update(kw)
    return FetchConfig(**base)


JSON = {"Content-Type": "application/json"}
NO_ROBOTS: Response = (404, {}, b"not found")


# --------------------------------------------------------------------------- client
def test_retry_after_seconds_is_honoured(serve):
    calls = {"n": 0}

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "2"}, b"slow down"
        return 200, JSON, b'{"ok": true}'

    server = serve(app)
    client = Client(fast_config())
    start = time.monotonic()
    page = client.fetch(server.url + "/api/thing.json")
    elapsed = time.monotonic() - start
    assert json.loads(page.body) == {"ok": True}
    assert elapsed >= 2.0
    assert client.stats["retry/count"] == 1 and client.stats["retry/reason_count/429"] == 1


def test_503_twice_then_success(serve):
    calls = {"n": 0}

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        calls["n"] += 1
        return (503, {}, b"busy") if calls["n"] <= 2 else (200, JSON, b"[1]")

    server = serve(app)
    client = Client(fast_config())
    assert client.fetch(server.url + "/x").body == b"[1]"
    assert client.stats["retry/count"] == 2 and client.stats["retry/reason_count/503"] == 2
    assert calls["n"] == 3


def test_retries_exhausted_is_a_clear_error(serve):
    server = serve(lambda m, p, q, h: NO_ROBOTS if p == "/robots.txt" else (502, {}, b"bad gateway"))
    client = Client(fast_config(retries=2))
    with pytest.raises(FetchError, match=r"gave up on .*HTTP 502 after 3 attempts"):
        client.fetch(server.url + "/x")
    assert client.stats["retry/max_reached"] == 1


def test_timeout(serve):
    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        time.sleep(1.0)
        return 200, {}, b"late"

    server = serve(app)
    client = Client(fast_config(timeout=0.3, retries=1))
    with pytest.raises(FetchError, match="timed out after 0.3 s"):
        client.fetch(server.url + "/slow")
    assert client.stats["retry/reason_count/timeout"] == 1


def test_robots_disallow_fetches_nothing(serve):
    server = serve(lambda m, p, q, h: (200, {}, b"User-agent: *\nDisallow: /private/\n") if p == "/robots.txt" else (200, {}, b"secret"))
    client = Client(fast_config())
    with pytest.raises(RobotsDisallowedError, match="forbids.*--ignore-robots"):
        client.fetch(server.url + "/private/page")
    assert server.paths() == ["/robots.txt"]
    assert client.stats["robots/forbidden"] == 1
    assert client.fetch(server.url + "/public").body == b"secret"
    ignoring = Client(fast_config(obey_robots=False))
    assert ignoring.fetch(server.url + "/private/page").body == b"secret"


def test_robots_crawl_delay_and_throttle(serve):
    server = serve(lambda m, p, q, h: (200, {}, b"User-agent: *\nCrawl-delay: 1\n") if p == "/robots.txt" else (200, {}, b"ok"))
    client = Client(fast_config())
    start = time.monotonic()
    for _ in range(2):
        client.fetch(server.url + "/a")
    assert time.monotonic() - start >= 0.95
    assert client.stats["throttle/waits"] >= 1


def test_user_agent_names_tool_and_contact(serve):
    server = serve(lambda m, p, q, h: NO_ROBOTS if p == "/robots.txt" else (200, {}, b"ok"))
    Client(fast_config()).fetch(server.url + "/a")
    ua = server.requests[-1][2]["user-agent"]
    assert ua.startswith("crowdpulse/") and "contact:" in ua


def test_status_errors(serve):
    def app(method, path, query, headers):
        return {"/gone": (404, {}, b""), "/private": (403, {}, b""), "/login": (401, {}, b"")}.get(path, NO_ROBOTS)

    server = serve(app)
    client = Client(fast_config())
    with pytest.raises(NotFoundError, match="not found.*removed"):
        client.fetch(server.url + "/gone")
    with pytest.raises(AccessDeniedError, match="login"):
        client.fetch(server.url + "/private")
    with pytest.raises(AccessDeniedError, match="HTTP 401"):
        client.fetch(server.url + "/login")


def test_max_body_size(serve):
    server = serve(lambda m, p, q, h: NO_ROBOTS if p == "/robots.txt" else (200, {}, b"x" * 5000))
    with pytest.raises(BodyTooLargeError, match="4096-byte maximum"):
        Client(fast_config(max_body_bytes=4096)).fetch(server.url + "/big")


def test_cache_conditional_request_and_offline_replay(serve, tmp_path):
    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        if headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, b'{"v": 1}'

    server = serve(app)
    client = Client(fast_config(cache_dir=tmp_path / "cache"))
    first = client.fetch(server.url + "/t.json")
    second = client.fetch(server.url + "/t.json")
    assert first.body == second.body == b'{"v": 1}'
    assert client.stats["cache/revalidated"] == 1 and client.stats["cache/stored"] == 1
    assert server.requests[-1][2]["if-none-match"] == '"v1"'
    assert server.requests[-1][2]["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    n = len(server.requests)
    offline = Client(fast_config(cache_dir=tmp_path / "cache", cache_policy="prefer"))
    assert offline.fetch(server.url + "/t.json").body == b'{"v": 1}'
    assert len(server.requests) == n and offline.stats["cache/hit"] == 1


def test_retry_after_http_date():
    assert parse_retry_after("120") == 120.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= parse_retry_after(future) <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


# --------------------------------------------------------------------------- Reddit thread
def load(*parts):
    return json.loads(shared_path("fixtures", *parts).read_text())


class RedditThreadSite:
    """A consistent served thread: the real 3hahrw thread, its real morechildren response
    (cu5pg2h) and real "continue" response (cu5v5h7). Stubs with no captured response are
    answered in the same shapes: one comment per requested id under the stub's parent, and
    for a continue stub the parent comment with one new reply."""

    def __init__(self) -> None:
        self.thread = load("reddit", "thread_3hahrw_funny_2016.json")
        self.morechildren = load("reddit", "morechildren_3hahrw_cu5pg2h_2016.json")
        self.cont = load("reddit", "thread_continue_3hahrw_cu5v5h7_2016.json")
        self.comments: dict[str, dict] = {}
        self.stub_parent: dict[str, str] = {}
        self.continue_parents: list[str] = []
        stack = list(self.thread[1]["data"]["children"])
        while stack:
            c = stack.pop()
            if c["kind"] == "t1":
                self.comments[c["data"]["id"]] = c["data"]
                if c["data"]["replies"]:
                    stack.extend(c["data"]["replies"]["data"]["children"])
            elif c["data"]["id"] == "_":
                self.continue_parents.append(c["data"]["parent_id"][3:])
            else:
                for kid in c["data"]["children"]:
                    self.stub_parent[kid] = c["data"]["parent_id"]
        self.truncate_after: int | None = None
        self.served = 0

    def synthetic_comment(self, cid: str, parent_fullname: str) -> dict:
        return {"kind": "t1", "data": {"id": cid, "name": f"t1_{cid}", "parent_id": parent_fullname,
                                       "link_id": "t3_3hahrw", "author": f"user_{cid}", "body": f"reply {cid}",
                                       "score": 1, "created_utc": 1439900000.0, "subreddit": "funny", "replies": ""}}

    def __call__(self, method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        self.served += 1
        if path == "/comments/3hahrw/.json":
            return 200, JSON, json.dumps(self.thread).encode()
        if path == "/api/morechildren.json":
            ids = query["children"].split(",")
            if ids == ["cu5pg2h"]:
                return 200, JSON, json.dumps(self.morechildren).encode()
            things = [self.synthetic_comment(i, self.stub_parent[i]) for i in ids]
            return 200, JSON, json.dumps({"json": {"errors": [], "data": {"things": things}}}).encode()
        if path.startswith("/comments/3hahrw/_/"):
            cid = path.split("/")[4]
            if cid == "cu5v5h7":
                return 200, JSON, json.dumps(self.cont).encode()
            focused = copy.deepcopy(self.comments[cid])
            focused["replies"] = {"kind": "Listing", "data": {"children": [self.synthetic_comment(f"k{cid}", f"t1_{cid}")]}}
            return 200, JSON, json.dumps([self.thread[0], {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": focused}]}}]).encode()
        return 404, {}, b""


EXPECTED_THREAD_ROWS = 1 + 476 + 11 + (24 - 1) + 2 + 5  # post, tree, cu5pg2h batch, other stubs, continues


def check_thread_rows(store):
    df = store.posts("source = 'reddit'")
    assert len(df) == EXPECTED_THREAD_ROWS == df["id"].nunique()
    ids = set(df["id"])
    assert set(df["parent_id"].dropna()) <= ids
    depth = dict(zip(df["id"], df["depth"]))
    for cid, parent, d in zip(df["id"], df["parent_id"], df["depth"]):
        if isinstance(parent, str):
            assert d == depth[parent] + 1, cid
    return df


def test_full_reddit_thread_crawl_expands_every_stub(serve, fresh_store):
    site = RedditThreadSite()
    server = serve(site)
    counts = run_scrape(fresh_store, "reddit", f"{server.url}/r/funny/comments/3hahrw/ba_dum_tsss/",
                        base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 1 + 12 + 6
    df = check_thread_rows(fresh_store)
    assert df.loc[df["id"] == "cu5w1ko", "depth"].item() == 12  # inside the real continue response
    assert df.loc[df["id"] == "cu5pg2h", "parent_id"].item() == "cu5p1hh"
    assert fresh_store.get_cursor("reddit", "thread:3hahrw") == {"pending": [], "complete": True}
    assert sum("/api/morechildren.json" in p for p in server.paths()) == 12


def test_reddit_thread_crawl_killed_then_resumed(serve, fresh_store):
    site = RedditThreadSite()
    server = serve(site)

    class Killed(Exception):
        pass

    def kill_after_five(step, counts):
        if counts["pages"] == 5:
            raise Killed()

    target = f"{server.url}/comments/3hahrw/"
    with pytest.raises(Killed):
        run_scrape(fresh_store, "reddit", target, base_url=server.url, fetch_config=fast_config(), on_step=kill_after_five)
    partial = len(fresh_store.posts())
    assert 477 <= partial < EXPECTED_THREAD_ROWS
    served_before = site.served
    counts = run_scrape(fresh_store, "reddit", target, base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 19 - 5 and site.served - served_before == 14  # the thread page is not fetched again
    check_thread_rows(fresh_store)
    again = run_scrape(fresh_store, "reddit", target, base_url=server.url, fetch_config=fast_config())
    # a completed crawl re-runs from the top: nothing new; the 6 focused comments of the
    # "continue" pages are stored (updated) twice, once from the tree and once from their page
    assert again["posts_new"] == 0 and again["posts_updated"] == EXPECTED_THREAD_ROWS + 6
    check_thread_rows(fresh_store)


def test_anonymous_reddit_refusal_names_missing_credentials(serve, monkeypatch):
    for var in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USERNAME", "REDDIT_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    server = serve(lambda m, p, q, h: NO_ROBOTS if p == "/robots.txt" else (403, {}, b"blocked"))
    client = Client(fast_config())
    # a reddit.com URL is what triggers the credentials hint; the mirror answers for it here
    monkeypatch.setattr(client, "fetch", lambda url, **kw: (_ for _ in ()).throw(
        AccessDeniedError("refused", url=url, status=403)))
    with pytest.raises(CredentialsError, match="REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET"):
        next(reddit.crawl_thread(client, "3hahrw", base_url="https://www.reddit.com"))


def test_reddit_oauth_token_and_bearer_header(serve, monkeypatch):
    from scrapers.reddit_auth import load_credentials, login

    listing = json.dumps(load("reddit", "listing_r_askreddit_new_2016.json")).encode()  # skips here, not in the server thread

    def app(method, path, query, headers):
        if path == "/api/v1/access_token":
            assert method == "POST" and headers["authorization"].startswith("Basic ")
            return 200, JSON, b'{"access_token": "tok123", "token_type": "bearer", "expires_in": 3600}'
        return 200, JSON, listing

    server = serve(app)
    env = {"REDDIT_CLIENT_ID": "id", "REDDIT_CLIENT_SECRET": "s", "REDDIT_USERNAME": "u", "REDDIT_PASSWORD": "p"}
    creds = load_credentials(env=env, ini_paths=[])
    client = Client(fast_config())
    assert login(client, creds, token_url=server.url + "/api/v1/access_token") == "tok123"
    oauth_like = server.url.replace("127.0.0.1", "localhost")  # any host; api calls skip robots for oauth.* only
    steps = list(reddit.crawl_listing(client, "r/askreddit", base_url=oauth_like, pages=1))
    assert len(steps[0].posts) == 100
    assert server.requests[-1][2]["authorization"] == "bearer tok123"


def test_reddit_token_is_renewed_before_it_expires_and_after_a_401(serve):
    from scrapers.reddit_auth import login

    tokens = iter(["tok1", "tok2", "tok3"])
    current = {}

    def app(method, path, query, headers):
        if path == "/api/v1/access_token":
            current["token"] = next(tokens)
            return 200, JSON, json.dumps({"access_token": current["token"], "expires_in": 3600}).encode()
        if path == "/revoked" and headers["authorization"] == "bearer tok2":
            return 401, JSON, b'{"message": "Unauthorized", "error": 401}'
        return 200, JSON, b"{}"

    server = serve(app)
    creds = {"client_id": "id", "client_secret": "s", "username": "u", "password": "p"}
    client = Client(fast_config())
    login(client, creds, token_url=server.url + "/api/v1/access_token")
    client.fetch(server.url + "/a", api=True)
    assert server.requests[-1][2]["authorization"] == "bearer tok1"
    client.auth_expires_at = time.time() + 30  # less than a minute left: renewed before the request
    client.fetch(server.url + "/b", api=True)
    assert server.requests[-1][2]["authorization"] == "bearer tok2"
    client.fetch(server.url + "/revoked", api=True)  # 401 with tok2: one new login, then the retry
    last = [(urlsplit(p).path, h["authorization"].split()[0] if "basic" in h["authorization"].lower() else h["authorization"])
            for _, p, h in server.requests[-3:]]
    assert last == [("/revoked", "bearer tok2"), ("/api/v1/access_token", "Basic"), ("/revoked", "bearer tok3")]
    assert client.stats["auth/renewed"] == 2 and client.stats["auth/token"] == 3


def test_reddit_credentials_from_praw_ini(tmp_path):
    from scrapers.reddit_auth import load_credentials, missing_credentials_hint

    ini = tmp_path / "praw.ini"
    ini.write_text("[bot]\nclient_id=a\nclient_secret=b\nusername=c\npassword=d\n")
    assert load_credentials(env={}, ini_paths=[ini], site="bot") == {"client_id": "a", "client_secret": "b", "username": "c", "password": "d"}
    assert load_credentials(env={}, ini_paths=[]) is None
    assert "REDDIT_PASSWORD" in missing_credentials_hint(env={"REDDIT_CLIENT_ID": "x"})
    assert "REDDIT_CLIENT_ID" not in missing_credentials_hint(env={"REDDIT_CLIENT_ID": "x"})


# --------------------------------------------------------------------------- listings, truncation
def test_truncated_json_keeps_earlier_pages(serve, fresh_store):
    listing = shared_path("fixtures", "reddit", "listing_r_askreddit_new_2016.json").read_bytes()

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        if "after" not in query:
            return 200, JSON, listing
        return 200, JSON, listing[: len(listing) // 2]

    server = serve(app)
    with pytest.raises(ParseError, match="not valid JSON.*truncated") as info:
        run_scrape(fresh_store, "reddit", "r/askreddit", base_url=server.url, fetch_config=fast_config())
    assert info.value.counts["pages"] == 1
    assert len(fresh_store.posts()) == 100
    assert fresh_store.get_cursor("reddit", "r/askreddit") == {"after": "t3_48f6io", "complete": False}
    runs = fresh_store.query("SELECT status FROM runs")
    assert list(runs["status"]) == ["error"]


# --------------------------------------------------------------------------- StockTwits
class StockTwitsSite:
    """The 3 captured AAPL pages (90 messages) served as a stream with a real cursor."""

    def __init__(self) -> None:
        lines = shared_path("fixtures", "stocktwits", "messages_AAPL_2026-05-31_3pages.jsonl").read_text().splitlines()
        self.messages = [json.loads(x) for x in lines if x.strip()]
        self.served = 0

    def __call__(self, method, path, query, headers):
        if path != "/api/2/streams/symbol/AAPL.json":
            return 404, {}, b'{"errors": [{"message": "not found"}]}'
        self.served += 1
        older = [m for m in self.messages if "max" not in query or m["id"] < int(query["max"])]
        page = older[:30]
        more = len(older) > 30
        cursor = {"more": more, "since": page[0]["id"], "max": page[-1]["id"] if more else None}
        body = {"response": {"status": 200}, "symbol": {"symbol": "AAPL"}, "cursor": cursor, "messages": page}
        return 200, JSON, json.dumps(body).encode()


def test_stocktwits_pages_to_the_end(serve, fresh_store):
    site = StockTwitsSite()
    server = serve(site)
    counts = run_scrape(fresh_store, "stocktwits", "$aapl", base_url=server.url, fetch_config=fast_config())
    assert counts["pages"] == 3 and counts["posts_new"] == 90 and site.served == 3
    df = fresh_store.posts("source = 'stocktwits'")
    assert len(df) == 90 and df["user_label"].value_counts().to_dict() == {"bullish": 14, "bearish": 10}
    assert "robots.txt" not in " ".join(server.paths())  # an API: governed by its terms, not robots.txt
    assert fresh_store.get_cursor("stocktwits", "symbol:AAPL")["complete"] is True


def test_stocktwits_killed_then_resumed_gives_same_rows(serve, fresh_store, tmp_path):
    from crowdpulse.store import Store

    site = StockTwitsSite()
    server = serve(site)

    def kill(step, counts):
        if counts["pages"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scrape(fresh_store, "stocktwits", "AAPL", base_url=server.url, fetch_config=fast_config(), on_step=kill)
    assert len(fresh_store.posts()) == 60
    run_scrape(fresh_store, "stocktwits", "AAPL", base_url=server.url, fetch_config=fast_config())
    assert site.served == 3  # resumed at page 3, nothing fetched twice
    with Store.open(tmp_path / "clean.duckdb") as clean:
        run_scrape(clean, "stocktwits", "AAPL", base_url=server.url, fetch_config=fast_config())
        cols = ["source", "id", "thread_id", "parent_id", "author", "created_at", "body", "user_label"]
        a = fresh_store.posts()[cols].sort_values("id").reset_index(drop=True)
        b = clean.posts()[cols].sort_values("id").reset_index(drop=True)
        assert a.equals(b) and len(a) == 90


def test_scrape_command_prints_counts(serve, tmp_path):
    import os
    import subprocess
    import sys

    server = serve(StockTwitsSite())
    db = tmp_path / "cli.duckdb"
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "scrape", "stocktwits", "AAPL", "--db", str(db),
                          "--base-url", server.url, "--pages", "2"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "2 pages, 60 new posts, 0 updated, 0 retries" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "scrape", "myspace", "x", "--db", str(db)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: unknown site 'myspace'; allowed: reddit, stocktwits")


def test_reddit_robots_refusal_points_to_oauth(monkeypatch):
    client = Client(fast_config())
    monkeypatch.setattr(client, "fetch", lambda url, **kw: (_ for _ in ()).throw(
        RobotsDisallowedError("forbidden", url=url)))
    with pytest.raises(RobotsDisallowedError, match="use the OAuth API instead.*--ignore-robots"):
        next(reddit.crawl_listing(client, "r/stocks", base_url="https://www.reddit.com"))


def test_killed_run_is_recorded_as_interrupted(serve, fresh_store):
    server = serve(StockTwitsSite())

    def kill(step, counts):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scrape(fresh_store, "stocktwits", "AAPL", base_url=server.url, fetch_config=fast_config(), on_step=kill)
    runs = fresh_store.query("SELECT status, counts FROM runs")
    assert list(runs["status"]) == ["interrupted"] and json.loads(runs["counts"][0])["pages"] == 1
