"""Score the store's unscored posts: scores, per-ticker stances and themes, in committed batches.

A batch's three tables are written in one transaction, so a run killed halfway keeps every
batch committed before the kill and the next run scores only what is left. :func:`score_with`
runs the engine a :class:`~crowdpulse.config.ScoreSettings` names: this one (local) or Ray
(:mod:`crowdpulse.ray_engine`), which calls the same ``analyze_posts`` on shards of whole threads.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from crowdpulse.config import ScoreSettings
from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import ANALYZE_COLUMNS, CONTEXT_COLUMNS, Store

log = logging.getLogger(__name__)



def thread_context(store: Store, batch: pd.DataFrame) -> pd.DataFrame:
    """The other posts of the batch's threads (parents and thread roots a reply can inherit from)."""
    frames = []
    for source, grp in batch.groupby("source"):
        threads = sorted({str(t) for t in grp["thread_id"].dropna()})
        if not threads:
            continue
        marks = ", ".join("?" for _ in threads)
        frames.append(store.query(
            f"SELECT {CONTEXT_COLUMNS} FROM posts p WHERE p.source = ? AND p.thread_id IN ({marks})",
            [source, *threads],
        ))
    if not frames:
        return pd.DataFrame(columns=ANALYZE_COLUMNS)
    ctx = pd.concat(frames, ignore_index=True)
    in_batch = set(zip(batch["source"].astype(str), batch["id"].astype(str)))
    keep = [(s, i) not in in_batch for s, i in zip(ctx["source"].astype(str), ctx["id"].astype(str))]
    return ctx[keep]


def score_store(store: Store, model, *, batch_size: int = 512, progress: bool = True,
                encoder=None) -> dict[str, Any]:
    """Score every post without a score row for ``model.model_id``; returns counts.

    Returns a dict: model_id, posts (scored now), scores, stances, themes (rows written), batches.
    """
    from sentiment.analyze import analyze_posts

    if not isinstance(batch_size, int) or batch_size < 1:
        raise CrowdpulseError(f"batch size must be a positive integer, got {batch_size!r}")
    model_id = str(model.model_id)
    todo = store.unscored_posts(model_id)
    counts: dict[str, Any] = {"model_id": model_id, "posts": 0, "scores": 0, "stances": 0, "themes": 0, "batches": 0}
    if todo.empty:
        log.info("nothing to score for %s", model_id)
        return counts
    if encoder is None:
        from models.encoder import default_encoder

        encoder = default_encoder()
    run_id = f"score-{uuid.uuid4().hex[:12]}"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"scoring with {model_id}", unit="post")
    try:
        with store.recorded_run(run_id, "score", {"model_id": model_id, "batch_size": batch_size, "posts": len(todo)},
                                counts):
            for start in range(0, len(todo), batch_size):
                batch = todo.iloc[start:start + batch_size]
                result = analyze_posts(batch, model, encoder=encoder, context=thread_context(store, batch))
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                with store.transaction():
                    store.upsert("scores", result.scores.assign(scored_at=now))
                    store.upsert("stances", result.stances)
                    store.upsert("themes", result.themes)
                counts["posts"] += len(batch)
                counts["scores"] += len(result.scores)
                counts["stances"] += len(result.stances)
                counts["themes"] += len(result.themes)
                counts["batches"] += 1
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    log.info("scored %d posts with %s: %d stances, %d themes", counts["posts"], model_id,
             counts["stances"], counts["themes"])
    return counts


def score_with(store: Store, spec: str, settings: ScoreSettings, *, progress: bool = True,
               verbose: bool = False) -> dict[str, Any]:
    """Score every unscored post for model ``spec`` with the engine ``settings`` names; returns counts."""
    if settings.engine == "ray":
        from crowdpulse.ray_engine import require_ray, score_store_ray

        require_ray()
        return score_store_ray(store, spec, settings, progress=progress, verbose=verbose)
    from models import load_model

    return score_store(store, load_model(spec), batch_size=settings.batch_size, progress=progress)
