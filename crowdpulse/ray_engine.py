"""The Ray engine: score Parquet shards on a Ray cluster with the same code the local engine runs.

How a run goes:

1. The driver writes the posts to score as Parquet shards of whole threads, each with the other
   posts of its threads as context (:mod:`crowdpulse.shards`), streamed out of DuckDB
   (:meth:`Store.unscored_threads`) or out of staged dump files (:meth:`Store.staged_threads`).
2. Ray Data runs ``map_batches`` over the shard list with :class:`ShardScorer`, a callable class in
   a fixed pool of actors: each actor loads the model once (``models.load_model(spec)``), uses as
   many threads as it was given CPUs, and per shard sorts the posts by length and calls the same
   :func:`sentiment.analyze.analyze_posts` as the local engine, with the shard's context rows as
   ``context``. It writes the scores, stances and themes as Parquet files and returns their paths.
   The unit of work is a shard, not a Ray Data batch of rows, because a batch of rows may cut a
   thread and lose the context a reply inherits its tickers from.
3. As each shard finishes, the driver reads its result files through DuckDB and upserts them in
   one transaction. A shard is committed whole or not at all; an actor killed mid-shard is
   restarted by Ray and the shard retried (Ray Data's actor pools restart actors and retry their
   tasks without limit), and since every write is an upsert by key a retried shard can never
   store a row twice. A driver killed mid-run keeps every committed shard: the next run finds
   those posts scored and shards only the rest.

With the int8 ONNX backend (the default on CPU) a post's probabilities depend on the post alone
(one row per call), so the results equal the local engine's. ``import ray`` happens only here and
only when the engine is asked for: without the extra, :func:`require_ray` says what to install.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crowdpulse.config import ScoreSettings
from crowdpulse.errors import CrowdpulseError
from crowdpulse.shards import Shard, remove_runs, run_folder, write_parquet, write_shards
from crowdpulse.store import ANALYZE_COLUMNS, Store

log = logging.getLogger(__name__)

INSTALL = "pip install -e '.[ray]'"
RESULT_TABLES = ("scores", "stances", "themes")
#: Object store of the private local cluster: only shard paths and small manifests travel through it.
LOCAL_OBJECT_STORE = 512 * 2**20


def require_ray():
    """The ``ray`` module with Ray Data; a one-line error naming the extra when it is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part the engine needs
    except ImportError:
        raise CrowdpulseError(f"the ray engine needs Ray, an optional extra: {INSTALL}") from None
    return ray


# ------------------------------------------------------------------ the actor side
def score_shard(path: Path, model, encoder, out: Path) -> dict[str, Any]:
    """Score one shard with ``analyze_posts`` and write its three result files into ``out``.

    Returns the manifest the driver commits from: the shard, the posts scored, each table's file and
    row count, the seconds spent scoring and the process that did it.
    """
    from sentiment.analyze import analyze_posts, post_text

    rows = pd.read_parquet(path)
    mask = rows["to_score"].astype(bool)
    todo, context = rows[mask], rows[~mask]
    lengths = [len(post_text(t, b)) for t, b in zip(todo["title"], todo["body"])]
    todo = todo.iloc[np.argsort(lengths, kind="stable")]  # long posts together: the least padding
    started = time.perf_counter()
    result = analyze_posts(todo[ANALYZE_COLUMNS], model, encoder=encoder, context=context[ANALYZE_COLUMNS])
    done: dict[str, Any] = {"shard": str(path), "posts": len(todo), "seconds": time.perf_counter() - started,
                            "pid": os.getpid()}
    out.mkdir(parents=True, exist_ok=True)
    for table in RESULT_TABLES:
        frame = getattr(result, table)
        done[f"{table}_file"] = str(write_parquet(frame, out / f"{path.stem}.{table}.parquet"))
        done[table] = len(frame)
    return done


class ShardScorer:
    """The Ray Data callable class: one model per actor, one shard per call.

    Args:
        spec: the model spec, loaded with ``models.load_model`` in each actor.
        model_id: what the driver expects the spec to load (a model retrained in between is an error).
        threads: inference threads, the CPUs the actor was given.
        out: the folder the result files go to.
    """

    def __init__(self, spec: str, model_id: str, threads: int, out: str) -> None:
        os.environ["CROWDPULSE_THREADS"] = str(threads)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        from models import load_model
        from models.encoder import default_encoder

        self.model = load_model(spec)
        if str(self.model.model_id) != model_id:
            raise CrowdpulseError(f"model {spec!r} loads as {self.model.model_id} on this Ray node, but the "
                                  f"driver scores for {model_id}: install the same model on every node")
        self.encoder = default_encoder()
        self.out = Path(out)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        done = [score_shard(Path(p), self.model, self.encoder, self.out) for p in batch["shard"]]
        return {key: [d[key] for d in done] for key in done[0]}


# ------------------------------------------------------------------ the driver side
@dataclass(frozen=True)
class Plan:
    """How many actors run, and the CPUs and GPUs each one asks for."""

    actors: int
    cpus: int
    gpus: float


def plan(settings: ScoreSettings, node_cpus: list[int], cluster_gpus: float) -> Plan:
    """Actors and resources per actor on a cluster whose nodes have ``node_cpus``.

    Default actors: one per ``gpus_per_actor`` share of the GPUs, else one per 2 CPUs. Each actor
    gets the most CPUs that still lets all of them be placed on the nodes.
    """
    gpus = float(settings.gpus_per_actor or 0)
    total = sum(node_cpus)
    if gpus:
        if cluster_gpus < gpus:
            raise CrowdpulseError(f"--gpus-per-actor {gpus:g}: the Ray cluster has {cluster_gpus:g} GPU(s)")
        actors = settings.actors or max(1, int(cluster_gpus // gpus))
        if actors * gpus > cluster_gpus + 1e-9:
            raise CrowdpulseError(f"{actors} actors x {gpus:g} GPU need {actors * gpus:g} GPUs; "
                                  f"the Ray cluster has {cluster_gpus:g}")
    else:
        actors = settings.actors or max(1, total // 2)
    if actors > total:
        raise CrowdpulseError(f"{actors} actors need a CPU each; the Ray cluster has {total} "
                              "(give fewer --actors or add nodes)")
    cpus = max(c for c in range(1, max(node_cpus) + 1) if sum(n // c for n in node_cpus) >= actors)
    return Plan(actors, cpus, gpus)


@contextmanager
def connected(settings: ScoreSettings, verbose: bool = False) -> Iterator[Any]:
    """Ray, connected: to the cluster at ``settings.address`` (``auto``: the one this machine belongs
    to), or to a private local cluster started for this run. An existing connection is used as it is."""
    ray = require_ray()
    import ray.data

    if not verbose:  # Ray's own notes (token auth, progress bars off, actor restarts) are not the user's
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the driver shows one bar, in posts
    if ray.is_initialized():
        with _native_logs(verbose):
            yield ray
        return
    address = settings.address or "local"
    kwargs: dict[str, Any] = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR}
    if address == "local":
        kwargs.update(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
    with _native_logs(verbose):
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise CrowdpulseError(f"cannot reach the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
        try:
            yield ray
        finally:
            ray.shutdown()


#: A line Ray's C++ core writes to the driver's stderr: ``[2026-12-02 14:14:15,010 E 11039 11039] core_worker.cc:...``
NATIVE_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] ")


@contextmanager
def _native_logs(verbose: bool) -> Iterator[None]:
    """Unless ``verbose``, drop the lines Ray's C++ core writes straight to file descriptor 2 (such as
    its warning that restarted actors need their arguments: Ray Data's own, not the user's to act on);
    everything else written there, the progress bar included, passes through unchanged."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved, (read_end, write_end) = os.dup(2), os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        held = b""
        while chunk := os.read(read_end, 65536):
            held += chunk
            *lines, held = held.split(b"\n")
            for line in lines:
                if not NATIVE_LINE.match(line):
                    os.write(saved, line + b"\n")
            if held and not (held.startswith(b"[") and len(held) < 512):  # a bar redraw, not a log line
                os.write(saved, held)
                held = b""
        if held:
            os.write(saved, held)

    thread = threading.Thread(target=forward, name="ray-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to its end
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)


def cluster_plan(ray, settings: ScoreSettings) -> Plan:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    node_cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    gpus = float(sum(n.get("Resources", {}).get("GPU", 0) for n in nodes))
    if not node_cpus or max(node_cpus) < 1:
        raise CrowdpulseError("the Ray cluster has no CPUs to run scorer actors on")
    return plan(settings, node_cpus, gpus)


def shards_root(store: Store, settings: ScoreSettings) -> Path:
    """Where a run's shards go: ``settings.shards``, else ``DB.ray`` beside the database file."""
    if settings.shards is not None:
        return Path(settings.shards)
    if store.path == ":memory:":
        import tempfile

        return Path(tempfile.gettempdir()) / "crowdpulse-memory.ray"
    return Path(f"{store.path}.ray")


def owner_of(store: Store) -> str:
    """What marks a shard folder as this database's: its resolved path."""
    return store.path if store.path == ":memory:" else str(Path(store.path).resolve())


def model_id_for(spec: str) -> str:
    """The model_id ``spec`` loads as: read from its files where it can be, else by loading it."""
    from models.catalog import model_id_of

    known = model_id_of(spec)
    if known is not None:
        return known
    from models import load_model

    return str(load_model(spec).model_id)


def new_counts(model_id: str) -> dict[str, Any]:
    return {"model_id": model_id, "engine": "ray", "posts": 0, "scores": 0, "stances": 0, "themes": 0,
            "batches": 0, "shards": 0, "repeated": 0, "posts_inserted": 0, "posts_updated": 0}


def score_store_ray(store: Store, spec: str, settings: ScoreSettings, *, progress: bool = True,
                    verbose: bool = False, on_commit: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Score every post without a score row for ``spec``'s model on Ray; returns counts as
    :func:`crowdpulse.scoring.score_store` does (plus shards, actors, repeated)."""
    model_id = model_id_for(spec)
    for stale in remove_runs(shards_root(store, settings), owner_of(store)):
        log.info("removed %s, left by a run that did not finish", stale)
    return run_shards(store, lambda: store.unscored_threads(model_id), spec, model_id, settings,
                      progress=progress, verbose=verbose, on_commit=on_commit)


def run_shards(store: Store, rows: Callable[[], Iterable[pd.DataFrame]], spec: str, model_id: str,
               settings: ScoreSettings, *, store_posts: bool = False, progress: bool = True,
               verbose: bool = False, on_commit: Callable[[dict], None] | None = None,
               counts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Shard ``rows()`` (thread-ordered, with ``to_score``), score the shards on Ray and commit each.

    With ``store_posts`` the rows marked ``to_store`` are upserted into posts with their shard's results.
    """
    counts = counts if counts is not None else new_counts(model_id)
    run_id = f"score-{uuid.uuid4().hex[:12]}"
    folder = run_folder(shards_root(store, settings), run_id, owner_of(store))
    try:
        shards = write_shards(rows(), folder / "posts", settings.batch_size)
        todo = sum(s.to_score for s in shards)
        log.info("%d shard(s), %d posts to score, in %s", len(shards), todo, folder)
        if not shards:
            return counts
        config = {"engine": "ray", "model_id": model_id, "address": settings.address, "posts": todo,
                  "batch_size": settings.batch_size, "shards": len(shards)}
        with store.recorded_run(run_id, "score", config, counts):
            for shard in (s for s in shards if not s.to_score):  # posts to store, nothing to score
                _commit(store, shard, None, store_posts, counts)
            work = [s for s in shards if s.to_score]
            if work:
                _score_on_ray(store, work, spec, model_id, settings, folder / "results", counts,
                              store_posts=store_posts, progress=progress, verbose=verbose, on_commit=on_commit)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.parent.rmdir()  # the shards root, when no other run of this database is left in it
        except OSError:
            pass
    log.info("scored %d posts with %s on Ray: %d stances, %d themes", counts["posts"], model_id,
             counts["stances"], counts["themes"])
    return counts


def _score_on_ray(store: Store, shards: list[Shard], spec: str, model_id: str, settings: ScoreSettings,
                  out: Path, counts: dict[str, Any], *, store_posts: bool, progress: bool, verbose: bool,
                  on_commit: Callable[[dict], None] | None) -> None:
    by_path = {str(s.path): s for s in shards}
    committed: set[str] = set()
    with connected(settings, verbose) as ray:
        chosen = cluster_plan(ray, settings)
        counts.update(actors=chosen.actors, cpus_per_actor=chosen.cpus, gpus_per_actor=chosen.gpus)
        log.info("%d actor(s), %d CPU(s) and %g GPU(s) each", chosen.actors, chosen.cpus, chosen.gpus)
        data = ray.data.from_items([{"shard": str(s.path)} for s in shards]).map_batches(
            ShardScorer, batch_size=1, compute=ray.data.ActorPoolStrategy(size=chosen.actors),
            num_cpus=chosen.cpus, num_gpus=chosen.gpus or None,
            fn_constructor_kwargs={"spec": spec, "model_id": model_id, "threads": chosen.cpus, "out": str(out)})
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=sum(s.to_score for s in shards), unit="post",
                       desc=f"scoring with {model_id} on Ray ({chosen.actors} actor{'s' * (chosen.actors > 1)})")
        try:
            for done in _results(ray, data):
                if done["shard"] in committed:  # a shard Ray ran twice: its rows are stored already
                    counts["repeated"] += 1
                    continue
                _commit(store, by_path[done["shard"]], done, store_posts, counts)
                committed.add(done["shard"])
                if bar is not None:
                    bar.update(int(done["posts"]))
                if on_commit is not None:
                    on_commit(done)
        finally:
            if bar is not None:
                bar.close()
    missing = set(by_path) - committed
    if missing:  # Ray Data returns one result per input: this would be a bug, and must not pass silently
        raise CrowdpulseError(f"the Ray run returned no result for {len(missing)} shard(s); run score again")


def _results(ray, data) -> Iterator[dict[str, Any]]:
    """The dataset's rows; a crowdpulse error raised in an actor comes back as that one line."""
    from crowdpulse.errors import user_errors

    try:
        for row in data.iter_rows():
            yield {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    except ray.exceptions.RayError as exc:
        cause = exc
        while cause is not None and not isinstance(cause, user_errors()):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is not None:
            raise CrowdpulseError(f"on Ray: {cause}") from None
        raise


def _commit(store: Store, shard: Shard, done: dict[str, Any] | None, store_posts: bool,
            counts: dict[str, Any]) -> None:
    """One shard's posts (with ``store_posts``) and results, upserted in one transaction."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with store.transaction():
        if store_posts:
            posts = store.query("SELECT * EXCLUDE (to_store, to_score) FROM read_parquet(?) WHERE to_store",
                                [str(shard.path)])
            got = store.upsert_posts(posts)
            counts["posts_inserted"] += got.inserted
            counts["posts_updated"] += got.updated
        if done is not None:
            for table in RESULT_TABLES:
                frame = store.read_parquet(done[f"{table}_file"])
                store.upsert(table, frame.assign(scored_at=now) if table == "scores" else frame)
                counts[table] += int(done[table])
            counts["posts"] += int(done["posts"])
            counts["batches"] += 1
    counts["shards"] += 1
    log.info("committed shard %s: %d posts scored", shard.path.name, int(done["posts"]) if done else 0)
