"""Labeled-dataset export: select scored posts, dedupe, split, and write them.

The pieces are plain functions over DataFrames so notebooks can use them one
by one; :func:`export` strings them together for ``crowdpulse export``:

1. :func:`pick_model` resolves ``--model`` to one ``scores.model_id``.
2. :func:`export_frame` reads posts + that model's scores, stances and themes
   (one row per post), applying the filters.
3. :func:`dedupe_frame` drops exact and near-duplicate texts.
4. :func:`assign_splits` makes stratified train/validation/test splits that
   keep every thread in one split.
5. ``write_*`` write CSV (spreadsheet-safe), JSONL, Parquet, a Hugging Face
   ``datasets`` folder with a dataset card, or Label Studio tasks.

:func:`labeled_training_frame` reads the human labels imported from Label
Studio back out as ``[source, post_id, text, label]`` for training.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import Store
from models.labels import LABELS

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "parquet", "hf", "labelstudio")
SPLIT_NAMES = ("train", "validation", "test")
_SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".json": "labelstudio"}


class ExportError(CrowdpulseError):
    """An export option or the data it selects is not usable, phrased for the user."""


@dataclass
class ExportResult:
    """What an export wrote: where, how many rows per split, which model."""

    path: Path
    format: str
    model_id: str
    rows: int
    splits: dict[str, int] = field(default_factory=dict)
    dropped_duplicates: int = 0
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------- models
def pick_model(store: Store, spec: str | None = None) -> str:
    """The ``scores.model_id`` to export.

    ``None`` picks the model with the most score rows. Otherwise ``spec`` must
    equal a model_id or match exactly one of them as a prefix or substring
    (model ids are ``name@weights-hash``, so the name alone is enough).
    """
    counts = store.query(
        "SELECT model_id, count(*) AS n FROM scores GROUP BY model_id ORDER BY n DESC, model_id"
    )
    if counts.empty:
        raise ExportError("the database has no scores yet: run `crowdpulse score` first")
    ids = list(counts["model_id"])
    if spec is None:
        return ids[0]
    if spec in ids:
        return spec
    matches = [m for m in ids if m.startswith(spec)] or [m for m in ids if spec in m]
    if len(matches) == 1:
        return matches[0]
    what = "matches several models" if matches else "matches no scored model"
    raise ExportError(f"--model {spec!r} {what}; scored models: {', '.join(ids)}")


# ------------------------------------------------------------------- sessions
def assign_sessions(created_at: pd.Series) -> pd.Series:
    """Trading session (a ``datetime.date``) of each UTC timestamp: the NYSE session whose
    close it precedes (``market.calendar.assign_sessions``); None where unknown."""
    from market.calendar import assign_sessions as market_sessions

    if created_at.empty:
        return pd.Series([], index=created_at.index, dtype=object)
    sessions = pd.Series(market_sessions(pd.to_datetime(created_at, utc=True)).to_numpy(), index=created_at.index)
    return sessions.map(lambda d: None if pd.isna(d) else d.date()).astype(object)


# --------------------------------------------------------------------- select
def _text(title: Any, body: Any) -> str:
    parts = [str(p).strip() for p in (title, body) if isinstance(p, str) and p.strip()]
    return "\n\n".join(parts)


def _is_bare_date(value: Any) -> bool:
    """A date without a time of day: a ``date``, a midnight ``Timestamp`` without a zone, or a string
    naming no time ("2024-01-02", "2024-1-2", "20240102")."""
    if isinstance(value, datetime):
        return value.tzinfo is None and value == value.replace(hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, date):
        return True
    return isinstance(value, str) and not re.search(r"\d[T ]\d|:", value.strip())


def _as_utc(value: Any, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):  # "" reads as NaT, which would match nothing
        raise ExportError(f"{name} {value!r} is not a date; use YYYY-MM-DD or an ISO timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def export_frame(
    store: Store,
    *,
    model: str | None = None,
    since: Any = None,
    until: Any = None,
    sources: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
    min_confidence: float | None = None,
    user_labels: bool = False,
    least_confident: int | None = None,
) -> pd.DataFrame:
    """One row per scored post for ``model``, with its stances and themes.

    Columns: source, id, thread_id, created_at (UTC), session, author, url,
    text, label, p_bullish, p_bearish, p_neutral, confidence, tickers,
    stances (list of dicts), themes (list of str), model_id and, with
    ``user_labels``, user_label. ``since``/``until`` are inclusive bounds on
    created_at (a bare date for ``until`` means the whole day).
    """
    model_id = pick_model(store, model)
    sources = [sources] if isinstance(sources, str) else sources  # one name, not its letters
    tickers = [tickers] if isinstance(tickers, str) else tickers
    where, params = ["s.model_id = ?"], [model_id]
    lo, hi = _as_utc(since, "--since"), _as_utc(until, "--until")
    if lo is not None and hi is not None and lo > hi:
        raise ExportError(f"--since {since} is after --until {until}")
    if lo is not None:
        where.append("p.created_at >= ?")
        params.append(lo.tz_localize(None).to_pydatetime())
    if hi is not None:
        if _is_bare_date(until):  # the whole day
            hi = hi + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        where.append("p.created_at <= ?")
        params.append(hi.tz_localize(None).to_pydatetime())
    if sources:
        known = set(store.query("SELECT DISTINCT source FROM posts")["source"])
        unknown = sorted(set(sources) - known)
        if unknown:
            raise ExportError(
                f"--source {', '.join(unknown)} has no posts; sources in the database: {', '.join(sorted(known)) or 'none'}"
            )
        where.append(f"p.source IN ({', '.join('?' * len(sources))})")
        params.extend(sources)
    if tickers:
        tickers = [t.upper().lstrip("$") for t in tickers]
        where.append(
            "EXISTS (SELECT 1 FROM stances t WHERE t.source = p.source AND t.post_id = p.id "
            f"AND t.model_id = s.model_id AND t.ticker IN ({', '.join('?' * len(tickers))}))"
        )
        params.extend(tickers)
    df = store.query(
        f"""SELECT p.source, p.id, p.thread_id, p.created_at, p.author, p.url, p.title, p.body,
                   p.user_label, s.label, s.p_bullish, s.p_bearish, s.p_neutral, s.model_id
            FROM posts p JOIN scores s ON s.source = p.source AND s.post_id = p.id
            WHERE {' AND '.join(where)}
            ORDER BY p.source, p.created_at, p.id""",
        params,
    )
    df["created_at"] = pd.to_datetime(df["created_at"]).dt.tz_localize("UTC")
    df["text"] = [_text(t, b) for t, b in zip(df["title"], df["body"])]
    df["confidence"] = df[["p_bullish", "p_bearish", "p_neutral"]].max(axis=1)
    if min_confidence is not None:
        if not isinstance(min_confidence, (int, float)) or not 0.0 <= min_confidence <= 1.0:
            raise ExportError(f"--min-confidence {min_confidence} must be between 0 and 1")
        df = df[df["confidence"] >= min_confidence]
    if least_confident is not None:
        if not isinstance(least_confident, int) or least_confident < 1:
            raise ExportError(f"--least-confident {least_confident} must be a positive number of posts")
        df = df.sort_values(["confidence", "source", "id"], kind="stable").head(least_confident)
    df = df.reset_index(drop=True)
    df["session"] = assign_sessions(df["created_at"])
    df = _attach_stances_themes(store, df, model_id)
    cols = ["source", "id", "thread_id", "created_at", "session", "author", "url", "text", "label",
            "p_bullish", "p_bearish", "p_neutral", "confidence", "tickers", "stances", "themes", "model_id"]
    if user_labels:
        cols.append("user_label")
    log.info("selected %d posts scored by %s", len(df), model_id)
    return df[cols]


def _attach_stances_themes(store: Store, df: pd.DataFrame, model_id: str) -> pd.DataFrame:
    # keys travel as list parameters (not con.register: DuckDB refuses a registration while a
    # fetchone() result of the connection is still open, e.g. right after Store.open)
    keys = "(SELECT unnest(?::VARCHAR[]) AS source, unnest(?::VARCHAR[]) AS post_id)"
    params = [list(df["source"].astype(str)), list(df["id"].astype(str)), model_id]
    st = store.query(
        f"""SELECT t.source, t.post_id, t.ticker, t.label, t.p_bullish, t.p_bearish, t.p_neutral, t.via
            FROM stances t JOIN {keys} k USING (source, post_id)
            WHERE t.model_id = ? ORDER BY t.ticker""",
        params,
    )
    th = store.query(
        f"""SELECT t.source, t.post_id, t.theme FROM themes t JOIN {keys} k USING (source, post_id)
            WHERE t.model_id = ? ORDER BY t.score DESC, t.theme""",
        params,
    )
    stances: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in st.itertuples(index=False):
        stances.setdefault((r.source, r.post_id), []).append({
            "ticker": r.ticker, "label": r.label, "p_bullish": _f(r.p_bullish),
            "p_bearish": _f(r.p_bearish), "p_neutral": _f(r.p_neutral), "via": r.via,
        })
    themes: dict[tuple[str, str], list[str]] = {}
    for r in th.itertuples(index=False):
        themes.setdefault((r.source, r.post_id), []).append(r.theme)
    key = list(zip(df["source"], df["id"]))
    df = df.copy()
    df["stances"] = [stances.get(k, []) for k in key]
    df["tickers"] = [[s["ticker"] for s in stances.get(k, [])] for k in key]
    df["themes"] = [themes.get(k, []) for k in key]
    return df


def _f(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


# --------------------------------------------------------------------- dedupe
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s$]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Case-folded text without URLs, punctuation or repeated whitespace (``$`` kept for cashtags)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _URL.sub(" ", text)
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def _shingles(text: str, k: int = 5) -> set[int]:
    if len(text) <= k:
        return {zlib.crc32(text.encode())} if text else set()
    return {zlib.crc32(text[i:i + k].encode()) for i in range(len(text) - k + 1)}


def _minhash(shingles: list[set[int]], num_perm: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 31, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, size=num_perm, dtype=np.uint64)
    sig = np.full((len(shingles), num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    for i, sh in enumerate(shingles):
        if sh:
            x = np.fromiter(sh, dtype=np.uint64, count=len(sh))[:, None]
            sig[i] = ((x * a + b) % prime).min(axis=0)  # x < 2**32, a < 2**31: no overflow
    return sig


def duplicate_groups(texts: Sequence[str], threshold: float = 0.8, *, num_perm: int = 64,
                     bands: int = 16, seed: int = 0) -> np.ndarray:
    """A group id per text: equal ids are exact or near duplicates.

    Exact: equal :func:`normalise_text`. Near: MinHash LSH over 5-character
    shingles of the normalised text proposes candidate pairs, kept when their
    real shingle Jaccard similarity is at least ``threshold``.
    """
    norm = [normalise_text(t) for t in texts]
    parent = list(range(len(norm)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first_seen: dict[str, int] = {}
    for i, t in enumerate(norm):
        if t in first_seen:
            union(first_seen[t], i)
        else:
            first_seen[t] = i
    reps = list(first_seen.values())
    sh = [_shingles(norm[i]) for i in reps]
    if len(reps) > 1:
        sig = _minhash(sh, num_perm, seed)
        rows = num_perm // bands
        candidates: set[tuple[int, int]] = set()
        for band in range(bands):
            buckets: dict[bytes, list[int]] = {}
            for j in range(len(reps)):
                if sh[j]:
                    buckets.setdefault(sig[j, band * rows:(band + 1) * rows].tobytes(), []).append(j)
            for members in buckets.values():
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        candidates.add((members[x], members[y]))
        for x, y in candidates:
            inter = len(sh[x] & sh[y])
            if inter and inter / len(sh[x] | sh[y]) >= threshold:
                union(reps[x], reps[y])
    return np.array([find(i) for i in range(len(norm))])


def dedupe_frame(df: pd.DataFrame, threshold: float = 0.8) -> pd.DataFrame:
    """Keep the earliest post of each group of exact or near-duplicate texts."""
    if df.empty:
        return df
    ordered = df.sort_values(["created_at", "source", "id"], kind="stable")
    groups = duplicate_groups(list(ordered["text"]), threshold)
    keep = ~pd.Series(groups).duplicated().to_numpy()
    out = ordered[keep].sort_index()
    log.info("dedupe dropped %d of %d posts", len(df) - len(out), len(df))
    return out


# --------------------------------------------------------------------- splits
def parse_split(spec: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> fractions for train, validation, test (summing to 1)."""
    try:
        parts = tuple(float(x) for x in spec.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6 or parts[0] == 0:
        raise ExportError(
            f"--split {spec!r} must be three non-negative fractions for train,validation,test "
            "that sum to 1 with train > 0, e.g. 0.8,0.1,0.1"
        )
    return parts  # type: ignore[return-value]


def assign_splits(df: pd.DataFrame, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  *, group_cols: Sequence[str] = ("source", "thread_id"), label_col: str = "label") -> pd.Series:
    """A split name per row, stratified by label, every thread inside one split.

    Greedy group allocation: threads are shuffled (``seed``), taken largest
    first, and each goes to the split whose per-label shortfall against its
    target share it fills most. Rows without a thread id are their own group.
    """
    if df.empty:
        return pd.Series([], index=df.index, dtype=object)
    fr = np.asarray(fractions, dtype=float)
    names = SPLIT_NAMES[: len(fr)]
    parts = [df[c].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
             for c in group_cols]
    thread = parts[0].str.cat(parts[1:], sep="\x1f")
    no_thread = parts[-1] == ""
    group = thread.where(~no_thread, "\x1e" + df["source"].astype(str) + "\x1f" + df["id"].astype(str))
    labels = df[label_col].astype(str)
    counts = pd.crosstab(group, labels)  # groups x labels
    rng = np.random.default_rng(seed)
    order = counts.index.to_numpy()[rng.permutation(len(counts))]
    sizes = counts.loc[order].sum(axis=1).to_numpy()
    order = order[np.argsort(-sizes, kind="stable")]
    target = fr[:, None] * counts.sum(axis=0).to_numpy()[None, :]  # splits x labels
    current = np.zeros_like(target)
    assigned: dict[str, str] = {}
    for g in order:
        c = counts.loc[g].to_numpy()
        need = np.where(target > 0, (target - current) / np.maximum(target, 1e-9), -np.inf)
        score = (need * (c[None, :] > 0)).sum(axis=1) / max((c > 0).sum(), 1)
        score = np.where(fr > 0, score, -np.inf)
        best = np.flatnonzero(score == score.max())
        s = int(rng.choice(best))
        current[s] += c
        assigned[g] = names[s]
    return group.map(assigned)


# ------------------------------------------------------------------- privacy
def hash_authors(authors: pd.Series, salt: str | None = None) -> pd.Series:
    """Salted SHA-256 of each author (16 hex chars); None stays None.

    Without ``salt`` a random one is drawn and kept nowhere, so the hashes
    link posts by the same author inside this export and cannot be reversed
    by hashing guessed names.
    """
    salt = salt if salt is not None else secrets.token_hex(16)
    key = salt.encode()
    return authors.map(
        lambda a: None if a is None or (isinstance(a, float) and np.isnan(a))
        else hashlib.sha256(key + b"\x00" + str(a).encode()).hexdigest()[:16]
    )


# ---------------------------------------------------------------- CSV safety
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """Prefix ``'`` to a string a spreadsheet would read as a formula (= + - @ tab CR)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _flat_for_text_formats(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in ("created_at",):
        if col in out:
            out[col] = out[col].map(lambda t: t.isoformat().replace("+00:00", "Z") if pd.notna(t) else None)
    if "session" in out:
        out["session"] = out["session"].map(lambda d: d.isoformat() if d is not None and pd.notna(d) else None)
    return out


def write_csv(df: pd.DataFrame, path: Path, *, bom: bool = True) -> Path:
    """CSV that opens cleanly in a spreadsheet: lists as JSON, formula-like cells neutralised,
    every field quoted, UTF-8 (with a BOM so Excel reads it as UTF-8)."""
    out = _flat_for_text_formats(df)
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].astype(object).map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
            ).map(neutralise_cell)
    import csv

    out.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8", quoting=csv.QUOTE_NONNUMERIC,
               lineterminator="\r\n")
    return path


def write_jsonl(df: pd.DataFrame, path: Path) -> Path:
    out = _flat_for_text_formats(df)
    with open(path, "w", encoding="utf-8") as fh:
        for rec in out.to_dict(orient="records"):
            fh.write(json.dumps({k: _jsonable(v) for k, v in rec.items()}, ensure_ascii=False) + "\n")
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    df.to_parquet(path, index=False)
    return path


def hf_features(df: pd.DataFrame):
    """The ``datasets.Features`` of an export frame (label as a ClassLabel over LABELS)."""
    import datasets

    f64, s = datasets.Value("float64"), datasets.Value("string")
    known = {
        "source": s, "id": s, "thread_id": s, "created_at": datasets.Value("timestamp[us, tz=UTC]"),
        "session": datasets.Value("date32"), "author": s, "url": s, "text": s,
        "label": datasets.ClassLabel(names=list(LABELS)),
        "p_bullish": f64, "p_bearish": f64, "p_neutral": f64, "confidence": f64,
        "tickers": datasets.List(s),
        "stances": datasets.List({"ticker": s, "label": s, "p_bullish": f64, "p_bearish": f64,
                                  "p_neutral": f64, "via": s}),
        "themes": datasets.List(s), "model_id": s, "user_label": s, "split": s,
    }
    return datasets.Features({c: known[c] for c in df.columns if c in known})


def write_hf(df: pd.DataFrame, folder: Path, *, card: dict[str, Any]) -> list[Path]:
    """A folder ``datasets.load_dataset(folder)`` loads as it is: ``data/<split>.parquet``
    per split plus README.md with YAML front matter (configs, features, splits)."""
    import datasets
    import yaml

    _check_hf_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    for old in (folder / "data").glob("*.parquet"):  # a previous export's splits, which this one replaces
        old.unlink()
    split_col = df["split"] if "split" in df else pd.Series("train", index=df.index)
    body = df.drop(columns=["split"], errors="ignore").copy()
    body["label"] = body["label"].map({name: i for i, name in enumerate(LABELS)})
    if body["label"].isna().any():
        raise ExportError(f"some scores have a label outside {', '.join(LABELS)}; cannot build a ClassLabel")
    body["label"] = body["label"].astype(int)
    features = hf_features(body)
    files, split_infos = [], []
    for name in [n for n in SPLIT_NAMES if (split_col == n).any()]:
        part = body[(split_col == name).to_numpy()].reset_index(drop=True)
        ds = datasets.Dataset.from_pandas(part, features=features, preserve_index=False)
        path = folder / "data" / f"{name}.parquet"
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # datasets' own "Creating parquet" bar for each split is noise here
        try:
            ds.to_parquet(str(path))
        finally:
            if bars:
                datasets.enable_progress_bars()
        files.append(path)
        split_infos.append({"name": name, "num_bytes": path.stat().st_size, "num_examples": len(part)})
    yaml_info = datasets.DatasetInfo(features=features)._to_yaml_dict()
    front = {
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s["name"], "path": f"data/{s['name']}.parquet"} for s in split_infos]}],
        "dataset_info": {**yaml_info, "splits": split_infos},
        "task_categories": ["text-classification"],
        "language": ["en"],
        "tags": ["finance", "sentiment", "crowdpulse"],
    }
    readme = folder / "README.md"
    readme.write_text("---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n"
                      + dataset_card_markdown(card, split_infos), encoding="utf-8")
    files.append(readme)
    return files


HF_CARD_TITLE = "# crowdpulse sentiment export"


def _check_hf_folder(folder: Path) -> None:
    """Refuse a folder that holds anything but an earlier export: nothing of the user's is overwritten."""
    if folder.is_file():
        raise ExportError(f"{folder} is a file; --format hf writes a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    names = {p.name for p in folder.iterdir()}
    readme = folder / "README.md"
    earlier = (names <= {"README.md", "data"} and readme.is_file()
               and HF_CARD_TITLE in readme.read_text(encoding="utf-8", errors="replace"))
    if not earlier:
        raise ExportError(f"{folder} is a folder with other files in it; --format hf needs a new or empty folder "
                          "(or one an earlier crowdpulse export wrote)")


def dataset_card_markdown(card: dict[str, Any], split_infos: list[dict[str, Any]]) -> str:
    """The prose half of the dataset card: model, counts per source, provenance."""
    lines = [
        HF_CARD_TITLE, "",
        "Forum posts scored bullish / bearish / neutral by a transformer classifier (weak labels), "
        "with per-ticker stances and themes, exported by `crowdpulse export`.", "",
        "## Labels", "",
        "`label` is a ClassLabel: " + ", ".join(f"{i} = {n}" for i, n in enumerate(LABELS))
        + ". `p_bullish`, `p_bearish`, `p_neutral` are the model's probabilities; `confidence` is the largest.", "",
        "## Model", "", f"`{card['model_id']}`", "",
        "## Counts", "", "| split | posts |", "|---|---|",
        *[f"| {s['name']} | {s['num_examples']} |" for s in split_infos], "",
        "| source | posts |", "|---|---|",
        *[f"| {src} | {n} |" for src, n in card["sources"].items()], "",
        "## Provenance", "",
        f"- exported at {card['exported_at']} from `{card['database']}`",
        f"- posts created {card['first_post']} to {card['last_post']} (UTC)",
        f"- options: `{json.dumps(card['options'], sort_keys=True, default=str)}`",
        ("- splits are stratified by label and keep every thread inside one split" if len(split_infos) > 1
         else "- one split (train): no --split was given"),
        "", "Post text belongs to its authors and the sites' terms apply; "
        "export with `--no-text` where redistribution of text is not allowed.", "",
    ]
    return "\n".join(lines)


def write_card_json(card: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    return path


# ----------------------------------------------------------------- pipeline
def resolve_format(out: Path, fmt: str | None) -> str:
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        return fmt
    if out.suffix.lower() in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[out.suffix.lower()]
    if out.suffix == "":
        return "hf"
    raise ExportError(
        f"cannot tell the format of {out} from its extension; pass --format with one of {', '.join(FORMATS)}"
    )


def export(
    store: Store,
    out: Path | str,
    *,
    fmt: str | None = None,
    model: str | None = None,
    since: Any = None,
    until: Any = None,
    sources: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
    min_confidence: float | None = None,
    user_labels: bool = False,
    least_confident: int | None = None,
    dedupe: bool = False,
    dedupe_threshold: float = 0.8,
    split: Sequence[float] | str | None = None,
    seed: int = 0,
    hash_authors_: bool = False,
    salt: str | None = None,
    no_text: bool = False,
) -> ExportResult:
    """Select, clean, split and write one export; see ``crowdpulse export --help``."""
    out = Path(out)
    fmt = resolve_format(out, fmt)
    options = {k: v for k, v in dict(
        model=model, since=since, until=until, sources=list(sources or []) or None,
        tickers=list(tickers or []) or None, min_confidence=min_confidence, user_labels=user_labels,
        least_confident=least_confident, dedupe=dedupe, split=split, seed=seed,
        hash_authors=hash_authors_, no_text=no_text).items() if v not in (None, False)}
    if seed < 0:
        raise ExportError(f"--seed must be a whole number of at least 0, not {seed}")
    if salt is not None and not hash_authors_:
        raise ExportError("--salt applies to --hash-authors; add --hash-authors (or drop --salt)")
    if salt is not None and not salt:
        raise ExportError("--salt is empty; an empty salt makes author hashes guessable: give one, or leave it out for a random one")
    if isinstance(split, str):
        split = parse_split(split)
    df = export_frame(store, model=model, since=since, until=until, sources=sources, tickers=tickers,
                      min_confidence=min_confidence, user_labels=user_labels, least_confident=least_confident)
    if df.empty:
        raise ExportError("no scored posts match these filters: nothing to export")
    model_id = df["model_id"].iloc[0]
    before = len(df)
    if dedupe:
        df = dedupe_frame(df, dedupe_threshold)
    if split is not None:
        df = df.assign(split=assign_splits(df, split, seed).to_numpy())
    if hash_authors_:
        df = df.assign(author=hash_authors(df["author"], salt))
    if no_text:
        df = df.drop(columns=["text", "url"])
    card = {
        "model_id": model_id,
        "labels": list(LABELS),
        "rows": len(df),
        "sources": {k: int(v) for k, v in df["source"].value_counts().sort_index().items()},
        "first_post": df["created_at"].min().isoformat(),
        "last_post": df["created_at"].max().isoformat(),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": Path(store.path).name,
        "options": options,
    }
    splits = {k: int(v) for k, v in df["split"].value_counts().items()} if "split" in df else {"all": len(df)}
    files: list[Path]
    if fmt != "hf":
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        files = [write_csv(df, out)]
    elif fmt == "jsonl":
        files = [write_jsonl(df, out)]
    elif fmt == "parquet":
        files = [write_parquet(df, out)]
    elif fmt == "hf":
        files = write_hf(df, out, card=card)
    else:
        from crowdpulse.labelstudio import write_tasks

        files = [write_tasks(df, out)]
    if fmt in ("csv", "jsonl", "parquet"):
        files.append(write_card_json({**card, "splits": splits},
                                     out.with_name(out.name + ".card.json")))
    log.info("exported %d posts to %s", len(df), out)
    return ExportResult(path=out, format=fmt, model_id=model_id, rows=len(df), splits=splits,
                        dropped_duplicates=before - len(df), files=files)


# ------------------------------------------------------------ human labels
def labeled_training_frame(store: Store, *, origin: str | None = None) -> pd.DataFrame:
    """Human labels from the ``labels`` table as a training set.

    Returns ``[source, post_id, text, label, n_annotators]``, one row per
    post: the majority label among its annotators (ties broken by the most
    recent annotation). ``origin`` (e.g. ``"label-studio"``) restricts which
    labels count. Posts that are gone or have no text are left out.
    """
    where, params = "", []
    if origin is not None:
        where, params = "WHERE l.origin = ?", [origin]
    raw = store.query(
        f"""SELECT l.source, l.post_id, l.label, l.labeled_at, p.title, p.body
            FROM labels l JOIN posts p ON p.source = l.source AND p.id = l.post_id {where}
            ORDER BY l.source, l.post_id, l.labeled_at""",
        params,
    )
    cols = ["source", "post_id", "text", "label", "n_annotators"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    raw = raw[raw["label"].isin(LABELS)]
    rows = []
    for (src, pid), g in raw.groupby(["source", "post_id"], sort=True):
        counts = g["label"].value_counts()
        top = counts[counts == counts.max()].index
        label = g[g["label"].isin(top)].iloc[-1]["label"] if len(top) > 1 else top[0]
        text = _text(g["title"].iloc[0], g["body"].iloc[0])
        if text:
            rows.append((src, pid, text, label, len(g)))
    return pd.DataFrame(rows, columns=cols)


def labels_provenance(frame: pd.DataFrame, origin: str | None = None) -> dict[str, Any]:
    """What a model card should record about a :func:`labeled_training_frame` it was trained on."""
    return {
        "training_data": "crowdpulse labels table" + (f" (origin={origin})" if origin else ""),
        "labeled_posts": int(len(frame)),
        "label_counts": {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()},
        "sources": {k: int(v) for k, v in frame["source"].value_counts().sort_index().items()},
    }
