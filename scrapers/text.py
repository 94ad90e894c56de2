"""Text cleaning shared by the site parsers: HTML to plain text, quotes and signatures out.

Every parser hands its body through :func:`clean_text` (plain text or markdown) or
:func:`html_to_text` (an HTML fragment) so that every Post body has the same shape:
paragraphs separated by one blank line, entities decoded, no quoted replies.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any

from bs4 import BeautifulSoup, NavigableString, Tag

_BLOCK_TAGS = {
    "p", "div", "blockquote", "pre", "ul", "ol", "li", "table", "tr", "h1", "h2", "h3", "h4",
    "h5", "h6", "section", "article", "aside", "dl", "dd", "dt", "hr", "figure",
}
_SIG_MARK = re.compile(r"^(--|-- |__+)\s*$")
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")


def clean_text(text: str | None, *, unescape: bool = True, drop_quotes: bool = True) -> str:
    """Plain or markdown text with entities decoded, ``>`` quote lines and signatures removed.

    Paragraphs stay separated by exactly one blank line; spaces inside a line collapse.
    """
    if not text:
        return ""
    if unescape:
        text = html.unescape(text)
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if drop_quotes and line.lstrip().startswith(">"):
            continue
        if _SIG_MARK.match(line):  # "-- " starts a signature: drop the rest
            break
        lines.append(_SPACES.sub(" ", line).strip())
    return _join_paragraphs(lines)


def _join_paragraphs(lines: list[str]) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


def html_to_text(fragment: Any, drop: tuple[str, ...] = ()) -> str:
    """Text of an HTML fragment (a string or a bs4 Tag): block elements become paragraphs,
    ``<br>`` a line break; elements matching any CSS selector in ``drop`` are skipped (the
    caller's tree is not changed).
    """
    if fragment is None:
        return ""
    if isinstance(fragment, str):
        fragment = BeautifulSoup(fragment, "lxml")
    skip = {id(el) for selector in drop for el in fragment.select(selector)} if drop else set()
    parts: list[str] = []
    _walk(fragment, parts, skip)
    text = "".join(parts)
    return _join_paragraphs([_SPACES.sub(" ", ln).strip() for ln in text.split("\n")])


def _walk(node: Any, out: list[str], skip: set[int]) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child).__name__ in ("Comment", "Doctype", "ProcessingInstruction", "CData", "Declaration"):
                continue
            out.append(str(child).replace("\n", " "))
        elif isinstance(child, Tag):
            if id(child) in skip:
                continue
            name = child.name
            if name in ("script", "style", "noscript", "template"):
                continue
            if name == "br":
                out.append("\n")
                continue
            block = name in _BLOCK_TAGS
            if block:
                out.append("\n\n")
            if name == "pre":
                out.append(child.get_text())
            else:
                _walk(child, out, skip)
            if block:
                out.append("\n\n")


def utc_from_epoch(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from unix seconds given as int, float or numeric string
    (milliseconds are recognised when the value is too large to be seconds)."""
    if value is None or value == "":
        return None
    seconds = float(value)
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def utc_from_iso(value: str | None) -> datetime | None:
    """A tz-aware UTC datetime from an ISO-8601 string ("Z" or offset; naive means UTC)."""
    if not value:
        return None
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def lxml_text(element: Any, drop_classes: tuple[str, ...] = (), drop_tags: tuple[str, ...] = (),
              drop: Any = ()) -> str:
    """Like :func:`html_to_text` for an lxml element (the fast path for big pages): block
    elements become paragraphs, ``<br>`` a line break; elements whose tag is in ``drop_tags``,
    whose class list contains one of ``drop_classes``, or that are in ``drop`` (elements, e.g. an
    XPath's result) are skipped (the tree is not changed)."""
    if element is None:
        return ""
    parts: list[str] = []
    _lxml_walk(element, parts, set(drop_classes), set(drop_tags), top=True, drop=set(drop))
    text = "".join(parts)  # lxml has already decoded entities
    return _join_paragraphs([_SPACES.sub(" ", ln).strip() for ln in text.split("\n")])


def _lxml_walk(el: Any, out: list[str], drop_classes: set[str], drop_tags: set[str], top: bool = False,
               drop: set[Any] | frozenset[Any] = frozenset()) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    skip = (not top) and (
        tag in drop_tags or tag in ("script", "style", "noscript", "template") or not tag
        or (drop_classes and drop_classes.intersection((el.get("class") or "").split()))
        or (drop and el in drop)
    )
    if not skip:
        block = tag in _BLOCK_TAGS
        if tag == "br":
            out.append("\n")
        if block:
            out.append("\n\n")
        if tag == "pre":
            out.append("".join(el.itertext()))
        else:
            if el.text:
                out.append(el.text.replace("\n", " "))
            for child in el:
                _lxml_walk(child, out, drop_classes, drop_tags, drop=drop)
        if block:
            out.append("\n\n")
    if not top and el.tail:
        out.append(el.tail.replace("\n", " "))
