"""The run config: one TOML file that names what to collect, how to score it and what to test.

Example (also in README.md, "A run config", and examples/offline.toml)::

    db = "crowdpulse.duckdb"
    model = "default"
    tickers = ["IWM", "TLT"]

    [[scrape]]
    site = "reddit"
    target = "r/stocks"
    query = "IWM"
    pages = 5

    [[load]]                  # saved pages, parsed offline
    site = "reddit"
    files = ["saved/thread.json"]

    [[import]]                # bulk exports
    kind = "reddit-dump"      # or "csv" (then text_col, time_col, ...)
    files = ["RC_2024-01.zst"]
    subreddit = ["stocks", "wallstreetbets"]

    [prices]
    start = "2020-01-01"
    csv = "prices/"           # optional: TICKER.csv files instead of Yahoo

    [correlate]
    signal = "mean_score"
    lags = 5
    permutations = 1000

    [report]
    out = "report.html"

    [score]                   # optional: how the score step runs
    engine = "local"          # or "ray"; then address, actors, gpus_per_actor
    batch_size = 512

Relative paths are taken from the config file's folder. Every table and key is declared in
:mod:`crowdpulse.config_schema`; a wrong type or an unknown key is refused before anything runs.
"""
from __future__ import annotations

import glob
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdpulse.config_schema import ScoreTable, validate
from crowdpulse.errors import ConfigError


@dataclass(frozen=True)
class ScrapeJob:
    site: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadJob:
    site: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ImportJob:
    kind: str
    files: tuple[Path, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    path: Path
    text: str
    db: Path
    model: str = "default"
    tickers: tuple[str, ...] = ("IWM", "TLT")
    scrape: tuple[ScrapeJob, ...] = ()
    load: tuple[LoadJob, ...] = ()
    imports: tuple[ImportJob, ...] = ()
    prices_start: str = "2020-01-01"
    prices_csv: Path | None = None
    signal: str = "mean_score"
    lags: int = 5
    permutations: int = 1000
    report_out: Path | None = None
    score: ScoreTable = field(default_factory=ScoreTable)


def _fail(path: Path, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {msg}")


def _files(path: Path, base: Path, files: str | list[str], where: str) -> tuple[Path, ...]:
    out: list[Path] = []
    for pattern in [files] if isinstance(files, str) else files:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(base.glob(pattern)) if not Path(pattern).is_absolute() else sorted(
                Path(p) for p in glob.glob(pattern))
            if not matches:
                raise _fail(path, f"{where}: no file matches {pattern}")
            out.extend(m.resolve() for m in matches)
            continue
        f = (base / pattern).resolve()
        if not f.exists():
            raise _fail(path, f"{where}: no such file {f}")
        out.append(f)
    return tuple(out)


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a TOML run config file (e.g. examples/offline.toml)")
    if not path.is_file():
        raise ConfigError(f"no config file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "not a UTF-8 text file; a run config is TOML (see examples/offline.toml)") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}") from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; every problem is one :class:`ConfigError` line (all the
    schema's problems at once, separated by "; ")."""
    path = Path(path)
    text, raw = _read(path)
    cfg, problems = validate(raw)
    if cfg is None:
        raise _fail(path, "; ".join(problems))
    base = path.resolve().parent
    scrape = tuple(ScrapeJob(job.site, job.target, job.model_dump(exclude={"site", "target"}, exclude_unset=True))
                   for job in cfg.scrape)
    load = tuple(LoadJob(job.site, _files(path, base, job.files, f"load #{i}"))
                 for i, job in enumerate(cfg.load, 1))
    imports = tuple(ImportJob(job.kind, _files(path, base, job.files, f"import #{i}"),
                              job.model_dump(exclude={"kind", "files"}, exclude_unset=True))
                    for i, job in enumerate(cfg.import_, 1))
    prices_csv = None
    if cfg.prices.csv is not None:
        prices_csv = (base / cfg.prices.csv).resolve()
        if not prices_csv.is_dir():
            raise _fail(path, f"prices.csv: no such folder {prices_csv}")
    return RunConfig(
        path=path.resolve(),
        text=text,
        db=(base / cfg.db).resolve(),
        model=cfg.model,
        tickers=tuple(t.upper() for t in cfg.tickers),
        scrape=scrape,
        load=load,
        imports=imports,
        prices_start=cfg.prices.start,
        prices_csv=prices_csv,
        signal=cfg.correlate.signal,
        lags=cfg.correlate.lags,
        permutations=cfg.correlate.permutations,
        report_out=None if cfg.report is False else (base / cfg.report.out).resolve(),
        score=cfg.score,
    )
