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
    engine = "local"          # or "ray"; then address, actors, gpus_per_actor, shards
    batch_size = 512          # posts per committed batch (on ray: per shard, whole threads)

Relative paths are taken from the config file's folder. Every table and key is declared in
:mod:`crowdpulse.config_schema`; a wrong type or an unknown key is refused before anything runs.
"""
from __future__ import annotations

import glob
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdpulse.config_schema import ENGINES, validate
from crowdpulse.errors import ConfigError

#: Keys of [score] (and options of ``crowdpulse score``) that only the ray engine reads.
RAY_ONLY = ("address", "actors", "gpus_per_actor", "shards")


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
class ScoreSettings:
    """How ``score`` runs: the engine and, for Ray, where and how wide (``[score]``, or the score options)."""

    engine: str = "local"
    address: str | None = None
    actors: int | None = None
    gpus_per_actor: float = 0.0
    batch_size: int = 512
    shards: Path | None = None

    def problem(self, name=lambda key: key) -> str | None:
        """The first thing wrong with these settings, as one line naming the key by ``name(key)``; else None."""
        if self.engine not in ENGINES:
            return f"{name('engine')} {self.engine!r} is not one of {', '.join(ENGINES)}"
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            return f"{name('batch_size')} must be a positive integer, not {self.batch_size!r}"
        if self.actors is not None and (not isinstance(self.actors, int) or isinstance(self.actors, bool)
                                        or self.actors < 1):
            return f"{name('actors')} must be a positive integer, not {self.actors!r}"
        gpus = self.gpus_per_actor
        if not isinstance(gpus, (int, float)) or isinstance(gpus, bool) or not 0 <= gpus < 1e6:
            return f"{name('gpus_per_actor')} must be a number of GPUs (0, 0.5, 1...), not {gpus!r}"
        if self.address is not None and not _ray_address(self.address):
            return f"{name('address')} {self.address!r} is not auto, ray://HOST:PORT or HOST:PORT"
        if self.engine == "local":
            given = [k for k in RAY_ONLY if getattr(self, k) not in (None, 0, 0.0)]
            if given:
                return f"{name(given[0])} applies to the ray engine only (set {name('engine')} to ray)"
        return None


def _ray_address(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if value == "auto":
        return True
    host, _, port = value.removeprefix("ray://").rpartition(":")
    return bool(host) and port.isdigit()


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
    score: ScoreSettings = ScoreSettings()


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
    table = cfg.score
    score = ScoreSettings(engine=table.engine, address=table.address, actors=table.actors,
                          gpus_per_actor=table.gpus_per_actor or 0.0, batch_size=table.batch_size or 512,
                          shards=None if table.shards is None else (base / table.shards).resolve())
    problem = score.problem(lambda key: f"score.{key}")
    if problem:
        raise _fail(path, problem)
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
        score=score,
    )
