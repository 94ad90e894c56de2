"""Reddit: thread JSON, morechildren, "continue this thread", listings/search, old.reddit HTML.

Ids are stored WITHOUT the ``t1_``/``t3_`` prefix: ``id`` is the base36 id, ``thread_id``
the submission's id, ``parent_id`` the parent comment's id or the submission's id for a
top-level comment (None for the submission itself). Depth: submission 0, top-level comment 1.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from scrapers.errors import ParseError
from scrapers.records import Post
from scrapers.text import clean_text, utc_from_epoch

log = logging.getLogger(__name__)

SOURCE = "reddit"
WEB = "https://www.reddit.com"


def strip_prefix(fullname: str | None) -> str | None:
    """``t1_abc`` -> ``abc``; an id without a prefix is returned unchanged."""
    if not fullname:
        return None
    fullname = str(fullname)
    if len(fullname) > 3 and fullname[0] == "t" and fullname[1].isdigit() and fullname[2] == "_":
        return fullname[3:]
    return fullname


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _raw(data: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in data.items() if k != "replies"}, ensure_ascii=False, default=str)


def thing_to_post(kind: str, data: dict[str, Any], depth: int | None = None) -> Post:
    """Convert ONE Reddit object (``t3`` submission or ``t1`` comment) to a :class:`Post`.

    ``data`` is the object's dict as the API returns it or as a Pushshift dump line holds it.
    ``created_utc`` may be int, float or numeric string; ``parent_id``/``link_id`` may carry
    the ``t1_``/``t3_`` prefix or not. A submission always has depth 0; a comment gets
    ``depth`` if given, else its own ``depth`` field (0-based in the API, so +1), else None.
    """
    if kind not in ("t1", "t3"):
        raise ParseError(f"cannot convert a Reddit {kind!r} object to a post: only t1 (comment) and t3 (submission) are posts")
    post_id = data.get("id") or strip_prefix(data.get("name"))
    if not post_id:
        raise ParseError(f"Reddit {kind} object has neither 'id' nor 'name'")
    post_id = strip_prefix(str(post_id))
    permalink = data.get("permalink")
    subreddit = data.get("subreddit")
    if kind == "t3":
        return Post(
            source=SOURCE, id=post_id, thread_id=post_id, parent_id=None, depth=0,
            author=data.get("author"), created_at=utc_from_epoch(data.get("created_utc")),
            title=clean_text(data.get("title"), drop_quotes=False) or None,
            body=clean_text(data.get("selftext")), score=_int_or_none(data.get("score")),
            url=WEB + permalink if permalink else (f"{WEB}/comments/{post_id}/"),
            raw=_raw(data),
        )
    thread_id = strip_prefix(data.get("link_id"))
    parent_id = strip_prefix(data.get("parent_id")) or thread_id
    if depth is None and data.get("depth") is not None:
        depth = _int_or_none(data.get("depth"))
        depth = None if depth is None else depth + 1
    if permalink:
        url = WEB + permalink
    elif thread_id:
        url = f"{WEB}/r/{subreddit}/comments/{thread_id}/_/{post_id}/" if subreddit else f"{WEB}/comments/{thread_id}/_/{post_id}/"
    else:
        url = None
    return Post(
        source=SOURCE, id=post_id, thread_id=thread_id or post_id, parent_id=parent_id, depth=depth,
        author=data.get("author"), created_at=utc_from_epoch(data.get("created_utc")),
        title=None, body=clean_text(data.get("body")), score=_int_or_none(data.get("score")),
        url=url, raw=_raw(data),
    )
