"""StockTwits messages tagged Bullish or Bearish by their own authors, and their fixed hold-out split.

The set (``shared/data/stocktwits/amoooma_stocktwits_labelled.csv``, MIT; no header, columns
``label,text``, HTML-escaped) carries two labels only: its authors tag a message Bullish or Bearish,
never neutral. :func:`read_author_tagged` reads it as the project trains and measures on it:

1. the text is HTML-unescaped (twice: some messages are escaped two times) and stripped;
2. messages are grouped by their *normalised* text (:func:`normalise`: lower case, URLs dropped,
   every ``$cashtag`` masked to ``$``, punctuation dropped), so a bot's template posted for many tickers
   or a repost is one message; a group whose messages carry different tags is dropped, every other
   group is kept once (its first message);
3. each message is in the ``test`` split when the md5 of its normalised text is divisible by 5
   (about a fifth), else in ``train``. The split depends on the message alone, not on row order or on
   the other rows, so it stays fixed when the file grows, and repeats of one message never straddle it.

The ``test`` split is for measurement only (``python scripts/stocktwits_split.py --write-test FILE`` writes it
for ``crowdpulse models eval --data FILE``); scripts/train_default.py trains on ``train`` with a
two-class loss.
"""
from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

import pandas as pd

from models.errors import ModelError

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_CASHTAG = re.compile(r"\$[a-z][a-z0-9.]*")
_NON_WORD = re.compile(r"[^a-z0-9$]+")
TAGS = {"bullish": "bullish", "bearish": "bearish"}
#: One message in TEST_MODULUS goes to the test split.
TEST_MODULUS = 5


def normalise(text: str) -> str:
    """The text two messages must share to count as one: lower case, no URLs, cashtags masked, no punctuation."""
    text = _URL.sub(" ", str(text).lower())
    text = _CASHTAG.sub("$", text)
    return _NON_WORD.sub(" ", text).strip()


def split_of(norm: str) -> str:
    """``test`` or ``train`` for a normalised message: md5 divisible by :data:`TEST_MODULUS` is test."""
    return "test" if int(hashlib.md5(norm.encode("utf-8")).hexdigest(), 16) % TEST_MODULUS == 0 else "train"


def read_author_tagged(path: str | Path) -> pd.DataFrame:
    """DataFrame[text, label, split, row]: the deduplicated messages of ``path`` with their split; ``row``
    is the message's line number in the file (0-based), an id for it that holds no text."""
    try:
        raw = pd.read_csv(path, header=None, names=["label", "text"], dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the StockTwits set {path}: {exc}") from None
    raw["row"] = range(len(raw))
    raw["label"] = raw["label"].str.strip().str.lower().map(TAGS)
    raw["text"] = raw["text"].map(lambda t: html.unescape(html.unescape(t))).str.strip()
    raw = raw.dropna(subset=["label"])
    raw["norm"] = raw["text"].map(normalise)
    raw = raw[raw["norm"] != ""]
    tags = raw.groupby("norm")["label"].nunique()
    raw = raw[raw["norm"].map(tags) == 1].drop_duplicates("norm")
    if raw.empty:
        raise ModelError(f"{path} holds no Bullish/Bearish messages (expected the columns label,text, no header)")
    raw["split"] = raw["norm"].map(split_of)
    return raw[["text", "label", "split", "row"]].reset_index(drop=True)
