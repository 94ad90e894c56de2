"""Read labeled text files (CSV, JSONL, Parquet, Financial PhraseBank .txt) into ``DataFrame[text, label]``.

Labels come out as names from :data:`models.labels.LABELS`. Known spellings map
automatically (``positive/negative/neutral``, ``Bullish/Bearish/Neutral``,
``pos/neg/neu``, ``up/down``); integer labels are ambiguous, so they need an
explicit ``label_map`` unless the file is a known data set (Twitter Financial
News ``sent_train.csv`` / ``sent_valid.csv``: 0 = bearish, 1 = bullish, 2 = neutral).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import pandas as pd

from models.errors import LabeledDataError
from models.labels import LABELS

logger = logging.getLogger(__name__)

#: Spellings every reader accepts without a label map (compared lower-cased, stripped).
LABEL_SYNONYMS: dict[str, str] = {
    "bullish": "bullish", "bull": "bullish", "positive": "bullish", "pos": "bullish", "up": "bullish",
    "bearish": "bearish", "bear": "bearish", "negative": "bearish", "neg": "bearish", "down": "bearish",
    "neutral": "neutral", "neu": "neutral", "none": "neutral",
}

#: Integer label conventions of known data sets, keyed by file name.
KNOWN_DATASETS: dict[str, dict[str, str]] = {
    # Twitter Financial News Sentiment (zeroshot/twitter-financial-news-sentiment)
    "sent_train.csv": {"0": "bearish", "1": "bullish", "2": "neutral"},
    "sent_valid.csv": {"0": "bearish", "1": "bullish", "2": "neutral"},
}

TEXT_FALLBACKS = ("text", "sentence", "body", "comment", "message", "content")
LABEL_FALLBACKS = ("label", "sentiment", "labels", "target", "class")
SUPPORTED = ".csv, .tsv, .jsonl, .json, .parquet, .txt (Financial PhraseBank sentence@label)"


def parse_label_map(spec: str | Mapping[str, str] | None) -> dict[str, str] | None:
    """Turn ``"0=bearish,1=bullish,2=neutral"`` (or a mapping) into ``{raw: LABELS name}``.

    Targets may be any known spelling (``positive`` -> ``bullish``).
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        items = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            if "=" not in part:
                raise LabeledDataError(
                    f"label map entry {part!r} is not RAW=LABEL; write e.g. '0=bearish,1=bullish,2=neutral'"
                )
            raw, _, target = part.partition("=")
            items.append((raw.strip(), target.strip()))
    else:
        items = [(str(k), str(v)) for k, v in spec.items()]
    out: dict[str, str] = {}
    for raw, target in items:
        name = LABEL_SYNONYMS.get(target.lower())
        if name is None:
            raise LabeledDataError(
                f"label map target {target!r} is not one of {', '.join(LABELS)} (or positive/negative/neutral)"
            )
        out[raw] = name
    return out


def _read_phrasebank(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    rows = []
    for lineno, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        text, sep, label = line.rpartition("@")
        if not sep:
            raise LabeledDataError(f"{path}: line {lineno} has no '@label' ending (PhraseBank format is sentence@label)")
        rows.append((text.strip(), label.strip()))
    return pd.DataFrame(rows, columns=["text", "label"])


def _read_table(path: Path) -> pd.DataFrame:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):  # pandas decompresses these itself
        suffixes = suffixes[:-1]
    base = suffixes[-1].lstrip(".") if suffixes else ""
    try:
        if base == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if base == "tsv":
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if base in ("jsonl", "ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if base == "json":
            return pd.read_json(path, dtype=False)
        if base == "parquet":
            return pd.read_parquet(path)
        if base == "txt":
            return _read_phrasebank(path)
    except LabeledDataError:
        raise
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        where = _bad_json_line(path) if base in ("jsonl", "ndjson") and suffixes[-1] == f".{base}" else None
        raise LabeledDataError(f"cannot read {path}: " + (where or str(exc).replace("\n", " "))) from exc
    raise LabeledDataError(f"{path} has an unsupported extension; supported: {SUPPORTED}")


def _bad_json_line(path: Path) -> str | None:
    """Which line of a JSON-lines file does not parse, for the error message (None if all do)."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        json.loads(line)
                    except json.JSONDecodeError as exc:
                        return f"line {n} is not valid JSON ({exc.msg}); expected one object per line"
    except UnicodeDecodeError:
        return "not a UTF-8 text file"
    return None


def _pick_column(df: pd.DataFrame, wanted: str, default: str, fallbacks: tuple[str, ...], what: str, path: Path) -> str:
    if wanted in df.columns:
        return wanted
    if wanted == default:
        lower = {str(c).lower(): c for c in df.columns}
        for name in fallbacks:
            if name in lower:
                return lower[name]
    raise LabeledDataError(
        f"{path} has no {what} column {wanted!r}; its columns are: {', '.join(map(str, df.columns))}"
    )


def _raw_key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_labeled(
    path: str | Path,
    text_col: str = "text",
    label_col: str = "label",
    label_map: str | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a labeled file into ``DataFrame[text, label]`` with labels in LABELS names.

    Args:
        path: CSV/TSV/JSONL/JSON/Parquet with text and label columns, or a Financial
            PhraseBank ``.txt`` file (``sentence@label``, split on the last ``@``; UTF-8, then latin-1).
        text_col: the text column (``text``; when absent, ``sentence``/``body``/``comment``... are tried).
        label_col: the label column (``label``; when absent, ``sentiment``/``target``... are tried).
        label_map: raw label -> LABELS name, as a mapping or ``"0=bearish,1=bullish,2=neutral"``.
            Without it, known spellings map automatically and integer labels of known data sets
            (Twitter Financial News) use that data set's convention.

    Returns:
        DataFrame with columns ``text`` (str) and ``label`` (one of LABELS); rows with no text are dropped.

    Raises:
        LabeledDataError: unreadable file, missing column, or a label that cannot be mapped.
    """
    path = Path(path)
    if not path.exists():
        raise LabeledDataError(f"labeled data file {path} does not exist")
    df = _read_table(path)
    tcol = _pick_column(df, text_col, "text", TEXT_FALLBACKS, "text", path)
    lcol = _pick_column(df, label_col, "label", LABEL_FALLBACKS, "label", path)
    mapping = parse_label_map(label_map)
    if mapping is None and path.name in KNOWN_DATASETS:
        mapping = KNOWN_DATASETS[path.name]
        logger.info("%s: using the known label convention %s", path.name, mapping)
    raw = df[lcol].map(_raw_key)
    if mapping is not None:
        labels = raw.map(lambda r: mapping.get(r, LABEL_SYNONYMS.get(r.lower())))
    else:
        labels = raw.map(lambda r: LABEL_SYNONYMS.get(r.lower()))
    bad = sorted(set(raw[labels.isna()]))
    if bad:
        shown = ", ".join(repr(b) for b in bad[:8])
        hint = " (integer labels need --label-map, e.g. '0=bearish,1=bullish,2=neutral')" if all(
            b.lstrip("-").isdigit() for b in bad) else ""
        raise LabeledDataError(
            f"{path}: cannot map label value(s) {shown} onto {', '.join(LABELS)}{hint}"
        )
    text = df[tcol].astype("string").fillna("")
    out = pd.DataFrame({"text": text.astype(str), "label": labels.astype(str)})
    empty = out["text"].str.strip() == ""
    if empty.any():
        logger.warning("%s: dropped %d row(s) with no text", path, int(empty.sum()))
        out = out[~empty]
    if out.empty:
        raise LabeledDataError(f"{path} has no labeled rows")
    return out.reset_index(drop=True)
