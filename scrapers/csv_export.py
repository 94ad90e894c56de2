"""Read CSV exports of forum posts (Kaggle/GitHub Reddit dumps and the like) into Posts.

The caller names the columns (:class:`CsvColumns`); the file is read in chunks with pandas,
every value as text, so a large export never sits in memory whole. Time columns may hold
unix seconds (int, float or string), ISO-8601 timestamps or plain dates.

Day precision: some exports only say on which day a post was *seen* (a daily snapshot).
Such a post could have been written at any time up to the end of that day, so it is dated
23:59:59 UTC of that day with ``time_precision="day"``. That places it after the day's
16:00 New York close, i.e. in the next trading session: later than the truth at worst,
never earlier (no look-ahead bias).
"""
from __future__ import annotations

import codecs
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

import pandas as pd

from scrapers.errors import ScraperError
from scrapers.records import Post
from scrapers.text import clean_text

log = logging.getLogger(__name__)

PRECISIONS = ("exact", "day")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^-?\d+(\.\d*)?$")
_PERMALINK = re.compile(r"/comments/([a-z0-9]+)/", re.IGNORECASE)


class CsvExportError(ScraperError):
    """A CSV export that cannot be read as asked (missing column, bad time values)."""


@dataclass(frozen=True)
class CsvColumns:
    """Which column holds what. ``text`` and ``time`` are required, the rest optional."""

    text: str
    time: str
    id: str | None = None
    thread: str | None = None
    parent: str | None = None
    author: str | None = None
    score: str | None = None
    title: str | None = None
    url: str | None = None

    def named(self) -> dict[str, str]:
        """{role: column} for the roles that name a column."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass
class CsvStats:
    """What a read found: rows seen, posts made, rows skipped and why."""

    path: str
    rows: int = 0
    posts: int = 0
    empty: int = 0
    bad_time: int = 0
    bad_time_rows: list[int] = field(default_factory=list)
    precision: str | None = None


def check_encoding(encoding: str) -> str:
    """``encoding`` when Python knows it, else one clear error."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CsvExportError(f"--encoding {encoding!r} is not an encoding Python knows, e.g. utf-8, cp1252, latin-1") from None
    return encoding


def not_text_error(path: str | Path, encoding: str) -> CsvExportError:
    """The error for a file that does not decode as ``encoding``: where the first bad byte is, and
    what to do (the file is scanned for it only once reading it has failed)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:  # exc.object: the bytes held back from the last block, then this one
                held = len(exc.object) - len(block)
                line += block.count(b"\n", 0, max(0, exc.start - held))
                return CsvExportError(f"{path} is not {_name(encoding)} text: byte 0x{exc.object[exc.start]:02x} "
                                      f"on line {line}; name its encoding with --encoding (e.g. --encoding cp1252)")
            line += block.count(b"\n")
    return CsvExportError(f"{path} is not {_name(encoding)} text; name its encoding with --encoding (e.g. --encoding cp1252)")


def _name(encoding: str) -> str:
    return "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding


def csv_header(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The column names of a CSV file."""
    try:
        return list(pd.read_csv(path, nrows=0, encoding=encoding).columns)
    except FileNotFoundError:
        raise
    except UnicodeDecodeError:
        raise not_text_error(path, encoding) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, IsADirectoryError) as exc:
        raise CsvExportError(f"{path} cannot be read as CSV: {str(exc).splitlines()[0]}") from None


def check_columns(path: str | Path, columns: CsvColumns, encoding: str = "utf-8") -> list[str]:
    """The header, after checking every named column is in it (else one clear error)."""
    for role in ("text", "time"):
        if not getattr(columns, role):
            raise CsvExportError(f"--{role}-col must name a column of {path}")
    header = csv_header(path, encoding)
    for role, col in columns.named().items():
        if col not in header:
            option = f"--{role}-col"
            raise CsvExportError(
                f"{path} has no column {col!r} (given as {option}); its columns are: "
                + ", ".join(repr(c) for c in header)
            )
    return header


def parse_times(values: pd.Series, precision: str | None = None) -> tuple[pd.Series, str]:
    """Text values -> tz-aware UTC timestamps (NaT where unreadable), and the precision used.

    Unix seconds (or milliseconds), ISO timestamps and dates are recognised. With
    ``precision=None`` the values decide: all plain dates -> ``"day"``, else ``"exact"``.
    With ``"day"`` every value is reduced to its UTC date and dated 23:59:59 of that day.
    """
    if precision is not None and precision not in PRECISIONS:
        raise CsvExportError(f"time precision {precision!r} is not one of: {', '.join(PRECISIONS)}")
    text = values.astype("string").str.strip()
    present = text.dropna()
    present = present[present != ""]
    if precision is None:
        precision = "day" if len(present) and present.str.fullmatch(_DATE_ONLY.pattern).all() else "exact"
    numeric = text.str.fullmatch(_NUMBER.pattern).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if numeric.any():
        seconds = pd.to_numeric(text[numeric], errors="coerce")
        seconds = seconds.where(seconds < 1e11, seconds / 1000.0)  # milliseconds
        out[numeric] = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
    rest = ~numeric & text.notna() & (text != "")
    if rest.any():
        out[rest] = pd.to_datetime(text[rest], utc=True, errors="coerce", format="mixed")
    if precision == "day":
        out = out.dt.floor("D") + pd.Timedelta(hours=23, minutes=59, seconds=59)
    return out, precision


def stable_id(source: str, text: str, created: datetime | None) -> str:
    """An id for rows that have none: a hash of (source, text, time), the same on every run."""
    key = f"{source}\x1f{text}\x1f{created.isoformat() if created is not None else ''}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def _thread_value(value: str | None) -> str | None:
    """A thread id; a Reddit permalink yields the id in it."""
    if not value:
        return None
    m = _PERMALINK.search(value)
    return m.group(1) if m else _strip_prefix(value)


def _strip_prefix(value: str | None) -> str | None:
    if not value:
        return None
    return value[3:] if len(value) > 3 and value[0] == "t" and value[1].isdigit() and value[2] == "_" else value


def _url(value: str | None) -> str | None:
    """A Reddit permalink (``/r/...``) made absolute; anything else unchanged."""
    if value and value.startswith("/r/"):
        return "https://www.reddit.com" + value
    return value


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _cell(row: dict, col: str | None) -> str | None:
    if not col:
        return None
    value = row.get(col)
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    value = str(value)
    return value if value.strip() else None


def read_csv_export(path: str | Path, columns: CsvColumns, source: str = "csv",
                    precision: str | None = None, stats: CsvStats | None = None,
                    chunksize: int = 20_000, encoding: str = "utf-8") -> Iterator[list[Post]]:
    """Stream a CSV export as lists of Posts (one per chunk of rows).

    Rows with neither text nor title are skipped (``stats.empty``); rows whose time
    cannot be read are skipped and counted (``stats.bad_time``). Without an id column
    the id is :func:`stable_id` of (source, text, time). A byte that is not ``encoding``
    text stops the read with a :class:`CsvExportError` naming its line (the chunks before
    it were yielded).
    """
    if not source or not re.fullmatch(r"[A-Za-z0-9_.\-]+", source):
        raise CsvExportError(f"source name {source!r} is not valid: use letters, digits, '.', '-' or '_'")
    path = Path(path)
    check_encoding(encoding)
    check_columns(path, columns, encoding)
    stats = stats if stats is not None else CsvStats(str(path))
    used = list(dict.fromkeys(columns.named().values()))
    reader = pd.read_csv(path, usecols=used, dtype=str, keep_default_na=False, chunksize=chunksize,
                         encoding=encoding)
    # The first chunk fixes the precision, so one file never mixes two.
    for n_chunk, chunk in enumerate(_decoded(reader, path, encoding)):
        if n_chunk == 0 and columns.score:
            given = [v for v in chunk[columns.score] if v.strip()]
            if given and all(_int(v) is None for v in given):
                raise CsvExportError(f"{path}: column {columns.score!r} (given as --score-col) holds no numbers, "
                                     f"e.g. {given[0][:40]!r}")
        times, precision = parse_times(chunk[columns.time], precision)
        stats.precision = precision
        posts = []
        for row, created in zip(chunk.to_dict("records"), times):
            stats.rows += 1
            post = _row_to_post(row, created, columns, source, precision, stats, stats.rows)
            if post is not None:
                posts.append(post)
        stats.posts += len(posts)
        yield posts


def _decoded(reader: Iterator[pd.DataFrame], path: Path, encoding: str) -> Iterator[pd.DataFrame]:
    """The reader's chunks; a decoding error becomes one line naming the bad byte's line."""
    try:
        yield from reader
    except UnicodeDecodeError:
        raise not_text_error(path, encoding) from None


def _row_to_post(row: dict, created: pd.Timestamp, columns: CsvColumns, source: str, precision: str,
                 stats: CsvStats, line: int) -> Post | None:
    body = clean_text(_cell(row, columns.text), drop_quotes=False)
    title = (clean_text(_cell(row, columns.title), drop_quotes=False) or None) if columns.title else None
    if not body and not title:
        stats.empty += 1
        return None
    if created is None or pd.isna(created):
        stats.bad_time += 1
        if len(stats.bad_time_rows) < 5:
            stats.bad_time_rows.append(line)
            log.warning("%s data row %d: time %r is not a date, timestamp or unix seconds; skipped",
                        stats.path, line, _cell(row, columns.time))
        return None
    created_at = created.to_pydatetime()
    post_id = _strip_prefix(_cell(row, columns.id)) or stable_id(source, f"{title or ''}\n{body}", created_at)
    thread_id = _thread_value(_cell(row, columns.thread)) or post_id
    parent_id = _strip_prefix(_cell(row, columns.parent))
    return Post(
        source=source, id=post_id, thread_id=thread_id,
        parent_id=parent_id if parent_id != post_id else None,
        depth=0 if thread_id == post_id else None,
        author=_cell(row, columns.author), created_at=created_at, title=title, body=body,
        score=_int(_cell(row, columns.score)), url=_url(_cell(row, columns.url)),
        time_precision=precision,
    )
