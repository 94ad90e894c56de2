"""Parquet shards: posts cut into work units of whole threads, and the files results come back in.

A shard holds the posts to score (``to_score`` true) and the other posts of their threads
(``to_score`` false), so a reply that names no ticker finds the parent or thread root it inherits
from in its own shard, exactly as the local engine finds it in the database
(:func:`crowdpulse.scoring.thread_context`). A thread is never cut in two; a shard closes at the
first thread boundary after it holds ``size`` posts to score (or ``ROW_LIMIT`` x ``size`` rows in
all). Posts without a thread id are each a thread of their own.

Every file is written under a temporary name and renamed, so a killed writer never leaves a
half-written shard that a reader could take for a whole one.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: A shard also closes when it holds this many times ``size`` rows in all (context and posts to store).
ROW_LIMIT = 8
#: The file that marks a folder as crowdpulse's own (only such folders are ever deleted).
MARKER = ".crowdpulse-shards"


@dataclass(frozen=True)
class Shard:
    """One shard file: its path, rows in all, and posts to score."""

    path: Path
    rows: int
    to_score: int


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (zstd Parquet) through a temporary file and a rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def _thread_starts(frame: pd.DataFrame) -> list[int]:
    """Row positions where a new thread begins in a thread-ordered frame (0 first; every post
    without a thread id begins its own)."""
    source = frame["source"].astype(str)
    thread = frame["thread_id"]
    new = (source != source.shift()) | (thread != thread.shift()) | thread.isna()
    starts = [i for i, flag in enumerate(new.to_numpy()) if flag]
    return starts or [0]


def cut_threads(frames: Iterable[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Regroup a thread-ordered stream of rows (column ``to_score``) into shards of whole threads
    holding at least ``size`` posts to score (the last one possibly fewer)."""
    if size < 1:
        raise ValueError(f"shard size must be at least 1, got {size}")
    pending: list[pd.DataFrame] = []
    held = rows = 0
    for frame in frames:
        if frame.empty:
            continue
        frame = frame.reset_index(drop=True)
        starts = _thread_starts(frame)
        if pending and _same_thread(pending[-1], frame):
            starts = starts[1:]  # the frame opens with more of the thread the last one ended in
        ends = starts[1:] + [len(frame)]
        lead = frame.iloc[:starts[0] if starts else len(frame)]
        held, rows = held + int(lead["to_score"].sum()), rows + len(lead)
        cut = 0
        for begin, end in zip(starts, ends):
            if held >= size or rows >= ROW_LIMIT * size:
                yield pd.concat([*pending, frame.iloc[cut:begin]], ignore_index=True)
                pending, held, rows, cut = [], 0, 0, begin
            part = frame.iloc[begin:end]
            held, rows = held + int(part["to_score"].sum()), rows + len(part)
        pending.append(frame.iloc[cut:])
    if pending:
        last = pd.concat(pending, ignore_index=True)
        if len(last):
            yield last


def _same_thread(before: pd.DataFrame, after: pd.DataFrame) -> bool:
    a, b = before.iloc[-1], after.iloc[0]
    return (not pd.isna(a["thread_id"]) and str(a["source"]) == str(b["source"])
            and a["thread_id"] == b["thread_id"])


def write_shards(frames: Iterable[pd.DataFrame], folder: Path, size: int, prefix: str = "posts") -> list[Shard]:
    """Cut a thread-ordered stream into shard files ``folder/prefix-00000.parquet``...; returns them in order."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, shard in enumerate(cut_threads(frames, size)):
        path = write_parquet(shard, folder / f"{prefix}-{n:05d}.parquet")
        out.append(Shard(path, len(shard), int(shard["to_score"].sum())))
    return out


def run_folder(root: Path, name: str, owner: str) -> Path:
    """A fresh folder ``root/name`` for one run's shards, marked as made for the database ``owner``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=False)
    (folder / MARKER).write_text(owner, encoding="utf-8")
    return folder


def remove_runs(root: Path, owner: str) -> list[Path]:
    """Delete the run folders under ``root`` that crowdpulse made for the database ``owner`` (a killed
    run's leftovers: while a run holds the database's write lock no other can be using them); nothing else."""
    gone = []
    if root.is_dir():
        for folder in root.iterdir():
            marker = folder / MARKER
            if folder.is_dir() and marker.is_file() and marker.read_text(encoding="utf-8") == owner:
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder)
    return gone
