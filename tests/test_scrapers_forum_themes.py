"""Themed phpBB and vBulletin boards keep their dates: pages written for the project in the shapes
of common themes (tests/fixtures/forums/README.md), the date formats they print, and the parse
statistics of a post that shows no time."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from crowdpulse.scrape import run_scrape
from scrapers import phpbb, vbulletin
from scrapers.dates import parse_forum_date, read_forum_date
from scrapers.records import Page
from tests.conftest import ROOT
from tests.test_scrapers_server import NO_ROBOTS, fast_config, serve  # noqa: F401  (fixture)

FORUMS = ROOT / "tests" / "fixtures" / "forums"
FETCHED = datetime(2020, 6, 2, 12, 0, tzinfo=timezone.utc)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def written(name: str, url: str) -> Page:
    return Page(url=url, status=200, headers={}, body=(FORUMS / name).read_bytes(), fetched_at=FETCHED)


def times(result):
    return [(p.id, p.created_at, p.time_precision) for p in result.posts]


def test_a_theme_with_data_date_on_the_post_and_a_date_only_paragraph(caplog):
    """The real board's shape: data-date="2020-05-30 00:40:20" on div.post, "on May 30, 2020" in
    p.lastpost__date, nothing in p.author; a post without data-date keeps its day; a post with no
    date at all is counted and logged (its profile's "Joined:" and its signature's date are not it)."""
    with caplog.at_level(logging.WARNING, logger="scrapers.forum_common"):
        result = phpbb.parse(written("phpbb_theme_lastpost.html", "https://board.example.org/viewtopic.php?t=9120"))
    assert times(result) == [
        ("2301", utc(2020, 5, 30, 0, 40, 20), "exact"),
        ("2302", utc(2020, 5, 30, 9, 5, 11), "exact"),  # not the quoted "Fri May 29, 2020 10:00 pm"
        ("2303", utc(2020, 5, 31, 23, 59, 59), "day"),
        ("2304", None, "exact"),
    ]
    assert result.stats == {"parse/no_time": 1}
    assert "1 of 4 posts show no time" in caplog.text
    assert [p.author for p in result.posts] == ["russell_rider", "bondvigilante", "theta_gang", "lurker_since_08"]
    assert result.posts[0].title == "Small caps into the rate cut" and result.posts[1].parent_id == "2301"
    assert result.posts[1].body == "I would rather own TLT here, the long end rallies first."


def test_prosilver_time_element_title_attribute_and_relative_dates():
    """<time datetime> wins over the printed text and over a "Last edited" notice's own <time>; a
    title attribute holds the date behind "21 hours ago"; "Yesterday, 11:15 pm", "Today, 09:12"
    and "5 minutes ago" count from the page's fetch time (2020-06-02 12:00 UTC)."""
    result = phpbb.parse(written("phpbb_prosilver_time_and_relative.html",
                                 "https://macro.example.net/viewtopic.php?f=4&t=771&start=5"))
    assert times(result) == [
        ("8801", utc(2020, 5, 30, 0, 40, 20), "exact"),
        ("8802", utc(2020, 6, 1, 15, 15), "exact"),
        ("8803", utc(2020, 6, 1, 23, 15), "exact"),
        ("8804", utc(2020, 6, 2, 9, 12), "exact"),
        ("8805", FETCHED - timedelta(minutes=5), "exact"),
    ]
    assert result.stats == {} and result.next_cursor == 10
    assert [p.author for p in result.posts] == ["yieldcurve", "smallcap_sam", "gamma_gary", "fedwatcher", "late_to_party"]
    assert all(p.depth == 1 and p.parent_id is None for p in result.posts)  # page 2: the starter is elsewhere


def test_vbulletin4_span_date_relative_days_and_data_timestamp():
    result = vbulletin.parse(written("vbulletin4_postcontainer.html", "https://options.example.com/showthread.php?t=5521"))
    assert times(result) == [
        ("44001", utc(2020, 5, 30, 0, 40), "exact"),   # 05-30-2020, 12:40 AM: vBulletin's month-day-year
        ("44002", utc(2020, 6, 2, 10, 32), "exact"),   # Today, 10:32 AM
        ("44003", utc(2020, 6, 1, 23, 15), "exact"),   # Yesterday, 11:15 PM
        ("44004", utc(2020, 5, 30, 15, 15), "exact"),  # data-timestamp="1590851700" over "an hour ago"
    ]
    assert [p.author for p in result.posts] == ["iwm_bull", "duration_dave", "straddle_steve", "epoch_ed"]
    assert result.posts[0].title == "Russell 2000 vs long bonds into the cut" and result.next_cursor == 2
    # the post's own text sits in blockquote.postcontent and stays; the quote in bbcode_container goes
    assert result.posts[0].body == "Small caps rip on the first cut, IWM to 170 by July."
    assert result.posts[1].body == "TLT does better, duration wins when the curve bull-steepens."


def test_subsilver2_posted_label_and_its_profile_date():
    """subsilver2 prints "<b>Inviato:</b> sab 30 mag 2020, 12:40": the date is the label's tail, and
    the profile cell's "Iscritto il:" date is never the post's."""
    result = phpbb.parse(written("phpbb_subsilver2_latin1_undeclared.html",
                                 "https://borsa.example.it/viewtopic.php?f=3&t=4410"))
    assert times(result) == [("55101", utc(2020, 5, 30, 12, 40), "exact"), ("55102", utc(2020, 5, 31, 9, 5), "exact")]
    assert [p.author for p in result.posts] == ["Marco_Trader", "Giulia_Bond"]


@pytest.mark.parametrize("text, expected", [
    ("05-30-2020, 12:40 AM", (utc(2020, 5, 30, 0, 40), "exact")),
    ("08/24/2020 4:27 pm", (utc(2020, 8, 24, 16, 27), "exact")),    # month first only where day first is impossible
    ("24/08/2020 16:27", (utc(2020, 8, 24, 16, 27), "exact")),
    ("24.08.2020", (utc(2020, 8, 24, 23, 59, 59), "day")),
    ("on May 30, 2020", (utc(2020, 5, 30, 23, 59, 59), "day")),
    ("Sat May 30, 2020 12:40 am", (utc(2020, 5, 30, 0, 40), "exact")),
    ("Today, 10:32 AM", (utc(2020, 6, 2, 10, 32), "exact")),
    ("Yesterday at 9:15 pm", (utc(2020, 6, 1, 21, 15), "exact")),
    ("Yesterday", (utc(2020, 6, 1, 23, 59, 59), "day")),
    ("Oggi, 10:32", (utc(2020, 6, 2, 10, 32), "exact")),
    ("Gestern, 18:00", (utc(2020, 6, 1, 18, 0), "exact")),
    ("Aujourd’hui, 08:05", (utc(2020, 6, 2, 8, 5), "exact")),
    ("an hour ago", (utc(2020, 6, 2, 11, 0), "exact")),
    ("Less than a minute ago", (FETCHED, "exact")),
    ("Joined: Jan 2015", (None, "exact")),
    ("Posts: 1,204", (None, "exact")),
])
def test_read_forum_date(text, expected):
    assert read_forum_date(text, now=FETCHED) == expected


def test_relative_dates_need_the_fetch_time_and_the_old_reader_is_unchanged():
    assert read_forum_date("Today, 10:32 AM") == (None, "exact")
    assert parse_forum_date("24 Aug 2020 04:27") == utc(2020, 8, 24, 4, 27)
    assert parse_forum_date("24.08.2020") == utc(2020, 8, 24) and parse_forum_date("Today, 10:32") is None


def test_a_crawl_counts_posts_without_a_time_in_the_run(serve, fresh_store):
    body = (FORUMS / "phpbb_theme_lastpost.html").read_bytes()

    def app(method, path, query, headers):
        if path == "/robots.txt":
            return NO_ROBOTS
        if path == "/viewtopic.php" and query.get("t") == "9120":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body
        return 404, {}, b""

    server = serve(app)
    counts = run_scrape(fresh_store, "phpbb", "9120", base_url=server.url, fetch_config=fast_config())
    assert counts["posts_new"] == 4 and counts["parse/no_time"] == 1
    stored = fresh_store.posts("source = 'phpbb'").set_index("id")
    assert stored["created_at"].isna().sum() == 1 and stored.loc["2303", "time_precision"] == "day"
