"""Ticker linking: cashtags, the broker form ``$Name(TICKER)$``, bare symbols and aliases.

Data files (users extend them; see docs/sentiment.md):

- ``sentiment/data/universe.csv``  symbol,name,kind — symbols recognised when written bare.
- ``sentiment/data/aliases.csv``   alias,symbol — names, nicknames and typos ("Russel 2000").
  An alias written in capitals only ("RUT", "SPX") matches only in capitals; any other alias
  matches in any case.
- ``sentiment/data/common_words.txt`` — symbols that are also words (A, IT, ALL, ON, DD...):
  bare, they count only next to a finance word ("ALL calls", "shares of ON"); as a cashtag
  they always count.

A cashtag is ``$`` before one to six letters, in any case (``$IWM``, ``$amrn``, ``$Roku``;
``$100``, ``$5k`` and currencies such as ``$USD`` or ``$usd`` are not tickers, nor a lower-case
``$x``, ``$xx``, ``$k`` or ``$amount`` that stands for money). An exchange, class or StockTwits
suffix is kept as written: ``$ENB.CA`` links ``ENB.CA``, ``$BRK.B`` ``BRK.B``, ``$BTC.X``
``BTC.X`` (see :func:`cashtag_symbol`).

``via`` of a mention is ``cashtag`` (``$IWM`` or the broker form), ``alias`` or ``symbol``
(a bare symbol from the universe). Context inheritance (``via="context"``) happens in
:mod:`sentiment.analyze`, which sees the thread.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sentiment.errors import SentimentError

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"

# Cashtags that are currencies or crypto, not listed securities.
NOT_SECURITIES = frozenset({"USD", "EUR", "CAD", "GBP", "JPY", "CNY", "AUD", "CHF", "BTC", "ETH", "DOGE"})

_FINANCE_AFTER = re.compile(
    r"\s*(?:\d+(?:\.\d+)?\s?[cp]\b|calls?\b|puts?\b|shares?\b|stocks?\b|options?\b|leaps?\b|"
    r"earnings\b|ticker\b|strikes?\b)",
    re.IGNORECASE,
)
_FINANCE_BEFORE = re.compile(r"(?:shares|stock|calls|puts|ticker)\s+(?:of|in|on)?\s*$", re.IGNORECASE)

#: Lower-case cashtags that stand for an amount of money, not a ticker ("$amount", "$mm").
MONEY_WORDS = frozenset({"amount", "money", "cash", "bucks", "mm", "bn"})
#: Suffixes a lower-case cashtag keeps ("$enb.ca"); in capitals any one or two letters are kept
#: ("$ENB.CA", "$SHOP.TO", "$BRK.B", "$WPG.PH"). Lower case needs the list, so that "$tsla.to the
#: moon" is $TSLA followed by "to". x is StockTwits' crypto mark ($BTC.X).
LOWER_SUFFIXES = frozenset({"x", "ca", "cn", "ne", "v", "ax", "hk", "l"})

_BROKER = re.compile(r"\$([^$\n()]{1,80})\(([A-Za-z][A-Za-z0-9.]{0,6})\)\$")
# ASCII edges ("买了$TSLA和" links); no "$" right after a censoring mark ("f&$k", "%$king").
_CASHTAG = re.compile(r"(?<![A-Za-z0-9_$&%^*#@])\$([A-Za-z]{1,6})(?:\.([A-Za-z]{1,2}))?(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class TickerMention:
    """One ticker named in a text: the symbol, how it was found, and where (character offsets)."""

    ticker: str
    via: str
    start: int
    end: int


@dataclass(frozen=True)
class Linker:
    """Compiled patterns for one universe + alias set. Build with :func:`load_linker`."""

    universe: frozenset[str]
    ambiguous: frozenset[str]
    symbol_re: re.Pattern
    alias_ci_re: re.Pattern | None
    alias_cs_re: re.Pattern | None
    alias_map: dict[str, str]

    def link(self, text: str) -> list[TickerMention]:
        """Every ticker mention in ``text``, in order, without overlaps."""
        if not isinstance(text, str) or not text:  # None, NaN from a DataFrame: nothing named
            return []
        found: list[TickerMention] = []
        taken: list[tuple[int, int]] = []

        def free(s: int, e: int) -> bool:
            return all(e <= a or s >= b for a, b in taken)

        def add(sym: str, via: str, s: int, e: int) -> None:
            if free(s, e):
                found.append(TickerMention(sym, via, s, e))
                taken.append((s, e))

        for m in _BROKER.finditer(text):
            add(m.group(2).upper(), "cashtag", m.start(), m.end())
        for m in _CASHTAG.finditer(text):
            sym, with_suffix = self.cashtag_symbol(m.group(1), m.group(2))
            if sym:
                add(sym, "cashtag", m.start(), m.end() if with_suffix else m.end(1))
        alias_hits = []
        for rx in (self.alias_cs_re, self.alias_ci_re):
            if rx is None:
                continue
            for m in rx.finditer(text):
                key = m.group(0) if rx is self.alias_cs_re else m.group(0).lower()
                alias_hits.append((m.start(), m.end(), self.alias_map[key]))
        # longest alias first, so "Russell 2000" wins over "Russell"
        for s, e, sym in sorted(alias_hits, key=lambda h: (h[0] - h[1], h[0])):
            # an alias that is the symbol itself in another case ("iwm") is a bare symbol
            add(sym, "symbol" if text[s:e].upper() == sym else "alias", s, e)
        pending = []
        for m in self.symbol_re.finditer(text):
            sym = m.group(0)
            if sym in self.ambiguous and not _finance_context(text, m.start(), m.end()):
                pending.append(m)
                continue
            add(sym, "symbol", m.start(), m.end())
        # A common-word symbol in a list next to a ticker ("DE, CAT, GM and NKE") is a ticker;
        # repeat so that a chain of them resolves from one side.
        while pending:
            keep = [m for m in pending if not (free(m.start(), m.end()) and _listed(text, m, found))]
            for m in pending:
                if m not in keep:
                    add(m.group(0), "symbol", m.start(), m.end())
            if len(keep) == len(pending):
                break
            pending = keep
        return sorted(found, key=lambda t: t.start)

    def cashtag_symbol(self, name: str, suffix: str | None = None) -> tuple[str | None, bool]:
        """The ticker a cashtag ``$name`` (``$name.suffix``) names, and whether the suffix is part
        of it; ``(None, False)`` for money and currencies.

        The suffix is kept as written when the whole symbol is in the universe (``BRK.B``), when it
        is in capitals (``ENB.CA``: the Toronto listing, not mapped to a US one), or, in a
        lower-case cashtag, when it is in :data:`LOWER_SUFFIXES`; otherwise the dot ends the
        sentence ("$IWM.Then"). A capitals symbol with a plural "s" ("$HOODs") is the symbol; a
        lower- or mixed-case name that is no symbol of the universe but an alias ("$Tesla") is
        the alias's symbol.
        """
        upper = name.upper()
        if suffix:
            full = f"{upper}.{suffix.upper()}"
            if full in self.universe or suffix.isupper() or (
                    name.islower() and suffix.islower() and suffix in LOWER_SUFFIXES):
                return full, True
        if upper in NOT_SECURITIES:
            return None, False
        if name.isupper():
            return upper, False
        if len(name) > 2 and name[:-1].isupper() and name[-1] == "s":  # "$HOODs"
            return upper[:-1], False
        low = name.lower()
        if len(name) == 1 or set(low) == {"x"} or low in MONEY_WORDS:  # "$k", "$xx", "$amount"
            return None, False
        if upper not in self.universe and low in self.alias_map:
            return self.alias_map[low], False
        return upper, False


_LIST_GAP = re.compile(r"^\s*(?:[,/&+;|]|\.\s|\n|\band\b|\bor\b)[\s,/&+;|]*(?:(?:and|or)\s+)?$", re.IGNORECASE)


def _listed(text: str, m: re.Match, found: list[TickerMention]) -> bool:
    for t in found:
        if 0 <= m.start() - t.end <= 8 and _LIST_GAP.match(text[t.end:m.start()]):
            return True
        if 0 <= t.start - m.end() <= 8 and _LIST_GAP.match(text[m.end():t.start]):
            return True
    return False


def _finance_context(text: str, start: int, end: int) -> bool:
    if text[start - 1:start] == "(" and text[end:end + 1] == ")":  # "(RIDE)" names a ticker
        return True
    return bool(_FINANCE_AFTER.match(text, end)) or bool(_FINANCE_BEFORE.search(text[max(0, start - 20):start]))


def _alternation(words: list[str]) -> str:
    # Longest first so the regex engine prefers "BRK.B" over "BRK", "Russell 2000" over "Russell".
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SentimentError(f"cannot read {path}: {exc.strerror}") from None
    if rows and not set(required) <= set(rows[0]):
        raise SentimentError(f"{path} must have the columns {', '.join(required)}")
    return rows


def build_linker(universe_csv: Path, aliases_csv: Path, common_words: Path) -> Linker:
    """Compile a linker from the three data files."""
    universe = frozenset(r["symbol"].strip().upper() for r in _read_csv(universe_csv, ("symbol", "name", "kind"))
                         if r["symbol"].strip())
    ambiguous: set[str] = set()
    if common_words.exists():
        for line in common_words.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                ambiguous.add(line.upper())
    alias_map: dict[str, str] = {}
    cs, ci = [], []
    for r in _read_csv(aliases_csv, ("alias", "symbol")):
        alias, sym = r["alias"].strip(), r["symbol"].strip().upper()
        if not alias or not sym:
            continue
        if any(ch.isalpha() for ch in alias) and alias == alias.upper():
            cs.append(alias)
            alias_map[alias] = sym
        else:
            ci.append(alias)
            alias_map[alias.lower()] = sym
    edge_l, edge_r = r"(?<![A-Za-z0-9$&'])", r"(?![A-Za-z0-9&])"
    symbol_re = re.compile(edge_l + "(?:" + _alternation(sorted(universe)) + ")" + r"(?![A-Za-z0-9]|\.[A-Za-z])")
    alias_cs_re = re.compile(edge_l + "(?:" + _alternation(cs) + ")" + edge_r) if cs else None
    alias_ci_re = re.compile(edge_l + "(?:" + _alternation(ci) + ")" + edge_r, re.IGNORECASE) if ci else None
    log.debug("linker: %d symbols, %d aliases, %d ambiguous", len(universe), len(alias_map), len(ambiguous))
    return Linker(universe, frozenset(ambiguous), symbol_re, alias_ci_re, alias_cs_re, alias_map)


@lru_cache(maxsize=1)
def default_linker() -> Linker:
    """The linker over the shipped data files (compiled once per process)."""
    return build_linker(DATA_DIR / "universe.csv", DATA_DIR / "aliases.csv", DATA_DIR / "common_words.txt")


def link_tickers(text: str, linker: Linker | None = None) -> list[TickerMention]:
    """Tickers named in ``text``: cashtags, broker form, aliases and bare universe symbols.

    Example:
        >>> [(m.ticker, m.via) for m in link_tickers("Long $IWM, short the long end")]
        [('IWM', 'cashtag'), ('TLT', 'alias')]
    """
    return (linker or default_linker()).link(text)


def tickers_in(text: str, linker: Linker | None = None) -> list[str]:
    """Distinct tickers named in ``text``, in order of first mention."""
    return list(dict.fromkeys(m.ticker for m in link_tickers(text, linker)))
