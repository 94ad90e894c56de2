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

    [score]                   # optional; the local engine is the default
    engine = "ray"            # or "local"
    address = "auto"          # ray only: auto, ray://HOST:PORT or HOST:PORT (none: a local Ray on this machine)
    actors = 4                # ray only: scorer actors (default: one per 2 CPUs, or per GPU share)
    gpus_per_actor = 0        # ray only
    batch_size = 512          # posts per committed batch (per shard on ray)
    shards = "shards/"        # ray only: a folder every Ray node reads and writes (default: DB.ray)

    [prices]
    start = "2020-01-01"
    csv = "prices/"           # optional: TICKER.csv files instead of Yahoo

    [correlate]
    signal = "mean_score"
    lags = 5
    permutations = 1000

    [report]
    out = "report.html"

Relative paths are taken from the config file's folder.
"""
from __future__ import annotations

import glob
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

from crowdpulse.errors import ConfigError

SITES = ("reddit", "oldreddit", "stocktwits", "community", "discourse", "phpbb", "vbulletin", "hackernews")
IMPORT_KINDS = ("reddit-dump", "csv")
SIGNALS = ("mean_score", "bullishness", "count")
TOP_KEYS = {"db", "model", "tickers", "scrape", "load", "import", "score", "prices", "correlate", "report"}
ENGINES = ("local", "ray")
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


def _files(path: Path, base: Path, entry: dict[str, Any], where: str) -> tuple[Path, ...]:
    files = entry.get("files")
    if isinstance(files, str):
        files = [files]
    if not files or not all(isinstance(f, str) for f in files):
        raise _fail(path, f"{where} needs files = [\"...\"]")
    out: list[Path] = []
    for pattern in files:
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


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; every problem is one :class:`ConfigError` line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "not a UTF-8 text file; a run config is TOML (see examples/offline.toml)") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}") from None
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(TOP_KEYS))}")
    base = path.resolve().parent

    scrape = []
    for i, entry in enumerate(raw.get("scrape", [])):
        site, target = entry.get("site"), entry.get("target")
        if site not in SITES:
            raise _fail(path, f"scrape #{i + 1}: unknown source {site!r}; sources: {', '.join(SITES)}")
        if not isinstance(target, str) or not target:
            raise _fail(path, f"scrape #{i + 1}: needs target = \"...\" (a subreddit, thread URL, symbol...)")
        opts = {k: v for k, v in entry.items() if k not in ("site", "target")}
        scrape.append(ScrapeJob(site, target, opts))

    load = []
    for i, entry in enumerate(raw.get("load", [])):
        site = entry.get("site", "auto")
        if site not in SITES + ("auto",):
            raise _fail(path, f"load #{i + 1}: unknown source {site!r}; sources: auto, {', '.join(SITES)}")
        load.append(LoadJob(site, _files(path, base, entry, f"load #{i + 1}")))

    imports = []
    for i, entry in enumerate(raw.get("import", [])):
        kind = entry.get("kind")
        if kind not in IMPORT_KINDS:
            raise _fail(path, f"import #{i + 1}: unknown kind {kind!r}; kinds: {', '.join(IMPORT_KINDS)}")
        opts = {k: v for k, v in entry.items() if k not in ("kind", "files")}
        imports.append(ImportJob(kind, _files(path, base, entry, f"import #{i + 1}"), opts))

    prices = raw.get("prices", {})
    prices_csv = prices.get("csv")
    if prices_csv is not None:
        prices_csv = (base / prices_csv).resolve()
        if not prices_csv.is_dir():
            raise _fail(path, f"prices.csv: no such folder {prices_csv}")
    start = prices.get("start", "2020-01-01")
    try:
        date.fromisoformat(str(start))
    except ValueError:
        raise _fail(path, f"prices.start {start!r} is not a date; use YYYY-MM-DD, e.g. start = \"2020-01-01\"") from None
    corr = raw.get("correlate", {})
    signal = corr.get("signal", "mean_score")
    if signal not in SIGNALS:
        raise _fail(path, f"correlate.signal {signal!r} is not one of {', '.join(SIGNALS)}")
    tickers = raw.get("tickers", ["IWM", "TLT"])
    if not isinstance(tickers, list) or not tickers or not all(isinstance(t, str) for t in tickers):
        raise _fail(path, "tickers must be a list of symbols, e.g. tickers = [\"IWM\", \"TLT\"]")
    for key, value in (("lags", corr.get("lags", 5)), ("permutations", corr.get("permutations", 1000))):
        if not isinstance(value, int) or value < 0:
            raise _fail(path, f"correlate.{key} must be a non-negative integer, not {value!r}")
    if int(corr.get("permutations", 1000)) < 99:
        raise _fail(path, "correlate.permutations must be at least 99 (p-values down to 0.01)")
    report = raw.get("report", {})
    score = raw.get("score", {})
    unknown = set(score) - {f.name for f in fields(ScoreSettings)} if isinstance(score, dict) else None
    if unknown is None or unknown:
        raise _fail(path, f"[score] takes engine, batch_size, {', '.join(RAY_ONLY)}"
                          + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""))
    if isinstance(score.get("shards"), str):
        score = {**score, "shards": (base / score["shards"]).resolve()}
    elif "shards" in score:
        raise _fail(path, f"score.shards must be a folder path, not {score['shards']!r}")
    settings = ScoreSettings(**score)
    problem = settings.problem(lambda key: f"score.{key}")
    if problem:
        raise _fail(path, problem)
    return RunConfig(
        path=path.resolve(),
        text=text,
        db=(base / raw.get("db", "crowdpulse.duckdb")).resolve(),
        model=str(raw.get("model", "default")),
        tickers=tuple(t.upper() for t in tickers),
        scrape=tuple(scrape),
        load=tuple(load),
        imports=tuple(imports),
        prices_start=str(start),
        prices_csv=prices_csv,
        signal=signal,
        lags=int(corr.get("lags", 5)),
        permutations=int(corr.get("permutations", 1000)),
        report_out=(base / report.get("out", "report.html")).resolve() if report is not False else None,
        score=settings,
    )
