"""Fault injection: crawls of local sites on 127.0.0.1 while the server misbehaves by schedule.

Every case runs ``crowdpulse scrape`` through the CLI's own entry point (in-process, with short
waits) against a site whose chosen request answers with a fault first: 429 and 5xx, a reset
before the headers or in the middle of the body, a body shorter than its Content-Length, a
timeout, a page cut short with status 200, a page missing posts it announces, redirect hops,
loops and chains, a robots.txt that cannot be read, a next page or cursor that repeats.

Each case must end in exit 0 (the fault was ridden out) or exit 2 with one ``error:`` line (the
fault outlasted the retries and was refused); never with a traceback. After a refusal one
rerun, with the fault gone, must finish; either way the stored rows must equal those of a
clean crawl of the same site.

Sites: a written phpBB topic (25 posts, 3 pages) and a written StockTwits stream (75 messages,
3 pages), always; the real Hacker News pages of item 34219335 (../shared/fixtures, skipped
when absent).
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

import crowdpulse.scrape
from crowdpulse import cli
from crowdpulse.store import Store
from scrapers.config import FetchConfig
from scrapers.errors import FetchError, RedirectError, RobotsDisallowedError
from scrapers.http import Client
from scrapers.transport import IncompleteBody, transport_failure
from tests.conftest import shared_path
from tests.fault_server import RESET, Hang, ResetMidBody, Schedule, Server, ShortBody
from tests.test_scrapers_complete import phpbb_page
from tests.test_scrapers_server import fast_config, serve  # noqa: F401  (fixture)

HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}
ROBOTS = (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /*?sort=\nDisallow: /memberlist.php\n")
COLUMNS = ["source", "id", "thread_id", "parent_id", "depth", "author", "created_at", "title", "body", "score",
           "url", "user_label", "time_precision", "raw"]


def config(**kw) -> FetchConfig:
    """Short waits: retries=3 (4 attempts), unreachable 1 retry, 0.3 s timeout, truncated pages
    fetched 3 times in all."""
    return fast_config(timeout=0.3, **kw)


# --------------------------------------------------------------------------- the sites
class PhpbbTopic:
    """Topic 7: 25 posts, 10 a page (start=0, 10, 20)."""

    target = "viewtopic.php?t=7"
    site = "phpbb"

    def page(self, start: int, **kw) -> tuple[int, dict[str, str], bytes]:
        return 200, HTML, phpbb_page(7, start, 10, 25, **kw)

    def __call__(self, method, path, query, headers):
        if path == "/robots.txt":
            return ROBOTS
        if path == "/viewtopic.php" and query.get("t") == "7":
            return self.page(int(query.get("start", 0)))
        return 404, {}, b"no such page"


def phpbb_page_two(path, query) -> bool:
    return path == "/viewtopic.php" and query.get("start") == "10"


class StockTwitsStream:
    """IWM: 75 messages (ids 5075 down to 5001), 30 a page, paged back with ``max``."""

    target = "IWM"
    site = "stocktwits"

    def __init__(self) -> None:
        t0 = datetime(2024, 7, 1, 14, 0, tzinfo=timezone.utc)
        self.messages = [{
            "id": 5000 + n, "body": f"$IWM message {n}", "created_at": (t0 + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
            "user": {"id": n, "username": f"user{n % 7}"}, "entities": {"sentiment": {"basic": "Bullish"} if n % 3 == 0 else None},
            "likes": {"total": n % 4}} for n in range(75, 0, -1)]

    def body(self, max_id: int | None, repeat_max: int | None = None) -> bytes:
        older = [m for m in self.messages if max_id is None or m["id"] < max_id]
        page, more = older[:30], len(older) > 30
        cursor = {"more": more, "since": page[0]["id"], "max": repeat_max or (page[-1]["id"] if more else None)}
        return json.dumps({"response": {"status": 200}, "cursor": cursor, "messages": page}).encode()

    def __call__(self, method, path, query, headers):
        if path != "/api/2/streams/symbol/IWM.json":
            return 404, JSON, b'{"errors": [{"message": "not found"}]}'
        return 200, JSON, self.body(int(query["max"]) if "max" in query else None)


def stocktwits_page_two(path, query) -> bool:
    return path.endswith("/IWM.json") and query.get("max") == "5046"


class HackerNewsItem:
    """The real "Who is hiring? (January 2023)" pages 1-3 (1 + 251 + 255 + 31 rows)."""

    target = "34219335"
    site = "hackernews"

    def __init__(self) -> None:
        self.pages = {n: shared_path("fixtures", "hackernews", f"item_34219335_whoishiring_2023-01_p{n}.html").read_bytes()
                      for n in (1, 2, 3)}

    def __call__(self, method, path, query, headers):
        if path == "/robots.txt":
            return 200, {}, b"User-agent: *\nDisallow: /x?\nDisallow: /vote\n"
        if path == "/item" and query.get("id") == "34219335":
            return 200, HTML, self.pages[int(query.get("p", 1))]
        return 404, {}, b""


def hn_page_two(path, query) -> bool:
    return path == "/item" and query.get("p") == "2"


# --------------------------------------------------------------------------- running the CLI
def run_cli(monkeypatch, capsys, db, site, target, base_url, fetch_config) -> tuple[int, str, str]:
    """``crowdpulse scrape SITE TARGET --db DB --base-url URL`` through ``cli.main`` in this process
    (the one-line error handling is there), with ``fetch_config`` as the client's settings. A
    traceback would escape as an exception and fail the test."""
    monkeypatch.setattr(crowdpulse.scrape, "FetchConfig", lambda: fetch_config)
    monkeypatch.setattr(sys, "argv", ["crowdpulse", "scrape", site, target, "--db", str(db), "--base-url", base_url])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def stored(db, base_url: str = "") -> tuple[list[tuple], dict]:
    """The stored rows (the server's address in URLs made neutral) and the last run's counts."""
    with Store.open(db, read_only=True) as store:
        rows = store.posts()[COLUMNS].sort_values(["source", "id"]).astype(object)
        runs = store.query("SELECT status, counts FROM runs ORDER BY started_at")
    rows = rows.where(rows.notna(), None)
    neutral = [tuple(v.replace(base_url, "BASE") if base_url and isinstance(v, str) else v for v in r)
               for r in rows.itertuples(index=False)]
    return neutral, json.loads(runs["counts"].iloc[-1])


_CLEAN: dict[str, list[tuple]] = {}


def clean_rows(site, monkeypatch, capsys, tmp_path) -> list[tuple]:
    """The rows of a crawl with no fault (once per site and session)."""
    name = type(site).__name__
    if name not in _CLEAN:
        server = Server(site)
        try:
            code, out, err = run_cli(monkeypatch, capsys, tmp_path / "clean.duckdb", site.site, site.target,
                                     server.url, config())
        finally:
            server.close()
        assert code == 0, err
        _CLEAN[name] = stored(tmp_path / "clean.duckdb", server.url)[0]
    return _CLEAN[name]


def redirect(to: str):
    return 302, {"Location": to}, b""


P2 = "/viewtopic.php?t=7&start=10"
CUT_PHPBB = (200, HTML, phpbb_page(7, 10, 10, 25)[:1500])

#: (id, site class, [(rule, faults)], outcome, what the output must say)
CASES = [
    ("429-retry-after", PhpbbTopic, [(phpbb_page_two, [(429, {"Retry-After": "0"}, b"slow down")] * 2)], "ok", "2 retries"),
    ("503-twice", PhpbbTopic, [(phpbb_page_two, [(503, {}, b"busy")] * 2)], "ok", "2 retries"),
    ("500-persistent", PhpbbTopic, [(phpbb_page_two, [(500, {}, b"oops")] * 4)], "refused", "HTTP 500 after 4 attempts"),
    ("reset-before-headers", PhpbbTopic, [(phpbb_page_two, [RESET] * 2)], "ok", "2 retries"),
    ("reset-mid-body", PhpbbTopic, [(phpbb_page_two, [ResetMidBody(PhpbbTopic().page(10))] * 2)], "ok", "2 retries"),
    ("reset-mid-body-persistent", PhpbbTopic, [(phpbb_page_two, [ResetMidBody(PhpbbTopic().page(10))] * 4)],
     "refused", "reset the connection (4 attempts)"),
    ("short-body", PhpbbTopic, [(phpbb_page_two, [ShortBody(PhpbbTopic().page(10))] * 2)], "ok", "2 retries"),
    ("short-body-persistent", PhpbbTopic, [(phpbb_page_two, [ShortBody(PhpbbTopic().page(10))] * 4)],
     "refused", "the response body was cut short"),
    ("timeout", PhpbbTopic, [(phpbb_page_two, [Hang(0.6)])], "ok", "1 retries"),
    ("truncated-200", PhpbbTopic, [(phpbb_page_two, [CUT_PHPBB] * 2)], "ok", "2 retries"),
    ("truncated-200-persistent", PhpbbTopic, [(phpbb_page_two, [CUT_PHPBB] * 3)], "refused",
     "ended early: the page stops before its closing </body></html>; nothing from it was stored (fetched 3 times"),
    ("missing-posts", PhpbbTopic, [(phpbb_page_two, [(200, HTML, phpbb_page(7, 10, 10, 25, drop=3))])], "ok", "1 retries"),
    ("redirect-hop", PhpbbTopic, [(phpbb_page_two, [redirect(P2 + "&moved=1")])], "ok", "0 retries"),
    ("redirect-loop", PhpbbTopic, [(phpbb_page_two, [redirect(P2 + "&loop=1")]),
                                   (lambda p, q: q.get("loop") == "1", [redirect(P2)])],
     "refused", "redirects in a loop (/viewtopic.php?t=7&start=10 -> /viewtopic.php?t=7&start=10&loop=1 -> "),
    ("redirect-chain", PhpbbTopic, [(phpbb_page_two, [redirect(P2 + "&hop=1")])] +
     [(lambda p, q, n=n: q.get("hop") == str(n), [redirect(P2 + f"&hop={n + 1}")]) for n in range(1, 6)],
     "refused", "redirected more than 5 times"),
    ("robots-reset", PhpbbTopic, [(lambda p, q: p == "/robots.txt", [RESET] * 4)], "refused",
     "could not read robots.txt of 127.0.0.1"),
    ("robots-503", PhpbbTopic, [(lambda p, q: p == "/robots.txt", [(503, {}, b"busy")] * 4)], "refused",
     "could not read robots.txt of 127.0.0.1"),
    ("repeated-page", PhpbbTopic, [(phpbb_page_two, [PhpbbTopic().page(0)])], "stalled", "stopped: the site repeated a page"),
    ("stocktwits-repeated-max", StockTwitsStream,
     [(stocktwits_page_two, [(200, JSON, StockTwitsStream().body(5046, repeat_max=5046))])], "stalled", "stopped: the site repeated a page"),
    ("stocktwits-truncated-json", StockTwitsStream,
     [(stocktwits_page_two, [(200, JSON, StockTwitsStream().body(5046)[:4000])])], "refused", "not valid JSON"),
    ("stocktwits-short-body", StockTwitsStream,
     [(stocktwits_page_two, [ShortBody((200, JSON, StockTwitsStream().body(5046)))])], "ok", "1 retries"),
    ("stocktwits-429", StockTwitsStream, [(stocktwits_page_two, [(429, {"Retry-After": "0"}, b"{}")] * 3)], "ok", "3 retries"),
    ("hn-truncated", HackerNewsItem, [(hn_page_two, [lambda m, p, q, h: (200, HTML, HackerNewsItem().pages[2][:260_000])])],
     "ok", "1 retries"),
    ("hn-page-two-serves-page-one", HackerNewsItem, [(hn_page_two, [lambda m, p, q, h: (200, HTML, HackerNewsItem().pages[1])])],
     "stalled", "stopped: the site repeated a page"),
]


@pytest.mark.parametrize(("case", "site_class", "rules", "outcome", "says"), CASES, ids=[c[0] for c in CASES])
def test_fault_then_same_rows_as_a_clean_crawl(case, site_class, rules, outcome, says, monkeypatch, capsys, caplog, tmp_path):
    site = site_class()
    clean = clean_rows(site, monkeypatch, capsys, tmp_path)
    schedule = Schedule(site, rules)
    server = Server(schedule)
    db = tmp_path / "faulty.duckdb"
    try:
        code, out, err = run_cli(monkeypatch, capsys, db, site.site, site.target, server.url, config())
        assert schedule.injected > 0
        assert "Traceback" not in err + out
        if outcome == "refused":
            lines = [line for line in err.splitlines() if line.startswith("error:")]
            assert code == 2 and len(lines) == 1, err
            assert says in lines[0], lines[0]
            assert schedule.spent
            code, out, err = run_cli(monkeypatch, capsys, db, site.site, site.target, server.url, config())
        else:
            assert says in out, out + err
        if outcome == "stalled":
            assert code == 0, err
            assert len([r for r in caplog.records if "does not advance" in r.getMessage()]) == 1
            counts = stored(db)[1]
            assert counts.get("crawl/repeated_cursor", 0) + counts.get("crawl/repeated_url", 0) == 1
            code, out, err = run_cli(monkeypatch, capsys, db, site.site, site.target, server.url, config())
        assert code == 0, err
        rows, counts = stored(db, server.url)
        assert len(rows) == len(clean) and rows == clean
    finally:
        server.close()


# --------------------------------------------------------------------------- unit-level checks
def test_redirects_go_through_throttle_and_robots(serve):
    def app(method, path, query, headers):
        if path == "/robots.txt":
            return 200, {}, b"User-agent: *\nDisallow: /private\n"
        hops = {"/a": "/b", "/b": "/c", "/c": "/d", "/to-private": "/private/x"}
        if path in hops:
            return redirect(hops[path])
        return 200, {}, path.encode()

    server = serve(app)
    client = Client(fast_config(host_intervals={"127.0.0.1": 0.15}))
    start = time.monotonic()
    page = client.fetch(server.url + "/a")
    assert page.body == b"/d" and page.url == server.url + "/d"
    assert time.monotonic() - start >= 3 * 0.15 - 0.02  # robots.txt, /a, /b, /c, /d: 4 waits of the throttle
    assert client.stats["throttle/waits"] >= 3 and client.stats["redirect/count"] == 3
    with pytest.raises(RobotsDisallowedError, match="forbids fetching .*/private/x"):
        client.fetch(server.url + "/to-private")
    assert "/private/x" not in server.paths()


def test_redirect_loop_is_one_line_after_a_few_throttled_requests(serve):
    server = serve(lambda m, p, q, h: (404, {}, b"") if p == "/robots.txt" else redirect("/loop?n=" + str(int(q.get("n", 0)) + 1)))
    client = Client(fast_config(host_intervals={"127.0.0.1": 0.05}))
    start = time.monotonic()
    with pytest.raises(RedirectError, match=r"redirected more than 5 times \(last to .*/loop\?n=6\); gave up") as info:
        client.fetch(server.url + "/loop")
    assert "\n" not in str(info.value)
    assert len([p for p in server.paths() if p.startswith("/loop")]) == 6  # not requests' 31
    assert time.monotonic() - start >= 5 * 0.05


def test_redirect_to_another_host_drops_credentials(serve):
    seen = []

    def app(method, path, query, headers):
        seen.append((path, headers.get("authorization")))
        if path == "/start":
            return redirect(server.url.replace("127.0.0.1", "localhost") + "/landed")
        return 200, {}, b"ok"

    server = serve(app)
    client = Client(fast_config(obey_robots=False))
    client.auth_headers = {"Authorization": "bearer secret"}
    client.fetch(server.url + "/start", api=True)
    assert seen == [("/start", "bearer secret"), ("/landed", None)]


def test_unreachable_host_gives_up_faster_than_an_overloaded_one(serve):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    waits = []
    polite = Client(fast_config(obey_robots=False, on_retry=waits.append, host_intervals={"127.0.0.1": 5.0}))
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"gave up on .*: 127.0.0.1:\d+ refused the connection .*\(2 attempts\)"):
        polite.fetch(closed + "/x")
    assert time.monotonic() - start < 2.5  # a request that never reached the host does not hold its 5 s interval
    assert [(w.reason, w.attempt, w.attempts) for w in waits] == [("refused", 1, 2)]
    assert "connection refused, attempt 1 of 2, waiting" in waits[0].describe()
    client = Client(fast_config(obey_robots=False, on_retry=waits.append))

    server = serve(lambda m, p, q, h: (503, {}, b"busy"))
    waits.clear()
    with pytest.raises(FetchError, match=r"HTTP 503 after 4 attempts"):
        client.fetch(server.url + "/x")
    assert [(w.reason, w.attempt, w.attempts) for w in waits] == [("503", 1, 4), ("503", 2, 4), ("503", 3, 4)]
    assert waits[1].describe().startswith("127.0.0.1:") and "HTTP 503, attempt 2 of 4, waiting 0." in waits[1].describe()


def test_run_scrape_reports_each_wait(serve, fresh_store):
    site = PhpbbTopic()
    server = serve(Schedule(site, [(phpbb_page_two, [(503, {"Retry-After": "0"}, b"")])]))
    waits = []
    counts = crowdpulse.scrape.run_scrape(fresh_store, "phpbb", site.target, base_url=server.url,
                                          fetch_config=config(), on_retry=waits.append)
    assert counts["posts_new"] == 25 and counts["retry/reason_count/503"] == 1
    assert [(w.reason, w.attempt, w.attempts, w.delay) for w in waits] == [("503", 1, 4, 0.0)]


def _wrapped(inner: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/x", inner))


@pytest.mark.parametrize(("exc", "reason", "unreachable", "says"), [
    (_wrapped(NameResolutionError("api.stocktwits.com", None, OSError(-3, "Temporary failure in name resolution"))),
     "dns", True, "cannot resolve the host name api.stocktwits.com"),
    (_wrapped(NewConnectionError(None, "Failed to establish a new connection: [Errno 113] No route to host")),
     "unreachable", True, "cannot reach api.stocktwits.com"),
    (requests.ConnectTimeout(MaxRetryError(None, "/x", None)), "timeout", False, "timed out after 30 s"),
    (requests.exceptions.ChunkedEncodingError(ProtocolError("Connection broken: IncompleteRead(10 bytes read, 90 more expected)")),
     "incomplete_body", False, "cut short"),
    (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))), "reset", False, "reset"),
    (IncompleteBody(10, 100), "incomplete_body", False, "cut short (10 of 100 bytes)"),
])
def test_transport_failures_are_named(exc, reason, unreachable, says):
    failure = transport_failure(exc, "api.stocktwits.com", 30.0)
    assert (failure.reason, failure.unreachable) == (reason, unreachable)
    assert says in failure.what



def test_cli_stall_is_one_warning_line(serve, tmp_path):
    """Through ``python -m crowdpulse.cli`` with its own logging: page 2 serves page 1 again."""
    import os
    import subprocess

    site = PhpbbTopic()
    server = serve(Schedule(site, [(phpbb_page_two, [site.page(0)])]))
    out = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "scrape", "phpbb", site.target, "--db",
                          str(tmp_path / "cli.duckdb"), "--base-url", server.url],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING scrapers.crawl: phpbb viewtopic.php?t=7: ")
    assert "gave a next cursor seen before" in warnings[0] and "stopped after 1 pages" in warnings[0]
    assert "1 pages, 10 new posts" in out.stdout and "stopped: the site repeated a page" in out.stdout


def test_progress_line_shows_each_wait(monkeypatch, capsys, tmp_path, serve):
    """On a terminal, the scrape command's progress line names the wait: attempt n of N, waiting s."""
    import io

    from rich.console import Console

    import crowdpulse.commands.scrape as scrape_cmd

    screen = io.StringIO()
    monkeypatch.setattr(scrape_cmd, "err_console", Console(file=screen, force_terminal=True, width=200))
    site = PhpbbTopic()
    server = serve(Schedule(site, [(phpbb_page_two, [(503, {"Retry-After": "0.6"}, b"busy")])]))
    code, out, err = run_cli(monkeypatch, capsys, tmp_path / "p.duckdb", "phpbb", site.target, server.url, config())
    assert code == 0 and "25 new posts, 0 updated, 1 retries" in out
    assert "phpbb viewtopic.php?t=7: 127.0.0.1:" in screen.getvalue()
    assert "HTTP 503, attempt 1 of 4, waiting 0.6 s" in screen.getvalue()
