"""Discourse topics: ``/t/{slug}/{id}.json`` (first 20 posts + the full ``post_stream.stream``
of post ids), then the rest through ``/t/{id}/posts.json?post_ids[]=...`` in batches of 20.

Post ids are ``"{topic_id}/{post_number}"`` so that ``reply_to_post_number`` resolves to a
parent id without another request (the numeric Discourse id is kept in ``raw``). Post 1 is
the topic (depth 0); a reply to post N > 1 has its parent's depth + 1 when the parent was
seen in the same crawl (else 2); any other post has depth 1 under post 1.
Quoted text (``aside.quote``, ``blockquote``) is removed from bodies.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapers.crawl import CrawlStep, base_of, load_json, resume_cursor
from scrapers.errors import ParseError, malformed_page_is_parse_error
from scrapers.records import Page, ParseResult, Post
from scrapers.text import html_to_text, utc_from_iso

SOURCE = "discourse"
BATCH = 20
_QUOTES = ("aside.quote", "blockquote", "aside.onebox", "div.lightbox-wrapper div.meta")


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def _likes(post: dict[str, Any]) -> int | None:
    """Likes (action id 2); a post whose actions are listed without a like has 0, not an unknown score."""
    actions = post.get("actions_summary")
    for action in actions or []:
        if action.get("id") == 2:
            return int(action.get("count", 0))
    if post.get("like_count") is not None:
        return int(post["like_count"])
    return 0 if isinstance(actions, list) else None


def post_to_post(p: dict[str, Any], site: str, title: str | None = None, slug: str | None = None) -> Post:
    topic = str(p["topic_id"])
    number = int(p["post_number"])
    reply_to = p.get("reply_to_post_number")
    if number == 1:
        parent, depth = None, 0
    elif reply_to and int(reply_to) != 1:
        parent, depth = f"{topic}/{reply_to}", 2
    else:
        parent, depth = f"{topic}/1", 1
    slug = slug or p.get("topic_slug") or "-"
    body = html_to_text(p.get("cooked") or "", drop=_QUOTES) if p.get("cooked") else (p.get("raw") or "")
    if p.get("deleted_at") or p.get("user_deleted"):
        body = "[deleted]"
    raw = {k: p.get(k) for k in ("id", "topic_id", "post_number", "reply_to_post_number", "username", "created_at")}
    return Post(
        source=SOURCE, id=f"{topic}/{number}", thread_id=topic, parent_id=parent, depth=depth,
        author=p.get("username"), created_at=utc_from_iso(p.get("created_at")),
        title=(title or p.get("topic_title")) if number == 1 else None, body=body, score=_likes(p),
        url=f"{site}/t/{slug}/{topic}/{number}" if site else None, raw=json.dumps(raw),
    )


def chain_depths(posts: list[Post], known: dict[str, int] | None = None) -> list[Post]:
    """Set each reply's depth to its parent's + 1 where the parent is known (this batch or
    ``known``, updated in place); posts are taken topic by topic in post-number order (the
    site-wide latest posts come newest first, children before their parents)."""
    known = {} if known is None else known
    for post in sorted(posts, key=lambda p: (p.thread_id, int(p.id.split("/")[1]))):  # parents first, topic by topic
        if post.parent_id in known:
            post.depth = known[post.parent_id] + 1
        known[post.id] = post.depth
    return posts


@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    """A topic page, a ``posts.json`` batch, or the site-wide ``/posts.json`` (latest posts).
    For a topic page, ``pending`` holds one ``{"type": "posts", "post_ids": [...]}`` per batch
    of 20 stream ids not on the page."""
    data = load_json(page)
    site = _site(page.url)
    if isinstance(data, dict) and "latest_posts" in data:
        return ParseResult(posts=chain_depths([post_to_post(p, site) for p in data["latest_posts"]]))
    if not isinstance(data, dict) or "post_stream" not in data:
        raise ParseError(f"{page.url} is not a Discourse topic or posts.json (no post_stream)")
    stream = data["post_stream"]
    title, slug = data.get("title"), data.get("slug")
    posts_json = sorted(stream.get("posts", []), key=lambda p: p["post_number"])
    posts = chain_depths([post_to_post(p, site, title, slug) for p in posts_json])
    have = {p["id"] for p in posts_json}
    missing = [i for i in stream.get("stream", []) if i not in have]
    pending = [{"type": "posts", "topic_id": data.get("id"), "post_ids": missing[i:i + BATCH]}
               for i in range(0, len(missing), BATCH)]
    return ParseResult(posts=posts, pending=pending)


def topic_of(target: str) -> tuple[str | None, str]:
    m = re.search(r"/t/(?:([^/?#]+)/)?(\d+)", target) or re.fullmatch(r"\s*()(\d+)\s*", target)
    if not m:
        raise ParseError(f"cannot find a Discourse topic in {target!r}: give /t/slug/ID, a topic URL or the ID")
    return (m.group(1) or None), m.group(2)


def crawl_topic(client: Any, target: str, base_url: str, cursor: Any = None) -> Iterator[CrawlStep]:
    """Crawl a whole topic. Cursor: ``{"pending": [batches], "slug": ..., "complete": bool}``."""
    if not base_url:
        parts = urlsplit(target)
        if not parts.netloc:
            raise ParseError("a Discourse crawl needs the forum's address: pass --base-url https://forum.example.com or a full topic URL")
        base_url = f"{parts.scheme}://{parts.netloc}"
    base = base_of(base_url)
    slug, topic = topic_of(target)
    cursor = resume_cursor(cursor)
    depths: dict[str, int] = {}
    if cursor:
        pending, slug = list(cursor["pending"]), cursor.get("slug")
    else:
        url = f"{base}/t/{slug}/{topic}.json" if slug else f"{base}/t/{topic}.json"
        page = client.fetch(url)
        result = parse(page)
        pending = result.pending
        chain_depths(result.posts, depths)
        slug = slug or load_json(page).get("slug")
        yield CrawlStep(topic, result.posts, {"pending": pending, "slug": slug, "complete": not pending}, url=page.url)
    while pending:
        batch = pending.pop(0)
        page = client.fetch(f"{base}/t/{topic}/posts.json", params={"post_ids[]": batch["post_ids"]})
        data = load_json(page)
        posts = chain_depths([post_to_post(p, base, None, slug) for p in data.get("post_stream", {}).get("posts", [])], depths)
        yield CrawlStep(topic, posts, {"pending": pending, "slug": slug, "complete": not pending}, url=page.url)
