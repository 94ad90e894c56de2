"""`crowdpulse run CONFIG.toml`: collect -> score -> index -> prices -> correlate -> report.

Each step is idempotent on its own (upserts, crawl cursors, only unscored posts,
incremental prices), and the run records in the ``runs`` table which steps are
done. Running the same config again after an interruption resumes the
unfinished run: finished steps are skipped, the interrupted one picks up from
its committed state.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from crowdpulse.config import ImportJob, RunConfig
from crowdpulse.errors import ConfigError
from crowdpulse.store import Store

log = logging.getLogger(__name__)

STEPS = ("collect", "score", "index", "prices", "correlate", "report")


@dataclass
class RunResult:
    run_id: str
    resumed: bool
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def config_hash(config: RunConfig) -> str:
    return hashlib.sha256(config.text.encode("utf-8")).hexdigest()[:12]


def _unfinished_run(store: Store, chash: str) -> tuple[str, dict[str, Any]] | None:
    rows = store.query(
        "SELECT run_id, counts FROM runs WHERE command = 'run' AND run_id LIKE ? "
        "AND status <> 'ok' ORDER BY started_at DESC LIMIT 1",
        [f"run-{chash}-%"],
    )
    if rows.empty:
        return None
    counts = json.loads(rows.iloc[0]["counts"]) if rows.iloc[0]["counts"] else {}
    return rows.iloc[0]["run_id"], counts


def run_pipeline(
    store: Store,
    config: RunConfig,
    *,
    fresh: bool = False,
    on_step: Callable[[str, str], None] | None = None,
) -> RunResult:
    """Run every step of ``config`` against ``store``; resume an unfinished run of the same config."""
    chash = config_hash(config)
    previous = None if fresh else _unfinished_run(store, chash)
    if previous:
        run_id, done = previous
        result = RunResult(run_id, resumed=True, steps=dict(done.get("steps", {})))
        store.claim_run(run_id, "run")
    else:
        run_id = f"run-{chash}-{uuid.uuid4().hex[:8]}"
        result = RunResult(run_id, resumed=False)
        store.start_run(run_id, "run", config.text)
    context: dict[str, Any] = {}
    try:
        for step in STEPS:
            if step in result.steps and step not in ("index", "correlate", "report"):
                result.skipped.append(step)
                if on_step:
                    on_step(step, "skipped (done in the interrupted run)")
                continue
            if on_step:
                on_step(step, "running")
            started = time.perf_counter()
            counts = STEP_FUNCS[step](store, config, context, result)
            counts["seconds"] = round(time.perf_counter() - started, 2)
            result.steps[step] = counts
            store.finish_run(run_id, {"steps": result.steps, "notes": result.notes}, status="running")
            if on_step:
                on_step(step, "done")
    except BaseException:
        store.finish_run(run_id, {"steps": result.steps, "notes": result.notes}, status="interrupted")
        raise
    store.finish_run(run_id, {"steps": result.steps, "notes": result.notes}, status="ok")
    return result


# ----------------------------------------------------------------------- steps
def _collect(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    counts: dict[str, Any] = {"posts_new": 0, "posts_updated": 0, "posts_repaired": 0}
    if config.scrape:
        from crowdpulse.scrape import run_scrape

        for job in config.scrape:
            got = run_scrape(store, job.site, job.target, **job.options)
            counts["posts_new"] += int(got.get("posts_new", 0))
            counts["posts_updated"] += int(got.get("posts_updated", 0))
            counts["posts_repaired"] += int(got.get("posts_repaired", 0))
    if config.load:
        from crowdpulse.loading import load_files

        for job in config.load:
            got = load_files(store, job.site, job.files)
            counts["posts_new"] += got.inserted
            counts["posts_updated"] += got.updated
            counts["posts_repaired"] += got.repaired
    if config.imports:
        for job in config.imports:
            got = _import(store, job)
            counts["posts_new"] += got.inserted
            counts["posts_updated"] += got.updated
            counts["posts_repaired"] += got.repaired
    return counts


def _import(store: Store, job: ImportJob) -> Any:
    """One [[import]] entry: a Reddit dump (with filters) or CSV export (with column names)."""
    from crowdpulse.imports import import_csv, import_reddit_dumps, parse_bound
    from scrapers.csv_export import CsvColumns
    from scrapers.reddit_dump import DumpFilter

    opts = dict(job.options)
    if job.kind == "reddit-dump":
        subs = opts.get("subreddit", [])
        subs = [subs] if isinstance(subs, str) else subs
        filt = DumpFilter(subreddits=frozenset(s.lower() for s in subs), match=opts.get("match"),
                          since=parse_bound(opts.get("since"), "since"),
                          until=parse_bound(opts.get("until"), "until", end=True))
        return import_reddit_dumps(store, list(job.files), filt)
    roles = {f: opts.get(f"{f}_col") for f in ("text", "time", "id", "thread", "parent", "author", "score", "title", "url")}
    if not roles["text"] or not roles["time"]:
        raise ConfigError("an [[import]] of kind csv needs text_col and time_col")
    result = None
    for path in job.files:
        got = import_csv(store, path, CsvColumns(**roles), source=opts.get("source", "csv"),
                         precision=opts.get("time_precision"), encoding=opts.get("encoding", "utf-8"))
        if result is None:
            result = got
        else:
            result.inserted += got.inserted
            result.updated += got.updated
            result.repaired += got.repaired
    return result


def _score(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    from crowdpulse.scoring import score_store, score_with
    from models import load_model

    if config.score.engine != "local":
        return dict(score_with(store, config.model, config.score))
    model = load_model(config.model)
    context["model"] = model
    return dict(score_store(store, model, batch_size=config.score.batch_size, progress=True))


def _model_id(store: Store, config: RunConfig, context: dict) -> str:
    """The configured model's id; read from its files when it can be (a resumed run that skips
    scoring does not load the model), else from the loaded model."""
    if "model" in context:
        return context["model"].model_id
    from models.catalog import model_id_of

    known = model_id_of(config.model)
    if known is not None:
        return known
    from models import load_model

    context["model"] = load_model(config.model)
    return context["model"].model_id


def _index(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    from crowdpulse.index import ticker_index

    index = ticker_index(store, _model_id(store, config, context))
    context["index"] = index
    return {"sessions": int(index["session"].nunique()) if not index.empty else 0, "rows": len(index)}


def _prices(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    from crowdpulse.prices import stale_note, update_prices
    from market.errors import MarketError

    try:
        got = update_prices(store, list(config.tickers), start=config.prices_start, csv_dir=config.prices_csv)
    except MarketError as exc:
        result.notes.append(f"prices: {exc}")
        log.warning("prices: %s", exc)
        return {"rows": 0, "error": str(exc)}
    note = stale_note(got)
    if note:
        result.notes.append(f"prices: {note}")
    return got


def _correlate(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    from crowdpulse.analysis import correlate_store

    index = context.get("index")
    stats = correlate_store(
        store, _model_id(store, config, context), tickers=list(config.tickers), signal=config.signal,
        lags=config.lags, permutations=config.permutations, index=index,
    )
    context["stats"] = stats
    if stats.empty:
        result.notes.append("correlate: not enough sessions with both sentiment and prices")
        return {"tests": 0}
    significant = int((stats["p_adjusted"] < 0.05).sum())
    return {"tests": len(stats), "significant_adjusted": significant}


def _report(store: Store, config: RunConfig, context: dict, result: RunResult) -> dict[str, Any]:
    if config.report_out is None:
        return {"written": False}
    from crowdpulse.report import gather_report_data, write_report

    data = gather_report_data(store, tickers=list(config.tickers), stats=context.get("stats"),
                              model=_model_id(store, config, context), signal=config.signal,
                              lags=config.lags, permutations=config.permutations)
    data.meta["notes"] = list(data.meta.get("notes", [])) + result.notes
    figures = write_report(data, config.report_out)
    return {"written": True, "path": str(config.report_out), "figures": figures}


STEP_FUNCS: dict[str, Callable[[Store, RunConfig, dict, RunResult], dict[str, Any]]] = {
    "collect": _collect, "score": _score, "index": _index,
    "prices": _prices, "correlate": _correlate, "report": _report,
}

