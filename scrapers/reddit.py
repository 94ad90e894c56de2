"""Reddit: thread JSON, morechildren, "continue this thread", listings/search, old.reddit HTML.

Ids are stored WITHOUT the ``t1_``/``t3_`` prefix: ``id`` is the base36 id, ``thread_id``
the submission's id, ``parent_id`` the parent comment's id or the submission's id for a
top-level comment (None for the submission itself). Depth: submission 0, top-level comment 1.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from scrapers.botwall import raise_if_bot_wall
from scrapers.complete import whole_page
from scrapers.crawl import CrawlStep, base_of, load_json, resume_cursor
from scrapers.encoding import parse_html
from scrapers.errors import (AccessDeniedError, CredentialsError, ParseError, RobotsDisallowedError,
                             malformed_page_is_parse_error)
from scrapers.records import Page, ParseResult, Post
from scrapers.text import clean_text, lxml_text, utc_from_epoch, utc_from_iso

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


def thing_to_post(kind: str, data: dict[str, Any], depth: int | None = None, raw: str | None = None) -> Post:
    """Convert ONE Reddit object (``t3`` submission or ``t1`` comment) to a :class:`Post`.

    ``data`` is the object's dict as the API returns it or as a Pushshift dump line holds it.
    ``created_utc`` may be int, float or numeric string; ``parent_id``/``link_id`` may carry
    the ``t1_``/``t3_`` prefix or not. A submission always has depth 0; a comment gets
    ``depth`` if given, else its own ``depth`` field (0-based in the API, so +1), else None.
    ``raw`` is the object's source text when the caller has it (a dump line); by default the
    object is serialised again.
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
            raw=raw if raw is not None else _raw(data),
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
        url=url, raw=raw if raw is not None else _raw(data),
    )


# ---------------------------------------------------------------------------- parsing
def _children(listing: Any) -> list[dict[str, Any]]:
    if isinstance(listing, dict):
        return listing.get("data", {}).get("children", []) or []
    return []  # "replies": "" (no replies) or anything unexpected


def _stub(data: dict[str, Any], thread_id: str, depth: int | None) -> dict[str, Any]:
    """A pending expansion for a ``more`` object; ``depth`` is the depth its comments get."""
    parent = strip_prefix(data.get("parent_id")) or thread_id
    if data.get("id") == "_" or (not data.get("children") and data.get("count", 0) == 0):
        # "continue this thread": re-request the thread focused on the parent comment
        return {"type": "continue", "thread_id": thread_id, "comment_id": parent,
                "depth": None if depth is None else depth - 1}
    return {"type": "more", "thread_id": thread_id, "parent_id": parent, "depth": depth,
            "children": list(data.get("children", []))}


def parse_thread(page: Page, depth_offset: int = 0) -> ParseResult:
    """A thread JSON ``[post Listing, comment Listing]``: the submission, every comment of
    the nested tree, and a pending stub for every ``more``/"continue this thread" object.

    ``depth_offset`` shifts comment depths (for a "continue" page, whose focused comment
    sits at depth 0 in the response but deeper in the real thread).
    """
    data = load_json(page)
    if not (isinstance(data, list) and len(data) == 2):
        raise ParseError(f"{page.url} is not a Reddit thread: expected a [post, comments] JSON array")
    submissions = [thing_to_post("t3", c["data"]) for c in _children(data[0]) if c.get("kind") == "t3"]
    if not submissions:
        raise ParseError(f"{page.url} is a Reddit thread without its submission")
    thread_id = submissions[0].id
    posts: list[Post] = list(submissions)
    pending: list[dict[str, Any]] = []
    def top_depth(c: dict[str, Any]) -> int | None:
        # A top comment that answers another comment is a "continue this thread" page read on its own:
        # how deep it sits in the real thread is unknown (a crawl passes depth_offset), so say None.
        if not depth_offset and str((c.get("data") or {}).get("parent_id") or "").startswith("t1_"):
            return None
        return 1 + depth_offset

    stack = [(c, top_depth(c)) for c in reversed(_children(data[1]))]
    while stack:  # iterative pre-order walk (threads nest deeper than is safe to recurse)
        child, depth = stack.pop()
        kind, cdata = child.get("kind"), child.get("data", {})
        if kind == "more":
            pending.append(_stub(cdata, thread_id, depth))
        elif kind == "t1":
            posts.append(thing_to_post("t1", cdata, depth=depth))
            stack.extend((c, None if depth is None else depth + 1) for c in reversed(_children(cdata.get("replies"))))
    return ParseResult(posts=posts, next_cursor=None, pending=pending)


def parse_morechildren(page: Page, stub: dict[str, Any] | None = None) -> ParseResult:
    """A ``/api/morechildren`` response: a FLAT list of comments (and new ``more`` stubs),
    possibly truncated by Reddit to ~100 comments. The tree is rebuilt from ``parent_id``:
    a parent inside the batch gives depth+1; the stub's own parent gives the stub's depth.
    """
    data = load_json(page)
    try:
        things = data["json"]["data"]["things"]
    except (KeyError, TypeError):
        errors = data.get("json", {}).get("errors") if isinstance(data, dict) else None
        raise ParseError(f"{page.url} is not a morechildren response" + (f": errors {errors}" if errors else "")) from None
    thread_id = stub.get("thread_id") if stub else None
    depths: dict[str, int | None] = {}
    if stub and stub.get("depth") is not None:
        depths[stub.get("parent_id") or stub.get("comment_id")] = stub["depth"] - 1
    posts, pending = [], []
    for thing in things:
        kind, tdata = thing.get("kind"), thing.get("data", {})
        tid = thread_id or strip_prefix(tdata.get("link_id"))
        parent = strip_prefix(tdata.get("parent_id"))
        if thread_id is None and tid:
            thread_id = tid
            depths.setdefault(tid, 0)
        if thread_id:
            depths.setdefault(thread_id, 0)
        if tdata.get("depth") is not None:
            depth = int(tdata["depth"]) + 1
        else:
            parent_depth = depths.get(parent)
            depth = None if parent_depth is None else parent_depth + 1
        if kind == "t1":
            post = thing_to_post("t1", tdata, depth=depth)
            depths[post.id] = depth
            posts.append(post)
        elif kind == "more":
            pending.append(_stub(tdata, tid or "", depth))
    return ParseResult(posts=posts, next_cursor=None, pending=pending)


def parse_listing(page: Page) -> ParseResult:
    """A listing (subreddit new/hot/top, search, user): its posts and the ``after`` cursor."""
    data = load_json(page)
    if not (isinstance(data, dict) and data.get("kind") == "Listing"):
        raise ParseError(f"{page.url} is not a Reddit listing: expected {{\"kind\": \"Listing\", ...}}")
    posts = [thing_to_post(c["kind"], c["data"]) for c in _children(data) if c.get("kind") in ("t1", "t3")]
    return ParseResult(posts=posts, next_cursor=data["data"].get("after"), pending=[])


_MORE_ONCLICK = re.compile(r"morechildren\(this,\s*'t3_(\w+)',\s*'(\w+)',\s*'([\w,]+)'")


def _classes(el: Any) -> list[str]:
    return (el.get("class") or "").split()


def _find(el: Any, tag: str, cls: str, stop_cls: str | None = None) -> Any:
    """First descendant ``tag.cls`` of ``el``, not looking inside ``stop_cls`` elements."""
    for child in el:
        if not isinstance(child.tag, str):
            continue
        classes = _classes(child)
        if child.tag == tag and cls in classes:
            return child
        if stop_cls and stop_cls in classes:
            continue
        found = _find(child, tag, cls, stop_cls)
        if found is not None:
            return found
    return None


@whole_page("reddit")
def parse_oldreddit(page: Page) -> ParseResult:
    """An old.reddit.com thread page: ``div.thing.link`` (post) and ``div.thing.comment``
    (nesting through ``div.child > div.sitetable``). The displayed score is ``span.score.unvoted``.
    Collapsed ``load more comments`` stubs become pending ``more`` stubs. Uses lxml directly."""
    raise_if_bot_wall(page)
    try:
        root = parse_html(page)
    except (etree.ParserError, ValueError):
        raise ParseError(f"{page.url} is not an HTML page") from None
    things = [d for d in root.iter("div") if "thing" in _classes(d) and d.get("data-fullname")]
    link = next((d for d in things if "link" in _classes(d)), None)
    if link is None:
        raise ParseError(f"{page.url} is not an old.reddit thread page (no div.thing.link)")
    thread_id = strip_prefix(link.get("data-fullname"))
    title_el = _find(link, "a", "title")
    expando = _find(link, "div", "expando")
    selftext = _find(expando, "div", "md") if expando is not None else None
    score = link.get("data-score", "")
    posts = [Post(
        source=SOURCE, id=thread_id, thread_id=thread_id, parent_id=None, depth=0,
        author=link.get("data-author"), created_at=utc_from_epoch(link.get("data-timestamp")),
        title=" ".join(title_el.text_content().split()) if title_el is not None else None,
        body=lxml_text(selftext) if selftext is not None else "",
        score=int(score) if score.lstrip("-").isdigit() else None,
        url=WEB + link.get("data-permalink") if link.get("data-permalink") else page.url,
    )]
    pending = []
    for thing in things:
        classes = _classes(thing)
        if "comment" not in classes and "morechildren" not in classes:
            continue
        ancestors = []
        parent_el = thing.getparent()
        while parent_el is not None:
            if parent_el.tag == "div" and "comment" in _classes(parent_el) and "thing" in _classes(parent_el):
                ancestors.append(parent_el)
            parent_el = parent_el.getparent()
        depth = len(ancestors) + 1
        parent = strip_prefix(ancestors[0].get("data-fullname")) if ancestors else thread_id
        if "morechildren" in classes:
            link_el = next((a for a in thing.iter("a") if "morechildren" in (a.get("onclick") or "")), None)
            m = _MORE_ONCLICK.search(link_el.get("onclick", "")) if link_el is not None else None
            if m:
                pending.append({"type": "more", "thread_id": thread_id, "parent_id": parent, "depth": depth,
                                "children": m.group(3).split(",")})
            continue
        entry = next((c for c in thing if c.tag == "div" and "entry" in _classes(c)), None)
        md = _find(entry, "div", "md") if entry is not None else None
        when = _find(entry, "time", "live-timestamp") if entry is not None else None
        score_el = _find(entry, "span", "unvoted") if entry is not None else None
        score = score_el.get("title") if score_el is not None else None
        posts.append(Post(
            source=SOURCE, id=strip_prefix(thing.get("data-fullname")), thread_id=thread_id, parent_id=parent,
            depth=depth, author=thing.get("data-author") or "[deleted]",
            created_at=utc_from_iso(when.get("datetime")) if when is not None and when.get("datetime") else None,
            body=lxml_text(md, drop_tags=("blockquote",)) if md is not None else "",
            score=int(score) if score and score.lstrip("-").isdigit() else None,
            url=WEB + thing.get("data-permalink") if thing.get("data-permalink") else None,
        ))
    return ParseResult(posts=posts, next_cursor=None, pending=pending)


@malformed_page_is_parse_error
def parse(page: Page) -> ParseResult:
    """Any saved Reddit response: thread JSON, morechildren JSON, listing JSON or old.reddit HTML."""
    head = page.body[:2048].lstrip()
    if head.startswith(b"<") or not head:
        return parse_oldreddit(page)
    data = load_json(page)
    if isinstance(data, list):
        return parse_thread(page)
    if isinstance(data, dict) and "json" in data:
        return parse_morechildren(page)
    return parse_listing(page)


# ---------------------------------------------------------------------------- crawling
_ID_IN_URL = re.compile(r"/comments/([a-z0-9]+)", re.I)
MORECHILDREN_BATCH = 100


def thread_id_of(url_or_id: str) -> str:
    """The submission id in a thread URL (any Reddit host) or a bare/prefixed id."""
    m = _ID_IN_URL.search(url_or_id)
    if m:
        return m.group(1).lower()
    candidate = strip_prefix(url_or_id.strip())
    if candidate and re.fullmatch(r"[a-z0-9]{2,12}", candidate, re.I):
        return candidate.lower()
    raise ParseError(f"cannot find a Reddit thread id in {url_or_id!r}: give a thread URL "
                     "(https://www.reddit.com/r/SUB/comments/ID/...) or the id itself")


def _is_oauth(base_url: str) -> bool:
    return urlsplit(base_url).netloc.startswith("oauth.")


def _fetch(client: Any, url: str, base_url: str, **kw: Any) -> Page:
    try:
        return client.fetch(url, api=_is_oauth(base_url), **kw)
    except RobotsDisallowedError:
        if "reddit.com" in urlsplit(url).netloc:
            from scrapers.reddit_auth import missing_credentials_hint
            raise RobotsDisallowedError(
                f"reddit.com's robots.txt forbids crawling {url}; use the OAuth API instead: "
                f"{missing_credentials_hint()}; or pass --ignore-robots if you have Reddit's permission", url=url) from None
        raise
    except AccessDeniedError as exc:
        if not client.auth_headers and "reddit.com" in urlsplit(url).netloc:
            from scrapers.reddit_auth import missing_credentials_hint
            raise CredentialsError(f"Reddit refused anonymous access to {url} (HTTP {exc.status}); "
                                   f"{missing_credentials_hint()}") from None
        raise


def crawl_thread(client: Any, url_or_id: str, base_url: str = WEB, cursor: Any = None,
                 sort: str = "confidence", limit: int = 500) -> Iterator[CrawlStep]:
    """Crawl one thread completely: the thread JSON, then every ``more`` stub through
    ``/api/morechildren`` (100 ids a call, repeated while Reddit returns new stubs) and every
    "continue this thread" stub through ``/comments/{post}/_/{comment}``.

    The cursor is ``{"pending": [stubs...], "complete": bool}``: a resumed crawl skips the
    thread page and works through the stubs still pending.
    """
    thread_id = thread_id_of(url_or_id)
    base = base_of(base_url)
    cursor = resume_cursor(cursor)
    target = thread_id
    if cursor:
        pending = list(cursor.get("pending", []))
    else:
        url = f"{base}/comments/{thread_id}/.json"
        page = _fetch(client, url, base, params={"raw_json": 1, "limit": limit, "sort": sort})
        result = parse_thread(page)
        pending = result.pending
        yield CrawlStep(target, result.posts, {"pending": pending, "complete": not pending}, url=page.url)
    requested: set[str] = set()
    while pending:
        stub = pending.pop(0)
        if stub["type"] == "more":
            ids = [i for i in stub["children"] if i not in requested]
            if not ids:
                continue
            batch, rest = ids[:MORECHILDREN_BATCH], ids[MORECHILDREN_BATCH:]
            if rest:
                pending.insert(0, {**stub, "children": rest})
            requested.update(batch)
            page = _fetch(client, f"{base}/api/morechildren.json", base, params={
                "api_type": "json", "link_id": f"t3_{thread_id}", "children": ",".join(batch),
                "sort": sort, "raw_json": 1})
            result = parse_morechildren(page, {**stub, "thread_id": thread_id})
            posts = result.posts
        else:
            page = _fetch(client, f"{base}/comments/{thread_id}/_/{stub['comment_id']}/.json", base,
                          params={"raw_json": 1, "limit": limit, "sort": sort})
            offset = (stub["depth"] - 1) if stub.get("depth") else 0
            result = parse_thread(page, depth_offset=offset)
            posts = [p for p in result.posts if p.depth != 0 or p.parent_id is not None]  # not the submission again
        pending.extend(result.pending)
        yield CrawlStep(target, posts, {"pending": pending, "complete": not pending}, url=page.url)


def _listing_path(target: str, query: str | None, sort: str) -> tuple[str, dict[str, Any]]:
    target = target.strip().strip("/")
    m = re.fullmatch(r"(?:r/)?([A-Za-z0-9_]{2,21})", target)
    if not m:
        raise ParseError(f"cannot read subreddit {target!r}: give it as r/NAME (letters, digits, underscores)")
    sub = m.group(1)
    if query:
        return f"/r/{sub}/search.json", {"q": query, "restrict_sr": 1, "sort": "new", "t": "all"}
    return f"/r/{sub}/{sort}.json", {}


def crawl_listing(client: Any, target: str, base_url: str = WEB, cursor: Any = None, *,
                  query: str | None = None, sort: str = "new", pages: int | None = None,
                  since: datetime | None = None, limit: int = 100) -> Iterator[CrawlStep]:
    """A subreddit listing (``new`` by default) or a subreddit search (``query``), page by page
    with the ``after`` cursor, until ``after`` is null, ``pages`` pages, or posts older than
    ``since``. The cursor is ``{"after": ..., "complete": bool}``."""
    path, params = _listing_path(target, query, sort)
    base = base_of(base_url)
    cursor = resume_cursor(cursor)
    after = cursor.get("after") if isinstance(cursor, dict) else None
    done = 0
    while pages is None or done < pages:
        q = {**params, "limit": limit, "raw_json": 1}
        if after:
            q["after"] = after
        page = _fetch(client, base + path, base, params=q)
        result = parse_listing(page)
        posts = result.posts
        reached_since = False
        if since is not None:
            kept = [p for p in posts if p.created_at is None or p.created_at >= since]
            reached_since = len(kept) < len(posts)
            posts = kept
        after = result.next_cursor
        done += 1
        complete = after is None or reached_since
        yield CrawlStep(target, posts, {"after": after, "complete": complete}, url=page.url)
        if complete:
            return
