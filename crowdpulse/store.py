"""The embedded DuckDB store: the only module in the project that touches the database.

Every write is an idempotent upsert keyed by the table's natural key, done in a
transaction, so storing the same thread twice stores nothing twice and a run
killed halfway leaves every committed batch intact. DuckDB holds an exclusive
file lock for a read-write connection; a second writer gets
:class:`StoreLockedError` with one clear line.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from scrapers.records import POST_FIELDS, Post

log = logging.getLogger(__name__)

DEFAULT_DB = "crowdpulse.duckdb"
SCHEMA_VERSION = 3

# Each table: (DDL, primary-key columns). Column order is the insert order.
#: Columns an update never blanks: a page that cannot tell a comment's depth (a "continue this thread"
#: page read on its own says None) keeps the depth an earlier page knew.
KEEP_KNOWN: dict[str, tuple[str, ...]] = {"posts": ("depth",)}

TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "posts": (
        """CREATE TABLE IF NOT EXISTS posts (
            source VARCHAR NOT NULL, id VARCHAR NOT NULL, thread_id VARCHAR, parent_id VARCHAR,
            depth INTEGER, author VARCHAR, created_at TIMESTAMP, title VARCHAR, body VARCHAR,
            score BIGINT, url VARCHAR, user_label VARCHAR, lang VARCHAR,
            time_precision VARCHAR DEFAULT 'exact', raw VARCHAR, fetched_at TIMESTAMP,
            PRIMARY KEY (source, id))""",
        ("source", "id"),
    ),
    "crawl_state": (
        """CREATE TABLE IF NOT EXISTS crawl_state (
            source VARCHAR NOT NULL, target VARCHAR NOT NULL, cursor VARCHAR,
            updated_at TIMESTAMP, PRIMARY KEY (source, target))""",
        ("source", "target"),
    ),
    "scores": (
        """CREATE TABLE IF NOT EXISTS scores (
            source VARCHAR NOT NULL, post_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL,
            label VARCHAR, p_bullish DOUBLE, p_bearish DOUBLE, p_neutral DOUBLE,
            scored_at TIMESTAMP, PRIMARY KEY (source, post_id, model_id))""",
        ("source", "post_id", "model_id"),
    ),
    "stances": (
        """CREATE TABLE IF NOT EXISTS stances (
            source VARCHAR NOT NULL, post_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL,
            ticker VARCHAR NOT NULL, label VARCHAR, p_bullish DOUBLE, p_bearish DOUBLE,
            p_neutral DOUBLE, via VARCHAR, PRIMARY KEY (source, post_id, model_id, ticker))""",
        ("source", "post_id", "model_id", "ticker"),
    ),
    "themes": (
        """CREATE TABLE IF NOT EXISTS themes (
            source VARCHAR NOT NULL, post_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL,
            theme VARCHAR NOT NULL, score DOUBLE,
            PRIMARY KEY (source, post_id, model_id, theme))""",
        ("source", "post_id", "model_id", "theme"),
    ),
    "prices": (
        """CREATE TABLE IF NOT EXISTS prices (
            ticker VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE,
            close DOUBLE, adj_close DOUBLE, volume DOUBLE, provider VARCHAR,
            PRIMARY KEY (ticker, date))""",
        ("ticker", "date"),
    ),
    "labels": (
        """CREATE TABLE IF NOT EXISTS labels (
            source VARCHAR NOT NULL, post_id VARCHAR NOT NULL, annotator VARCHAR NOT NULL,
            label VARCHAR NOT NULL, labeled_at TIMESTAMP, origin VARCHAR,
            PRIMARY KEY (source, post_id, annotator))""",
        ("source", "post_id", "annotator"),
    ),
    "runs": (
        """CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR PRIMARY KEY, command VARCHAR, config VARCHAR,
            started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, counts VARCHAR)""",
        ("run_id",),
    ),
}

# Upgrades from an older schema version to the next one. Version 1 had no
# posts.time_precision and no labels table.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "ALTER TABLE posts ADD COLUMN IF NOT EXISTS time_precision VARCHAR DEFAULT 'exact'",
        TABLES["labels"][0],
    ],
    # Theme scores moved to a 0-1 scale (sentiment.themes: (similarity + bonus x hit) / (1 + bonus),
    # the shipped bonus 0.5): a stored score is a detection (similarity > 0), so dividing by 1.5 is exact.
    2: [
        TABLES["themes"][0],
        "UPDATE themes SET score = score / 1.5",
    ],
}


class StoreError(Exception):
    """A problem with the database file, phrased for the user."""


class StoreLockedError(StoreError):
    """Another process holds the database file open for writing."""


class SchemaVersionError(StoreError):
    """The file was written by a newer crowdpulse, or is not a crowdpulse database."""


@dataclass(frozen=True)
class UpsertCount:
    """What an upsert did: rows it added, rows it updated in place, and rows whose text held a lone
    surrogate (stored with U+FFFD in its place, :func:`replace_lone_surrogates`)."""

    inserted: int
    updated: int
    repaired: int = 0


def replace_lone_surrogates(text: str) -> str:
    """``text`` with every unpaired UTF-16 surrogate (half an emoji, as JSON APIs emit ``\\ud83d``
    alone) replaced by U+FFFD; a high+low pair becomes the character it encodes. Such text cannot be
    encoded as UTF-8, so no database or Arrow column can hold it."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _has_lone_surrogate(value: Any) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _repaired_records(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """``rows`` with lone surrogates replaced in every text value (copies of the rows that change),
    and how many rows changed. Records cross into the store here, so one bad character never stops
    a scrape or an import (every rerun would stop at the same record)."""
    repaired = 0
    out = rows
    for i, row in enumerate(rows):
        bad = [k for k, v in row.items() if _has_lone_surrogate(v)]
        if not bad:
            continue
        if out is rows:
            out = list(rows)
        out[i] = {**row, **{k: replace_lone_surrogates(row[k]) for k in bad}}
        repaired += 1
    if repaired:
        log.info("%d row(s) held lone surrogates (broken characters); stored with U+FFFD", repaired)
    return out, repaired


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried, since root ignores mode bits)."""
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _utc_naive(value: Any) -> Any:
    """Store timestamps as naive UTC (DuckDB TIMESTAMP)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _timestamp_column(values: pd.Series, table: str, column: str) -> pd.Series:
    """Values for a TIMESTAMP column as naive UTC: strings with an offset are converted (DuckDB would drop
    the offset), naive strings and datetimes are taken as UTC; anything unreadable is a StoreError."""
    values = values.map(_utc_naive)
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise StoreError(f"{table}.{column}: {values[bad].iloc[0]!r} is not a timestamp")
    return parsed.dt.tz_localize(None)


@dataclass
class RunRecord:
    """What :meth:`Store.recorded_run` writes when the run ends (the body updates both)."""

    run_id: str
    counts: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)
    status: str = "ok"

    def final_counts(self) -> dict[str, Any]:
        return self.counts() if callable(self.counts) else self.counts


class Store:
    """A crowdpulse database file. Open with :meth:`open`; use as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._tx_depth = 0
        self._live_runs: set[str] = set()  # runs this store started and has not ended

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike = DEFAULT_DB, read_only: bool = False) -> Store:
        path = str(path)
        if path != ":memory:":
            folder = Path(path).resolve().parent
            if not folder.exists():
                raise StoreError(f"cannot open database {path}: folder {folder} does not exist")
            if not read_only and not Path(path).exists() and not _writable(folder):
                raise StoreError(f"cannot create database {path}: folder {folder} is not writable")
            if read_only and not Path(path).exists():
                raise StoreError(f"no database at {path}: run a command that writes one first")
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                raise StoreLockedError(
                    f"database {path} is in use by another crowdpulse process; "
                    "wait for it to finish or use another --db"
                ) from None
            if "permission" in msg.lower() or "read-only" in msg.lower():
                raise StoreError(f"cannot write database {path}: permission denied") from None
            raise StoreError(f"cannot open database {path}: {msg.splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {path}: {str(exc).splitlines()[0]}") from None
        store = cls(con, path, read_only)
        try:
            store._ensure_schema()
        except Exception:
            con.close()
            raise
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_schema(self) -> None:
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" not in tables:
            if tables and "posts" not in tables:
                raise SchemaVersionError(f"{self.path} is a DuckDB file but not a crowdpulse database")
            if self.read_only:
                raise SchemaVersionError(f"{self.path} is empty: run a command that writes it first")
            with self.transaction():
                self.con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
                for ddl, _ in TABLES.values():
                    self.con.execute(ddl)
                self._set_version(SCHEMA_VERSION)
            return
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {version}, written by a newer crowdpulse; "
                f"this one reads up to version {SCHEMA_VERSION}: upgrade crowdpulse"
            )
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise SchemaVersionError(
                    f"{self.path} has schema version {version}; open it once read-write to upgrade it to {SCHEMA_VERSION}"
                )
            log.info("upgrading %s from schema %d to %d", self.path, version, SCHEMA_VERSION)
            with self.transaction():
                for v in range(version, SCHEMA_VERSION):
                    for stmt in MIGRATIONS.get(v, []):
                        self.con.execute(stmt)
                for ddl, _ in TABLES.values():
                    self.con.execute(ddl)
                self._set_version(SCHEMA_VERSION)

    def schema_version(self) -> int:
        rows = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        row = rows[0] if rows else None
        if row is None:
            raise SchemaVersionError(f"{self.path} has no schema version: not a crowdpulse database")
        return int(row[0])

    def _set_version(self, version: int) -> None:
        self.con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(version)],
        )

    # ------------------------------------------------------------- transactions
    def transaction(self) -> _Transaction:
        """A transaction; nested uses join the outermost one."""
        return _Transaction(self)

    # ------------------------------------------------------------------ upserts
    def upsert(self, table: str, rows: pd.DataFrame | Sequence[dict[str, Any]]) -> UpsertCount:
        """Insert or update ``rows`` in ``table`` by its key, in one transaction."""
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
        repaired = 0
        if not isinstance(rows, pd.DataFrame):
            rows, repaired = _repaired_records([dict(r) for r in rows])
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        if df.empty:
            return UpsertCount(0, 0)
        types = self.column_types(table)
        missing_keys = [k for k in TABLES[table][1] if k not in df.columns]
        if missing_keys:
            raise StoreError(f"rows for {table} lack key column(s): {', '.join(missing_keys)}")
        cols = [c for c in types if c in df.columns]
        df = df[cols].copy()
        for c in df.columns:
            if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                df[c] = df[c].dt.tz_convert("UTC").dt.tz_localize(None)
            elif types[c].startswith("TIMESTAMP") and not pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = _timestamp_column(df[c], table, c)
            elif df[c].dtype == object:
                df[c] = df[c].map(_utc_naive)
        keys = TABLES[table][1]
        df = df.drop_duplicates(subset=list(keys), keep="last")
        non_keys = [c for c in cols if c not in keys]
        col_list = ", ".join(f'"{c}"' for c in cols)
        if non_keys:
            keep = KEEP_KNOWN.get(table, ())
            sets = ", ".join(f'"{c}" = coalesce(excluded."{c}", {table}."{c}")' if c in keep else f'"{c}" = excluded."{c}"'
                             for c in non_keys)
            conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        else:
            conflict = f"ON CONFLICT ({', '.join(keys)}) DO NOTHING"
        key_match = " AND ".join(f't."{k}" = d."{k}"' for k in keys)
        if self.read_only:
            raise StoreError(f"cannot write to {table}: the database {self.path} is open read-only")
        with self.transaction():
            self.con.register("_upsert_df", df)
            try:
                existing = self.con.execute(
                    f"SELECT count(*) FROM {table} t JOIN _upsert_df d ON {key_match}"
                ).fetchone()[0]
                self.con.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM _upsert_df {conflict}")
            except (duckdb.ConversionException, duckdb.ConstraintException, duckdb.InvalidInputException) as exc:
                raise StoreError(f"cannot write these rows to {table}: {str(exc).splitlines()[0]}") from None
            finally:
                try:
                    self.con.unregister("_upsert_df")
                except duckdb.Error:  # an aborted transaction refuses even this; the cause above is what matters
                    pass
        return UpsertCount(inserted=len(df) - existing, updated=existing, repaired=repaired)

    def upsert_posts(self, posts: Iterable[Post] | pd.DataFrame) -> UpsertCount:
        """Upsert posts; ``repaired`` counts those stored with U+FFFD for a lone surrogate."""
        repaired = 0
        if isinstance(posts, pd.DataFrame):
            df = posts
        else:
            rows, repaired = _repaired_records([p.to_dict() if isinstance(p, Post) else dict(p) for p in posts])
            df = posts_frame(rows)
        if "fetched_at" not in df.columns:
            df = df.assign(fetched_at=datetime.now(timezone.utc).replace(tzinfo=None))
        got = self.upsert("posts", df)
        return UpsertCount(got.inserted, got.updated, repaired)

    def columns(self, table: str) -> list[str]:
        return list(self.column_types(table))

    def column_types(self, table: str) -> dict[str, str]:
        """``{column: DuckDB type}`` of ``table``, in table order."""
        return {r[0]: str(r[1]) for r in self.con.execute(f"DESCRIBE {table}").fetchall()}

    # ------------------------------------------------------------- crawl state
    def get_cursor(self, source: str, target: str) -> Any:
        rows = self.con.execute(
            "SELECT cursor FROM crawl_state WHERE source = ? AND target = ?", [source, target]
        ).fetchall()
        row = rows[0] if rows else None
        return None if row is None or row[0] is None else json.loads(row[0])

    def set_cursor(self, source: str, target: str, cursor: Any) -> None:
        self.upsert(
            "crawl_state",
            [{"source": source, "target": target, "cursor": json.dumps(cursor),
              "updated_at": datetime.now(timezone.utc).replace(tzinfo=None)}],
        )

    def save_page(self, source: str, target: str, posts: Sequence[Post], cursor: Any) -> UpsertCount:
        """Store one page's posts and its crawl cursor in a single transaction."""
        with self.transaction():
            counts = self.upsert_posts(posts) if posts else UpsertCount(0, 0)
            self.set_cursor(source, target, cursor)
        return counts

    # --------------------------------------------------------------------- runs
    def start_run(self, run_id: str, command: str, config: Any = None) -> None:
        self.upsert("runs", [{
            "run_id": run_id, "command": command,
            "config": config if isinstance(config, str) or config is None else json.dumps(config, default=str),
            "started_at": datetime.now(timezone.utc).replace(tzinfo=None), "status": "running",
        }])
        self.claim_run(run_id, command)

    def claim_run(self, run_id: str, command: str) -> None:
        """Take ``run_id`` as this store's live run, and mark the killed runs of the same command
        ``interrupted``: a row that still says ``running`` but was started by no live store is one
        whose process died before it could record the end (kill -9, a power cut), since only one
        process at a time can write the file."""
        self._live_runs.add(run_id)
        live = sorted(self._live_runs)
        marks = ", ".join("?" for _ in live)
        self.con.execute(
            f"UPDATE runs SET status = 'interrupted' WHERE status = 'running' AND command = ? AND run_id NOT IN ({marks})",
            [command, *live],
        )

    def killed_runs(self) -> set[str]:
        """Runs whose row says ``running`` though no live store runs them (see :meth:`claim_run`)."""
        rows = self.con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        return {r[0] for r in rows} - self._live_runs

    def finish_run(self, run_id: str, counts: dict[str, Any], status: str = "ok") -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE run_id = ?",
            [datetime.now(timezone.utc).replace(tzinfo=None), status, json.dumps(counts, default=str), run_id],
        )
        if status != "running":
            self._live_runs.discard(run_id)

    @contextmanager
    def recorded_run(self, run_id: str, command: str, config: Any = None,
                     counts: dict[str, Any] | Callable[[], dict[str, Any]] | None = None) -> Iterator[RunRecord]:
        """Record the work done in the ``with`` body as one row of ``runs``.

        The row says ``running`` at once; at the end it gets ``record.counts`` and how the run
        ended (``counts`` may be a dict the body fills or a function called at the end):
        ``record.status`` as the body left it (``ok`` unless it set e.g. ``partial``),
        ``error`` when the body raised, ``interrupted`` on Ctrl-C or a kill signal. What the body
        stored stays stored; a failure to record the end never hides the body's own error.
        """
        record = RunRecord(run_id, counts if counts is not None else {})
        self.start_run(run_id, command, config)
        try:
            yield record
        except BaseException as exc:
            record.status = "error" if isinstance(exc, Exception) else "interrupted"
            try:
                self.finish_run(run_id, record.final_counts(), status=record.status)
            except Exception:  # the store itself failed: keep the original error
                log.warning("could not record the end of run %s", run_id, exc_info=True)
            raise
        self.finish_run(run_id, record.final_counts(), status=record.status)

    # ------------------------------------------------------------------ queries
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def counts(self) -> dict[str, int]:
        return {t: self.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}

    def posts(self, where: str = "", params: Sequence[Any] | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM posts" + (f" WHERE {where}" if where else "") + " ORDER BY source, created_at, id"
        return self.query(sql, params)

    def unscored_posts(self, model_id: str) -> pd.DataFrame:
        """Posts with text that have no score row for ``model_id`` yet."""
        return self.query(f"SELECT p.* FROM posts p WHERE {_UNSCORED} ORDER BY {THREAD_ORDER}", [model_id])

    def stream(self, sql: str, params: Sequence[Any] | None = None, rows: int = 20_000) -> Iterator[pd.DataFrame]:
        """The result of ``sql`` as DataFrames of at most ``rows`` rows, read as DuckDB produces them (a
        result larger than memory never sits in memory whole). It reads through a cursor of its own, so
        it sees what is committed, and other queries may run while it is being read."""
        cursor = self.con.cursor()
        try:
            relation = cursor.sql(sql, params=list(params or []))
            read = getattr(relation, "to_arrow_reader", None) or relation.record_batch  # duckdb >= 1.4 / older
            for batch in read(rows):
                yield batch.to_pandas()
        finally:
            cursor.close()

    def unscored_threads(self, model_id: str, rows: int = 20_000) -> Iterator[pd.DataFrame]:
        """Every post :meth:`unscored_posts` returns (``to_score`` true) with the other posts of its thread
        (``to_score`` false: the context a reply inherits tickers from), in thread order, streamed."""
        return self.stream(
            f"""WITH todo AS (SELECT p.source, p.id, p.thread_id FROM posts p WHERE {_UNSCORED}),
                threads AS (SELECT DISTINCT source, thread_id FROM todo WHERE thread_id IS NOT NULL)
                SELECT {CONTEXT_COLUMNS}, p.created_at, t.id IS NOT NULL AS to_score
                FROM posts p LEFT JOIN todo t ON t.source = p.source AND t.id = p.id
                WHERE t.id IS NOT NULL OR EXISTS (SELECT 1 FROM threads h WHERE h.source = p.source
                                                  AND h.thread_id = p.thread_id)
                ORDER BY {THREAD_ORDER}""",
            [model_id], rows)

    def staged_threads(self, staged: str, model_id: str, rows: int = 20_000) -> Iterator[pd.DataFrame]:
        """Posts staged as Parquet files (``staged``, a glob; column ``seq`` orders repeats of a post, the last
        wins) with the stored posts of their threads, in thread order, streamed. ``to_store`` marks the staged
        rows; ``to_score`` the posts :meth:`unscored_posts` would return once they are stored."""
        return self.stream(
            f"""WITH staged AS (SELECT * EXCLUDE (seq) FROM read_parquet(?, union_by_name = true)
                                QUALIFY row_number() OVER (PARTITION BY source, id ORDER BY seq DESC) = 1),
                threads AS (SELECT DISTINCT source, thread_id FROM staged WHERE thread_id IS NOT NULL)
                SELECT p.*, TRUE AS to_store, {_UNSCORED} AS to_score FROM staged p
                UNION ALL BY NAME
                SELECT {CONTEXT_COLUMNS}, p.created_at, FALSE AS to_store, {_UNSCORED} AS to_score
                FROM posts p
                WHERE EXISTS (SELECT 1 FROM threads h WHERE h.source = p.source AND h.thread_id = p.thread_id)
                AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.source = p.source AND s.id = p.id)
                ORDER BY {THREAD_ORDER.replace('p.', '')}""",
            [staged, model_id, model_id], rows)

    def read_parquet(self, path: str | os.PathLike) -> pd.DataFrame:
        """A Parquet file (or glob) as DuckDB reads it."""
        return self.query("SELECT * FROM read_parquet(?)", [str(path)])



    def score_coverage(self, model_id: str) -> dict[str, int]:
        """How the posts stand for ``model_id``: ``total``, ``scored`` (a score row), and of the rest
        ``deleted`` ([deleted]/[removed] bodies) and ``no_text``, which scoring skips, and ``unscored``."""
        row = self.con.execute(
            f"""SELECT count(*),
                       count(*) FILTER (WHERE EXISTS ({_SCORED})),
                       count(*) FILTER (WHERE NOT EXISTS ({_SCORED}) AND {_DELETED}),
                       count(*) FILTER (WHERE NOT EXISTS ({_SCORED}) AND NOT ({_DELETED}) AND {_NO_TEXT})
                FROM posts p""",
            [model_id] * 3,
        ).fetchone()
        total, scored, deleted, no_text = (int(v) for v in row)
        return {"total": total, "scored": scored, "deleted": deleted, "no_text": no_text,
                "unscored": total - scored - deleted - no_text}


#: The posts scoring skips, and what "scored" means, as SQL over ``posts p`` (one definition for
#: :meth:`Store.unscored_posts` and :meth:`Store.score_coverage`).
_SCORED = "SELECT 1 FROM scores s WHERE s.source = p.source AND s.post_id = p.id AND s.model_id = ?"
_DELETED = "coalesce(p.body, '') IN ('[deleted]', '[removed]')"
_NO_TEXT = "length(trim(coalesce(p.title, '') || coalesce(p.body, ''))) = 0"
#: SQL: the post ``p`` has text and no score row for the model_id bound at this ``?``.
_UNSCORED = f"(NOT EXISTS ({_SCORED}) AND NOT ({_DELETED}) AND NOT ({_NO_TEXT}))"

#: The order scoring reads posts in: a thread's posts together, oldest first.
THREAD_ORDER = "p.source, p.thread_id, p.created_at, p.id"
#: The posts columns the scorer reads (text, and the links a reply inherits tickers through).
ANALYZE_COLUMNS = ["source", "id", "thread_id", "parent_id", "title", "body"]
CONTEXT_COLUMNS = ", ".join(f"p.{c}" for c in ANALYZE_COLUMNS)



class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        if self.store._tx_depth == 0:
            self.store.con.execute("BEGIN TRANSACTION")
        self.store._tx_depth += 1

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.store._tx_depth -= 1
        if self.store._tx_depth > 0:
            return
        self.store.con.execute("COMMIT" if exc_type is None else "ROLLBACK")


def posts_frame(posts: Iterable[Post]) -> pd.DataFrame:
    """Posts as a DataFrame with the store's columns (timestamps as naive UTC)."""
    rows = [p.to_dict() if isinstance(p, Post) else dict(p) for p in posts]
    df = pd.DataFrame(rows, columns=list(POST_FIELDS))
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None)
    return df
