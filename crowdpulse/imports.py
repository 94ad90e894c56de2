"""Bulk history into the store: Reddit archive dumps and CSV exports, in committed batches.

The readers (:mod:`scrapers.reddit_dump`, :mod:`scrapers.csv_export`) stream Posts; this
module upserts them ``batch_size`` at a time, each batch its own transaction, so an
interrupted or truncated import keeps everything read before the stop, and importing the
same file twice stores nothing twice. Each call is recorded in the ``runs`` table.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                           TransferSpeedColumn)

from crowdpulse.config import ScoreSettings
from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import Store, posts_frame
from scrapers.csv_export import CsvColumns, CsvStats, read_csv_export
from scrapers.reddit_dump import DumpFilter, DumpStats, batched, read_dump

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000


@dataclass
class ImportResult:
    """What an import did: per-file counters, rows inserted/updated, and the run id."""

    run_id: str
    files: list[Any] = field(default_factory=list)  # DumpStats or CsvStats
    inserted: int = 0
    updated: int = 0
    repaired: int = 0  # stored with U+FFFD for a lone surrogate
    duplicates: int = 0  # posts repeating the id of an earlier row of the same file (stored once, the last wins)

    @property
    def stored(self) -> int:
        return self.inserted + self.updated

    def problems(self) -> list[str]:
        """One line per file that did not read to its end."""
        return [m for m in (getattr(f, "message", lambda: None)() for f in self.files) if m]

    def counts(self) -> dict[str, Any]:
        return {"inserted": self.inserted, "updated": self.updated, "repaired": self.repaired,
                "duplicates": self.duplicates, "files": [vars(f) for f in self.files]}


def _check_files(paths: Sequence[str | Path], folder_hint: str = "give dump files (e.g. {}/RC_2021-01.zst or a shell glob)") -> list[Path]:
    """``paths`` as Paths, each an existing file; ``folder_hint`` says what to give instead of a folder."""
    if not paths:
        raise CrowdpulseError("no files given: name one or more dump files, e.g. RC_2021-01.zst")
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise CrowdpulseError(f"no such file: {p}")
        if p.is_dir():
            raise CrowdpulseError(f"{p} is a folder; {folder_hint.format(p)}")
        out.append(p)
    return out


def _progress(show: bool) -> Progress | nullcontext:
    if not show:
        return nullcontext()
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TextColumn("{task.fields[kept]:>10,} kept"), TimeElapsedColumn(), transient=False,
    )


def import_reddit_dumps(store: Store, paths: Sequence[str | Path], filt: DumpFilter | None = None,
                        batch_size: int = BATCH_SIZE, progress: bool = True,
                        compute_depth: bool = True) -> ImportResult:
    """Stream each dump file into ``store.posts``; returns the counts.

    The progress bar counts compressed bytes read. A truncated file stops at its last
    whole line, its rows stay stored and :meth:`ImportResult.problems` says so; the
    remaining files are still imported.
    """
    files = _check_files(paths)
    filt = filt or DumpFilter()
    result = ImportResult(run_id=f"import-dump-{uuid.uuid4().hex[:12]}")
    depths: dict[str, int] | None = {} if compute_depth else None
    config = {"files": [str(p) for p in files], "subreddits": sorted(filt.subreddits), "match": filt.match,
              "since": filt.since, "until": filt.until}
    with store.recorded_run(result.run_id, "import reddit-dump", config, result.counts) as run, \
            _progress(progress) as bar:
        for path in files:
            stats = DumpStats(str(path))
            result.files.append(stats)
            task = bar.add_task(path.name, total=path.stat().st_size, kept=0) if bar else None

            def on_block(s: DumpStats, task: Any = task) -> None:
                if bar:
                    bar.update(task, completed=s.compressed_bytes, kept=s.kept)

            posts = read_dump(path, filt, stats, depths=depths, on_block=on_block)
            for batch in batched(posts, batch_size):
                _store(store, batch, result)  # no file-wide set of ids: a dump is too big; repeats across batches update
            on_block(stats)
            log.info("%s: %d lines, %d kept, %d corrupt%s", path, stats.lines, stats.kept,
                     stats.corrupt, " (truncated)" if stats.truncated else "")
        run.status = "partial" if result.problems() else "ok"
    return result


def stage_reddit_dumps(paths: Sequence[str | Path], filt: DumpFilter, folder: Path, batch_size: int = BATCH_SIZE,
                       progress: bool = True) -> list[DumpStats]:
    """Stream the dumps into Parquet files ``folder/part-NNNNN.parquet`` (the posts table's columns and
    ``seq``, the order read) instead of the database; memory holds one batch. Returns per-file counts."""
    from datetime import datetime, timezone

    from crowdpulse.shards import write_parquet

    files = _check_files(paths)
    depths: dict[str, int] = {}
    stats_list, seq, part = [], 0, 0
    folder.mkdir(parents=True, exist_ok=True)
    with _progress(progress) as bar:
        for path in files:
            stats = DumpStats(str(path))
            stats_list.append(stats)
            task = bar.add_task(path.name, total=path.stat().st_size, kept=0) if bar else None

            def on_block(s: DumpStats, task: Any = task) -> None:
                if bar:
                    bar.update(task, completed=s.compressed_bytes, kept=s.kept)

            for batch in batched(read_dump(path, filt, stats, depths=depths, on_block=on_block), batch_size):
                frame = posts_frame(batch).assign(fetched_at=datetime.now(timezone.utc).replace(tzinfo=None))
                write_parquet(frame.assign(seq=range(seq, seq + len(frame))), folder / f"part-{part:05d}.parquet")
                seq, part = seq + len(frame), part + 1
            on_block(stats)
            log.info("%s: %d lines, %d kept, %d corrupt%s (staged)", path, stats.lines, stats.kept,
                     stats.corrupt, " (truncated)" if stats.truncated else "")
    return stats_list


def import_and_score_reddit_dumps(store: Store, paths: Sequence[str | Path], filt: DumpFilter, spec: str,
                                  settings: ScoreSettings, batch_size: int = BATCH_SIZE, progress: bool = True,
                                  verbose: bool = False) -> tuple[ImportResult, dict[str, Any]]:
    """Import the dumps and score what they bring (and any other unscored post) with ``settings.engine``.

    Local: :func:`import_reddit_dumps`, then :func:`crowdpulse.scoring.score_store`. Ray: the dumps are
    streamed into staged Parquet files, not into the database; shards of whole threads go to Ray, and
    each shard's posts are upserted with their scores in one transaction. Both store the same rows.
    Returns the import's counts and the scoring's.
    """
    if settings.engine == "local":
        from crowdpulse.scoring import score_store
        from models import load_model

        model = load_model(spec)
        result = import_reddit_dumps(store, paths, filt, batch_size=batch_size, progress=progress)
        return result, score_store(store, model, batch_size=settings.batch_size, progress=progress)
    from crowdpulse.ray_engine import (model_id_for, new_counts, owner_of, require_ray, run_shards, score_store_ray,
                                       shards_root)
    from crowdpulse.shards import remove_runs, run_folder

    require_ray()
    files = _check_files(paths)
    model_id = model_id_for(spec)
    root = shards_root(store, settings)
    remove_runs(root, owner_of(store))
    result = ImportResult(run_id=f"import-dump-{uuid.uuid4().hex[:12]}")
    counts = new_counts(model_id)
    config = {"files": [str(p) for p in files], "subreddits": sorted(filt.subreddits), "match": filt.match,
              "since": filt.since, "until": filt.until, "score": {"engine": "ray", "model_id": model_id}}
    staging = run_folder(root, f"stage-{uuid.uuid4().hex[:12]}", owner_of(store))
    try:
        with store.recorded_run(result.run_id, "import reddit-dump", config, result.counts) as run:
            result.files = stage_reddit_dumps(files, filt, staging, batch_size, progress)
            if any(staging.glob("part-*.parquet")):
                run_shards(store, lambda: store.staged_threads(str(staging / "part-*.parquet"), model_id), spec,
                           model_id, settings, store_posts=True, progress=progress, verbose=verbose, counts=counts)
            result.inserted, result.updated = counts["posts_inserted"], counts["posts_updated"]
            run.status = "partial" if result.problems() else "ok"
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    rest = score_store_ray(store, spec, settings, progress=progress, verbose=verbose)  # outside these threads
    for key in ("posts", "scores", "stances", "themes", "batches", "shards"):
        counts[key] += rest[key]
    return result, counts


def import_csv(store: Store, path: str | Path, columns: CsvColumns, source: str = "csv",
               precision: str | None = None, progress: bool = True,
               chunksize: int = 20_000, encoding: str = "utf-8") -> ImportResult:
    """Read one CSV export (text in ``encoding``) into ``store.posts``, one committed transaction per chunk."""
    (path,) = _check_files([path], "give a CSV file")
    result = ImportResult(run_id=f"import-csv-{uuid.uuid4().hex[:12]}")
    stats = CsvStats(str(path))
    result.files.append(stats)
    config = {"file": str(path), "columns": columns.named(), "source": source, "precision": precision,
              "encoding": encoding}
    with store.recorded_run(result.run_id, "import csv", config, result.counts), (
            _progress(False) if not progress else Progress(
                TextColumn("[bold]{task.description}"), TextColumn("{task.completed:,} rows"),
                TextColumn("{task.fields[kept]:,} stored"), TimeElapsedColumn())) as bar:
        task = bar.add_task(path.name, total=None, kept=0) if bar else None
        seen: set[str] = set()
        for posts in read_csv_export(path, columns, source=source, precision=precision,
                                     stats=stats, chunksize=chunksize, encoding=encoding):
            _store(store, posts, result, seen)
            if bar:
                bar.update(task, completed=stats.rows, kept=stats.posts)
    return result


def _store(store: Store, posts: list, result: ImportResult, seen: set[str] | None = None) -> None:
    """Upsert one batch and count it so that the counts add up: every post is new, updated, or a
    duplicate of an earlier post of the batch (or, given ``seen``, the ids of the file so far)."""
    if not posts:
        return
    ids = {p.id for p in posts}  # one file, one source: the id is the key
    repeats = len(posts) - len(ids)
    earlier = len(ids & seen) if seen is not None else 0  # stored by an earlier batch of this file
    counts = store.upsert_posts(posts)
    result.inserted += counts.inserted
    result.updated += counts.updated - earlier
    result.duplicates += repeats + earlier
    result.repaired += counts.repaired
    if seen is not None:
        seen |= ids


def parse_bound(value: str | None, option: str, end: bool = False):
    """A ``--since``/``--until`` value as a tz-aware UTC datetime.

    Dates (``2021-01-31``) and ISO timestamps are accepted (naive means UTC). With
    ``end=True`` a plain date means the end of that day: the bound is the next midnight.
    """
    from datetime import datetime, timedelta, timezone

    if value is None or value == "":
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CrowdpulseError(
            f"{option} {value!r} is not a date or timestamp: use YYYY-MM-DD or an ISO time like 2021-01-31T16:00:00Z"
        ) from None
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    if end and len(text) == 10:
        dt += timedelta(days=1)
    return dt
