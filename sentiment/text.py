"""Text preparation for scoring: drop boilerplate, split sentences and ticker clauses.

Boilerplate is not opinion: quoted lines (starting with ``>``) and disclaimer sentences
("This is not financial advice", "NFA", "do your own research"...) are removed before the
model sees the text. Offsets in spans refer to the cleaned text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

_QUOTE_LINE = re.compile(r"^[ \t]*(?:>|&gt;).*$", re.MULTILINE)
_DISCLAIMER = re.compile(
    r"not\s+(?:a\s+)?(?:financial|investment|investing|trading)\s+advi[cs]e"
    r"|\bnfa\b|\bdyor\b|do\s+your\s+own\s+(?:research|due\s+diligence|dd)"
    r"|(?:i\s*(?:am|'m)\s+)?not\s+a\s+(?:licensed\s+)?financial\s+advis[oe]r"
    r"|^\s*disclaimer\b|for\s+(?:informational|entertainment|educational)\s+purposes\s+only"
    r"|past\s+performance\s+(?:is|does)\s+not|consult\s+(?:a|your)\s+(?:financial|licensed)"
    r"|(?:this|the)\s+(?:article|post|content)\s+(?:is|does)\s+not\s+(?:constitute|represent)",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_CONNECTOR = re.compile(r"\s*(?:,\s*)?\b(?:but|while|whereas|and|although|though|yet)\b\s*|\s*;\s*", re.IGNORECASE)
MIN_CLAUSE_WORDS = 3


@dataclass(frozen=True)
class Span:
    """A piece of text (sentence or clause) by character offsets."""

    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of ``text`` (split after . ! ? and at line breaks), empty ones dropped."""
    spans, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        if text[pos:m.start()].strip():
            spans.append(_trim(text, pos, m.start()))
        pos = m.end()
    if text[pos:].strip():
        spans.append(_trim(text, pos, len(text)))
    return spans


def _trim(text: str, s: int, e: int) -> Span:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return Span(s, e)


def clean_text(text: str | None) -> str:
    """``text`` without quoted lines and disclaimer sentences; whitespace kept otherwise."""
    if not text:
        return ""
    text = _QUOTE_LINE.sub("", str(text))
    if not _DISCLAIMER.search(text):
        return text.strip()
    kept = []
    for sp in split_sentences(text):
        sentence = text[sp.start:sp.end]
        if not _DISCLAIMER.search(sentence):
            kept.append(sentence)
    return "\n".join(kept).strip()


def split_clauses(text: str, span: Span, mentions: Sequence[tuple[int, int, str]]) -> list[tuple[Span, frozenset[str]]]:
    """Split a sentence into clauses where each side names a different ticker.

    ``mentions`` holds (start, end, ticker) offsets inside the text. A sentence splits on "but",
    "while", "and", ";" (and a few more) only where the pieces on both sides name different
    tickers and each piece has at least three words; otherwise it stays whole. "and" between two
    ticker mentions ("I'd avoid CM and BNS") joins the objects of one verb and never splits.
    """
    inside = [(s, t) for s, _, t in mentions if span.start <= s < span.end]
    whole = [(span, frozenset(t for _, t in inside))]
    if len({t for _, t in inside}) < 2:
        return whole
    starts = {s for s, _, _ in mentions}
    ends = {e for _, e, _ in mentions}
    cuts = [span.start]
    for m in _CONNECTOR.finditer(text, span.start, span.end):
        if m.start() in ends and m.end() in starts and m.group().strip(" ,").lower() == "and":
            continue
        cuts.extend([m.start(), m.end()])
    cuts.append(span.end)
    parts = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2) if cuts[i] < cuts[i + 1]]
    groups: list[list] = []  # [start, end, tickers]
    for s, e in parts:
        names = {t for o, t in inside if s <= o < e}
        words = len(text[s:e].split())
        if groups:
            g = groups[-1]
            if names and g[2] and names != g[2] and words >= MIN_CLAUSE_WORDS and len(text[g[0]:g[1]].split()) >= MIN_CLAUSE_WORDS:
                groups.append([s, e, names])
                continue
            g[1], g[2] = e, g[2] | names
        else:
            groups.append([s, e, names])
    if len(groups) < 2:
        return whole
    return [(Span(s, e), frozenset(n)) for s, e, n in groups]


#: How the stance model is told which ticker to judge: every mention of it is wrapped in these.
TARGET_OPEN, TARGET_CLOSE = "<<", ">>"


def mark_target(text: str, mentions: Sequence[tuple[int, int, str]], ticker: str) -> str:
    """``text`` with every mention of ``ticker`` wrapped as ``<<IWM>>``, other mentions untouched.

    ``mentions`` holds (start, end, ticker) offsets inside ``text``, in order and not overlapping
    (as :meth:`sentiment.tickers.Linker.link` gives them). The target-aware stance model reads
    this form: "<<TLT>> will move up and IWM will move down" asks about TLT.
    """
    out, pos = [], 0
    for start, end, name in mentions:
        if name != ticker or start < pos:
            continue
        out += [text[pos:start], TARGET_OPEN, text[start:end], TARGET_CLOSE]
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: Posts longer than this (in words) show the stance model only the sentences around the target.
TARGET_MAX_WORDS = 100


def target_text(text: str, mentions: Sequence[tuple[int, int, str]], ticker: str,
                max_words: int = TARGET_MAX_WORDS) -> str:
    """What the stance model reads about ``ticker``: ``text`` with the ticker marked
    (:func:`mark_target`); a post over ``max_words`` words is cut to the sentences naming the
    ticker and one sentence either side, so a long post's other topics do not drown it."""
    if len(text.split()) <= max_words:
        return mark_target(text, mentions, ticker)
    spans = split_sentences(text)
    near: set[int] = set()
    for k, sp in enumerate(spans):
        if any(t == ticker and sp.start <= s < sp.end for s, _, t in mentions):
            near |= {k - 1, k, k + 1}
    keep = [spans[k] for k in sorted(near) if 0 <= k < len(spans)]
    if not keep:
        return mark_target(text, mentions, ticker)
    parts = []
    for sp in keep:
        inside = [(s - sp.start, e - sp.start, t) for s, e, t in mentions if sp.start <= s and e <= sp.end]
        parts.append(mark_target(text[sp.start:sp.end], inside, ticker))
    return " ".join(parts)
