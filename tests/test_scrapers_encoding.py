"""Every HTML parser decodes a page by what it declares, else by what its bytes show (issue 24 #17:
a latin-1 page with no declared charset read "più" as "piů"). Pages written for the project."""
from __future__ import annotations

import codecs

import pytest

from scrapers.detect import PARSERS
from scrapers.encoding import declared_encoding, guessed_encoding, page_encoding, page_text, parse_html
from scrapers.records import Page
from tests.conftest import shared_path

TEXT = "Compro più IWM, perché è già sceso. Però la qualità è bassa, città e università giù."
TITLE = "IWM già giù"
# one minimal page per HTML parser, none declaring a charset (no header, no <meta>)
PAGES = {
    "phpbb": ("https://borsa.example.it/viewtopic.php?t=7",
              '<html><head><title>Borsa</title></head><body><h2 class="topic-title"><a href="./viewtopic.php?t=7">{title}'
              '</a></h2><div id="p1" class="post"><div class="postbody"><p class="author">da <a class="username">Marco</a>'
              ' &raquo; sab 30 mag 2020, 12:40</p><div class="content">{text}</div></div></div></body></html>'),
    "vbulletin": ("https://forum.example.it/showthread.php?threadid=8",
                  '<html><head><title>{title} - Forum</title></head><body><table class="post" id="post11"><tr>'
                  '<td class="userinfo"><dl class="userinfo"><dt class="author">Marco</dt></dl></td>'
                  '<td class="postbody">{text}</td></tr><tr><td class="postdate">30 mag 2020, 12:40</td></tr></table>'
                  '</body></html>'),
    "hackernews": ("https://news.ycombinator.com/item?id=9",
                   '<html><head><title>HN</title></head><body><table class="fatitem"><tr class="athing" id="9">'
                   '<td class="title"><span class="titleline"><a href="x">{title}</a></span></td></tr><tr>'
                   '<td class="subtext"><span class="score">3 points</span> by <a class="hnuser">marco</a> '
                   '<span class="age" title="2020-05-30T12:40:00">1 hour ago</span></td></tr><tr><td>'
                   '<div class="toptext">{text}</div></td></tr></table></body></html>'),
    "oldreddit": ("https://old.reddit.com/r/borsa/comments/abc/x/",
                  '<html><head><title>r/borsa</title></head><body><div class="thing link" data-fullname="t3_abc" '
                  'data-author="marco" data-timestamp="1590842400000" data-permalink="/r/borsa/comments/abc/x/">'
                  '<a class="title" href="x">{title}</a><div class="expando"><form><div class="usertext-body">'
                  '<div class="md"><p>{text}</p></div></div></form></div></div></body></html>'),
    "community": ("https://community.example-broker.com/post/5",
                  '<html><head><title>Community</title></head><body><article class="post" data-post-id="5">'
                  '<h1 class="post-title">{title}</h1><div class="post-meta"><a class="author" href="/u/1">Marco</a>'
                  '<time datetime="2020-05-30T12:40:00Z">05-30 12:40</time></div><div class="post-content"><p>{text}</p>'
                  '</div></article></body></html>'),
}


def page(body: bytes, headers: dict[str, str] | None = None, url: str = "https://example.test/") -> Page:
    return Page(url=url, status=200, headers=headers or {}, body=body)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
@pytest.mark.parametrize("site", sorted(PAGES))
def test_every_html_parser_reads_an_undeclared_page_in_its_real_encoding(site, encoding):
    """Before: bs4's detector read latin-1 as cp1250 (phpBB, vBulletin, community: "piů"), and lxml
    read undeclared UTF-8 as latin-1 (Hacker News, old.reddit: "piÃ¹")."""
    url, template = PAGES[site]
    first = PARSERS[site](page(template.format(title=TITLE, text=TEXT).encode(encoding), url=url)).posts[0]
    assert (first.body, first.title) == (TEXT, TITLE)


@pytest.mark.parametrize("headers, head", [
    ({"Content-Type": "text/html; charset=ISO-8859-1"}, ""),
    ({}, '<meta charset="windows-1252">'),
    ({}, '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'),
])
def test_a_declared_legacy_charset_is_obeyed(headers, head):
    body = f"<html><head>{head}<title>t</title></head><body><p>{TEXT}</p></body></html>".encode("cp1252")
    assert page_encoding(page(body, headers)) == "cp1252"
    assert parse_html(page(body, headers)).text_content() == "t" + TEXT


def test_declarations_in_their_order():
    text = f"<html><head><meta charset='utf-8'></head><body>{TEXT}</body></html>"
    # the HTTP header wins over <meta>; a BOM over both
    assert declared_encoding(text.encode("cp1252"), {"content-type": "text/html; charset=cp1252"}) == "cp1252"
    assert declared_encoding(codecs.BOM_UTF8 + text.encode(), {"content-type": "text/html; charset=cp1252"}) == "utf-8"
    assert declared_encoding(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == "utf-16"
    assert declared_encoding(b'<?xml version="1.0" encoding="ISO-8859-15"?><html></html>') == "iso8859-15"
    assert declared_encoding(b"<html><head><meta charset='x-no-such'></head></html>") is None
    assert declared_encoding(b"<html><head><meta charset='utf-16'></head></html>") == "utf-8"  # as browsers read it
    assert page_text(page(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))).endswith(f"{TEXT}</body></html>")
    # an XML declaration naming an encoding is dropped before lxml reads the decoded text
    xhtml = f'<?xml version="1.0" encoding="iso-8859-1"?>\n<html><body><p>{TEXT}</p></body></html>'
    assert parse_html(page(xhtml.encode("latin-1"))).text_content() == TEXT


@pytest.mark.parametrize("text, encoding, expected", [
    ("Рынок падает, я покупаю ещё акции. Это хорошая возможность для инвесторов.", "cp1251", "cp1251"),
    ("Příliš žluťoučký kůň úpěl ďábelské ódy, akcie padají.", "cp1250", "cp1250"),
    ("股市下跌了，我又买了一些股票。长期投资。", "gb18030", "gb18030"),
    ("Die Börse fällt, Größere Verluste wären übel für März. « Créée » — c’est l’été.", "cp1252", "cp1252"),
    (TEXT, "utf-8", "utf-8"),
    ("plain ASCII only", "ascii", "utf-8"),
])
def test_an_undeclared_page_is_guessed_from_its_bytes(text, encoding, expected):
    body = f"<html><body><p>{text}</p><p>{text}</p></body></html>".encode(encoding)
    assert guessed_encoding(body) == expected
    assert page_text(page(body)) == body.decode(encoding)


def test_a_page_declared_utf8_with_a_broken_byte_keeps_the_rest():
    body = f"<html><head><meta charset='utf-8'></head><body><p>{TEXT}</p></body></html>".encode().replace(
        "più".encode(), "più".encode("latin-1"))
    assert parse_html(page(body)).text_content() == TEXT.replace("più", "pi\ufffd")


def test_the_real_undeclared_windows_1252_page():
    """The Something Awful page declares no charset and is windows-1252 ("Québec", curly quotes)."""
    from scrapers import vbulletin

    body = shared_path("fixtures", "forums", "somethingawful_vbulletin", "showthread_3507451_page1.html").read_bytes()
    assert page_encoding(page(body)) == "cp1252"
    result = vbulletin.parse(page(body, url="https://forums.somethingawful.com/showthread.php?threadid=3507451"))
    text = "\n".join(p.body for p in result.posts)
    assert "Québec students" in text and "\u201cWe were a" in text and "\ufffd" not in text
