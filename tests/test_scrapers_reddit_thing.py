"""thing_to_post: one Reddit object (API or Pushshift dump line) to one Post."""
from datetime import datetime, timezone

import pytest

from scrapers.errors import ParseError
from scrapers.reddit import strip_prefix, thing_to_post


def test_comment_from_dump_line_with_string_time_and_prefixes():
    data = {"id": "c2", "link_id": "t3_abc", "parent_id": "t1_c1", "created_utc": "1439801151",
            "author": "u", "body": "TLT up &amp; IWM down\n\n\n> quoted\nmine", "score": "7", "subreddit": "stocks"}
    post = thing_to_post("t1", data)
    assert (post.id, post.thread_id, post.parent_id, post.depth) == ("c2", "abc", "c1", None)
    assert post.created_at == datetime(2015, 8, 17, 8, 45, 51, tzinfo=timezone.utc)
    assert post.body == "TLT up & IWM down\n\nmine"
    assert post.score == 7
    assert post.url == "https://www.reddit.com/r/stocks/comments/abc/_/c2/"


@pytest.mark.parametrize("created", [1439801151, 1439801151.0, "1439801151.0"])
def test_created_utc_types(created):
    post = thing_to_post("t1", {"id": "c", "link_id": "abc", "parent_id": "abc", "created_utc": created})
    assert post.created_at == datetime(2015, 8, 17, 8, 45, 51, tzinfo=timezone.utc)
    assert post.parent_id == "abc" and post.thread_id == "abc"


def test_depth_given_wins_and_api_depth_is_shifted():
    data = {"id": "c", "link_id": "t3_abc", "parent_id": "t3_abc", "depth": 0, "created_utc": 1}
    assert thing_to_post("t1", data).depth == 1
    assert thing_to_post("t1", data, depth=5).depth == 5


def test_submission():
    post = thing_to_post("t3", {"name": "t3_abc", "title": "IWM &amp; TLT", "selftext": "body",
                                "created_utc": 1.5e9, "permalink": "/r/x/comments/abc/t/", "score": 3})
    assert (post.id, post.thread_id, post.parent_id, post.depth, post.title) == ("abc", "abc", None, 0, "IWM & TLT")
    assert post.url == "https://www.reddit.com/r/x/comments/abc/t/"


def test_other_kinds_rejected():
    with pytest.raises(ParseError, match="only t1"):
        thing_to_post("more", {"id": "_"})


def test_strip_prefix():
    assert strip_prefix("t1_abc") == "abc" and strip_prefix("abc") == "abc" and strip_prefix(None) is None
