"""Decode a fetched HTML page: the encoding it declares, else the one its bytes show.

Every HTML parser reads its page through :func:`page_text` or :func:`parse_html`, never by
assuming an encoding. The order follows the HTML standard's sniffing: a byte-order mark, the
HTTP ``Content-Type`` charset, a ``<meta charset>`` / ``<meta http-equiv>`` or XML declaration
near the top. An undeclared page that is valid UTF-8 is UTF-8. Otherwise it is windows-1252
(what browsers read undeclared Western pages as, and a superset of latin-1; the forums crowdpulse
reads write English, Italian, German, French, Spanish and Portuguese) when charset-normalizer
finds that reading plausible, and else charset-normalizer's best guess (Cyrillic, Greek, Central
European pages with bytes windows-1252 lacks, Chinese, Korean). charset-normalizer alone reads
short Italian or French text as cp1250 ("più" -> "piů"), hence windows-1252 first. An undeclared
Polish page in cp1250 reads plausibly as windows-1252 too and is mis-decoded: such pages need a
declared charset.

A page whose non-ASCII bytes come one or two at a time, all defined in windows-1252 (accented
letters and typographic quotes in Latin-script words), is windows-1252 without asking
charset-normalizer; otherwise the detector sees only the bytes around the non-ASCII characters (at
most 64 KiB of them): markup is ASCII, and this keeps a guess to a millisecond or two.
"""
from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import charset_normalizer
import lxml.html
from lxml import etree

log = logging.getLogger(__name__)

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_META = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_XML_DECL_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_NON_ASCII = re.compile(rb"[\x80-\xff]+")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: How far into the page a <meta> declaration is looked for (the standard says 1024 bytes; real
#: themes put scripts and styles first).
META_WINDOW = 16 * 1024
#: Labels browsers read as windows-1252 (the HTML standard's encoding table).
_AS_CP1252 = {"latin-1", "iso8859-1", "ascii", "cp1252"}
_UTF8_PARSER = lxml.html.HTMLParser(encoding="utf-8")
_PLAIN_UTF8 = etree.HTMLParser(encoding="utf-8")
_PLAIN = etree.HTMLParser()


def _codec(label: str | bytes | None) -> str | None:
    """The Python codec for a declared label, or None when no codec has that name."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    if name in _AS_CP1252:
        return "cp1252"
    if name.startswith(("utf-16", "utf-32")):  # a <meta> cannot declare these for ASCII-readable bytes
        return "utf-8"
    return "utf-8" if name == "utf-8" else name


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def declared_encoding(body: bytes, headers: Mapping[str, str] | None = None) -> str | None:
    """The encoding the page declares (BOM, HTTP header, ``<meta>``, XML declaration), or None."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    content_type = _header(headers or {}, "content-type")
    if content_type:
        m = _CHARSET_PARAM.search(content_type)
        codec = _codec(m.group(1)) if m else None
        if codec:
            return codec
    head = body[:META_WINDOW]
    m = _XML_DECL.match(head) or _META.search(head)
    return _codec(m.group(1)) if m else None


_HIGH = bytes(range(128)) + b"\x80" * 128  # every non-ASCII byte marked as 0x80


def _high_runs(body: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of non-ASCII bytes (``bytes.find`` in C: a regex over a whole
    page takes 15 times as long)."""
    marked = body.translate(_HIGH)
    start = marked.find(b"\x80")
    while start != -1:
        end = start + 1
        while end < len(marked) and marked[end] == 0x80:
            end += 1
        yield start, end
        start = marked.find(b"\x80", end)


def _sample(body: bytes, width: int = 48, limit: int = 1 << 16) -> bytes:
    """The bytes around each run of non-ASCII bytes, joined, up to about ``limit`` bytes."""
    parts: list[bytes] = []
    end = size = 0
    for run_start, run_end in _high_runs(body):
        start = max(run_start - width, end)
        end = run_end + width
        parts.append(body[start:end])
        size += end - start
        if size >= limit:
            break
    return b"".join(parts)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def guessed_encoding(body: bytes) -> str:
    """The encoding of an undeclared page: UTF-8 when valid, windows-1252 when plausible, else
    charset-normalizer's best guess (windows-1252 when it has none)."""
    return "utf-8" if _is_utf8(body) else _guess_legacy(body)


def _latin_text(body: bytes) -> bool:
    """Non-ASCII bytes only one or two at a time (accents, quotes, dashes in Latin-script words),
    all defined in windows-1252. Cyrillic, Greek, CJK and most Central European words make longer
    runs, and those go to charset-normalizer."""
    try:
        body.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return all(end - start <= 2 for start, end in _high_runs(body))


def _guess_legacy(body: bytes) -> str:
    if _latin_text(body):
        return "cp1252"
    sample = _sample(body)
    if charset_normalizer.from_bytes(sample, cp_isolation=["cp1252"]).best() is not None:
        return "cp1252"
    best = charset_normalizer.from_bytes(sample).best()
    guess = _codec(best.encoding) if best is not None else None
    log.debug("undeclared page that windows-1252 does not fit: read as %s", guess or "cp1252")
    return guess or "cp1252"


def page_encoding(page: Any) -> str:
    """The Python codec to decode ``page.body`` with (see the module docstring for the order)."""
    return declared_encoding(page.body, page.headers) or guessed_encoding(page.body)


def page_text(page: Any) -> str:
    """``page.body`` as text in its encoding (undecodable bytes become U+FFFD)."""
    return page.body.decode(page_encoding(page), errors="replace")


def parse_html(page: Any, plain: bool = False) -> Any:
    """The page's lxml document root, decoded by :func:`page_encoding`: ``lxml.html`` elements,
    or with ``plain`` lxml's own (no ``text_content()``, about 4 times faster to walk). Raises
    lxml's ``ParserError`` for an empty document, as ``lxml.html`` does."""
    encoding = page_encoding(page)
    if encoding == "utf-8":  # lxml decodes the bytes itself (fastest), broken bytes becoming U+FFFD as in Python
        return lxml.html.document_fromstring(page.body, parser=_PLAIN_UTF8 if plain else _UTF8_PARSER)
    # Python decodes; lxml refuses text that still names an encoding in an XML declaration
    text = _XML_DECL_TEXT.sub("", page.body.decode(encoding, errors="replace"), count=1)
    return lxml.html.document_fromstring(text, parser=_PLAIN if plain else None)
