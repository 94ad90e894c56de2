"""The run config's one declared schema: every table, every key, its type and its bounds.

:func:`validate` checks a parsed TOML document against it before anything runs and turns every
problem into one line that names the key, the type wanted and the value given, e.g.
``scrape #1: pages must be a whole number >= 1, not "ten"``. Unknown keys are refused in every
table. :mod:`crowdpulse.config` then resolves paths and globs and builds the ``RunConfig``.
"""
from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

SITES = ("reddit", "oldreddit", "stocktwits", "community", "discourse", "phpbb", "vbulletin", "hackernews")
SIGNALS = ("mean_score", "bullishness", "count")
PRECISIONS = ("exact", "day")
ENGINES = ("local", "ray")


def _iso_date(value: date | str) -> str:
    if isinstance(value, str):
        date.fromisoformat(value)  # ValueError: reported as the wanted type
    return value if isinstance(value, str) else value.isoformat()


def _iso_time(value: date | str) -> str:
    """A date or an ISO time (naive means UTC), as text the importers and scrapers read."""
    if isinstance(value, str):
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return value
    return value.isoformat()


def _known_encoding(value: str) -> str:
    codecs.lookup(value)  # LookupError is not a ValueError: pydantic would not catch it
    return value


def _encoding(value: str) -> str:
    try:
        return _known_encoding(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None


IsoDate = Annotated[Union[date, str], AfterValidator(_iso_date)]
IsoTime = Annotated[Union[datetime, date, str], AfterValidator(_iso_time)]
Name = Annotated[str, Field(min_length=1)]
Files = Union[Name, Annotated[list[Name], Field(min_length=1)]]
FILES = "a file name or a list of file names (globs allowed)"
TIME = "a date or time (YYYY-MM-DD, or an ISO time like 2024-07-01T00:00:00Z)"
PATH = "a file path (a string)"


def _one_of(values: tuple[str, ...]) -> str:
    return "one of " + ", ".join(values)


class Table(BaseModel):
    """A TOML table: its keys are exactly the fields, each of exactly its type (no coercion:
    ``lags = true`` is not 1, ``pages = "10"`` is not 10)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class ScrapeTable(Table):
    site: Literal[SITES] = Field(description=_one_of(SITES))
    target: Name = Field(description="a subreddit, thread URL or id, ticker or topic URL (a string)")
    pages: Annotated[int, Field(ge=1)] | None = Field(None, description="a whole number >= 1")
    limit: Annotated[int, Field(ge=1)] | None = Field(None, description="a whole number >= 1 (posts to store)")
    since: IsoTime | None = Field(None, description=TIME)
    query: str | None = Field(None, description="a search query (a string)")
    base_url: str | None = Field(None, description="a site address (a string)")
    ignore_robots: bool = Field(False, description="true or false")
    cache_dir: str | None = Field(None, description="a folder path (a string)")


class LoadTable(Table):
    site: Literal[("auto",) + SITES] = Field("auto", description=_one_of(("auto",) + SITES))
    files: Files = Field(description=FILES)


class DumpImportTable(Table):
    kind: Literal["reddit-dump"] = Field(description="reddit-dump or csv")
    files: Files = Field(description=FILES)
    subreddit: Union[Name, list[Name]] | None = Field(None, description="a subreddit name or a list of them")
    match: str | None = Field(None, description="a regular expression (a string)")
    since: IsoTime | None = Field(None, description=TIME)
    until: IsoTime | None = Field(None, description=TIME)


class CsvImportTable(Table):
    kind: Literal["csv"] = Field(description="reddit-dump or csv")
    files: Files = Field(description=FILES)
    text_col: Name = Field(description="a column name (a string)")
    time_col: Name = Field(description="a column name (a string)")
    id_col: Name | None = Field(None, description="a column name (a string)")
    thread_col: Name | None = Field(None, description="a column name (a string)")
    parent_col: Name | None = Field(None, description="a column name (a string)")
    author_col: Name | None = Field(None, description="a column name (a string)")
    score_col: Name | None = Field(None, description="a column name (a string)")
    title_col: Name | None = Field(None, description="a column name (a string)")
    url_col: Name | None = Field(None, description="a column name (a string)")
    source: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")] = Field(
        "csv", description="a source name of letters, digits, '.', '-' or '_'")
    time_precision: Literal[PRECISIONS] | None = Field(None, description=_one_of(PRECISIONS))
    encoding: Annotated[str, AfterValidator(_encoding)] = Field(
        "utf-8", description="a text encoding Python knows (utf-8, cp1252, latin-1, ...)")


ImportTable = Annotated[Union[DumpImportTable, CsvImportTable], Field(discriminator="kind")]


class PricesTable(Table):
    start: IsoDate = Field("2020-01-01", description="a date (YYYY-MM-DD, e.g. start = 2020-01-01)")
    csv: str | None = Field(None, description="a folder path (a string) of TICKER.csv files")


class CorrelateTable(Table):
    signal: Literal[SIGNALS] = Field("mean_score", description=_one_of(SIGNALS))
    lags: Annotated[int, Field(ge=0)] = Field(5, description="a whole number >= 0")
    permutations: Annotated[int, Field(ge=99)] = Field(1000, description="a whole number >= 99 (p-values down to 0.01)")


class ReportTable(Table):
    out: Name = Field("report.html", description=PATH)


class ScoreTable(Table):
    """How the score step runs: on this machine (local) or on a Ray cluster (ray)."""

    engine: Literal[ENGINES] = Field("local", description=_one_of(ENGINES))
    address: str | None = Field(None, description="a Ray cluster address (a string, e.g. \"auto\")")
    actors: Annotated[int, Field(ge=1)] | None = Field(None, description="a whole number >= 1")
    gpus_per_actor: Annotated[float, Field(ge=0)] | None = Field(None, description="a number >= 0")
    batch_size: Annotated[int, Field(ge=1)] | None = Field(None, description="a whole number >= 1")
    shards: Name | None = Field(None, description="a folder path (a string) for the Parquet shards")


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or key for key, field in model.model_fields.items()]


def _shape(name: str, *models: type[BaseModel], array: bool = False) -> str:
    keys = ", ".join(dict.fromkeys(k for m in models for k in _keys(m)))
    return f"a table ({'[[' + name + ']]' if array else '[' + name + ']'} with {keys})"


def _tables(name: str, *models: type[BaseModel]) -> dict[str, Any]:
    """The wording of an array of tables and of one of its items."""
    return {"description": f"a list of tables ([[{name}]] ...)",
            "json_schema_extra": {"item": _shape(name, *models, array=True)}}


class ConfigFile(Table):
    """The whole file (see :mod:`crowdpulse.config` for an example)."""

    db: Name = Field("crowdpulse.duckdb", description=PATH)
    model: Name = Field("default", description="a model spec (a string): default, vader, tfidf, a folder...")
    tickers: Annotated[list[Name], Field(min_length=1)] = Field(
        ["IWM", "TLT"], description='a list of symbols, e.g. tickers = ["IWM", "TLT"]')
    scrape: list[ScrapeTable] = Field([], **_tables("scrape", ScrapeTable))
    load: list[LoadTable] = Field([], **_tables("load", LoadTable))
    import_: list[ImportTable] = Field([], alias="import", **_tables("import", DumpImportTable, CsvImportTable))
    prices: PricesTable = Field(PricesTable(), description=_shape("prices", PricesTable))
    correlate: CorrelateTable = Field(CorrelateTable(), description=_shape("correlate", CorrelateTable))
    score: ScoreTable = Field(ScoreTable(), description=_shape("score", ScoreTable))
    report: Union[ReportTable, Literal[False]] = Field(
        ReportTable(), description=_shape("report", ReportTable) + " or false (no report)")


def validate(raw: dict[str, Any]) -> tuple[ConfigFile | None, list[str]]:
    """The validated config, or None and one message per problem (key, type wanted, value given)."""
    try:
        return ConfigFile.model_validate(raw), []
    except ValidationError as exc:
        messages = [_message(err, raw) for err in exc.errors()]
    keys = [key for key, _ in messages]
    # A union (report = a table or false) reports each member's failure: keep the deepest key.
    out = [text for key, text in messages if not any(k != key and k.startswith(key) for k in keys)]
    return None, list(dict.fromkeys(out))


# ------------------------------------------------------------------ messages
@dataclass
class _Spot:
    """Where an error is: the key as a user names it (``prices.csv``, ``scrape #1: pages``), the
    field there (None for an item of an array of tables), the table model(s) there, the raw value."""

    names: list[str | int] = field(default_factory=list)
    info: Any = None  # the field's FieldInfo
    models: list[type[BaseModel]] = field(default_factory=lambda: [ConfigFile])
    value: Any = None

    @property
    def where(self) -> str:
        text = ""
        for i, name in enumerate(self.names):
            if isinstance(name, int):
                text += f" #{name + 1}"
            else:
                text += name if i == 0 else (f": {name}" if isinstance(self.names[i - 1], int) else f".{name}")
        return text

    @property
    def model(self) -> type[BaseModel] | None:
        return self.models[0] if len(self.models) == 1 else None


def _locate(loc: tuple, raw: Any) -> _Spot:
    spot = _Spot(value=raw)
    for part in loc:
        if isinstance(part, int):
            spot.names.append(part)
            spot.value = spot.value[part] if isinstance(spot.value, list) and part < len(spot.value) else None
            continue
        named = _field_named(spot.model, part) if spot.model else None
        if named is None:  # a union member's tag (csv, ReportTable, str...): the table it names, if any
            chosen = [m for m in spot.models if part in (m.__name__, _tag(m))]
            spot.models = chosen or spot.models
            continue
        spot.names.append(part)
        spot.info = named
        spot.value = spot.value.get(part) if isinstance(spot.value, dict) else None
        spot.models = _models_in(named.annotation)
    return spot


def _message(err: dict[str, Any], raw: dict[str, Any]) -> tuple[str, str]:
    """(key, line) for one pydantic error, worded from the schema's own descriptions."""
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        spot = _locate(loc[:-1], raw)
        allowed = ", ".join(sorted({k for m in spot.models for k in _keys(m)}))
        return f"{spot.where}.{loc[-1]}", f"{spot.where + ': ' if spot.where else ''}unknown key {loc[-1]!r}; allowed: {allowed}"
    spot = _locate(loc, raw)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        given = spot.value.get("kind") if isinstance(spot.value, dict) else None
        if given is None:
            return spot.where, f"{spot.where}: kind is required (reddit-dump or csv)"
        return spot.where, f"{spot.where}: kind must be reddit-dump or csv, not {_show(given)}"
    if spot.names and isinstance(spot.names[-1], int):
        item = (spot.info.json_schema_extra or {}).get("item") if spot.info is not None else None
        if item:  # an item of an array of tables
            return spot.where, f"{spot.where} must be {item}, not {_show(spot.value)}"
        spot = _locate(loc[:-1], raw)  # an item of a list of values: the list is what is wrong
    wanted = spot.info.description if spot.info is not None else "a table"
    if kind == "missing":
        return spot.where, f"{spot.where} is missing; it must be {wanted}"
    return spot.where, f"{spot.where} must be {wanted}, not {_show(spot.value)}"


def _field_named(model: type[BaseModel], name: str):
    for key, field_info in model.model_fields.items():
        if (field_info.alias or key) == name:
            return field_info
    return None


def _tag(model: type[BaseModel]) -> str | None:
    kind = model.model_fields.get("kind")
    args = get_args(kind.annotation) if kind is not None else ()
    return args[0] if args else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The table models an annotation holds (through list, Union, Annotated, Optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation) if get_origin(annotation) is not None else ():
        out.extend(m for m in _models_in(arg) if m not in out)
    return out


def _show(value: Any) -> str:
    """A value as it would stand in the TOML file (strings quoted, true/false, dates bare)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (date, datetime)):
        text = value.isoformat()
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
