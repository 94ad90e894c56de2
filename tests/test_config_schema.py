"""The run config is checked against one declared schema before anything runs: every wrong type
and every unknown key, in every table, is one line naming the key, the type wanted and the value given."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crowdpulse.config import load_config
from crowdpulse.config_schema import ConfigFile, ScoreTable, _models_in, validate
from crowdpulse.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DUMP = '[[import]]\nkind = "reddit-dump"\nfiles = "RC_2021-01.zst"\n'
CSV = '[[import]]\nkind = "csv"\nfiles = "posts.csv"\ntext_col = "body"\ntime_col = "created"\n'
SCRAPE = '[[scrape]]\nsite = "stocktwits"\ntarget = "IWM"\n'

CASES = [  # (config text, the one line after "PATH: ")
    ("db = 5", "db must be a file path (a string), not 5"),
    ("[prices]\ncsv = 5", "prices.csv must be a folder path (a string) of TICKER.csv files, not 5"),
    ("[report]\nout = 3", "report.out must be a file path (a string), not 3"),
    ("prices = 5", "prices must be a table ([prices] with start, csv), not 5"),
    ('scrape = "x"', 'scrape must be a list of tables ([[scrape]] ...), not "x"'),
    ('load = ["x"]', 'load #1 must be a table ([[load]] with site, files), not "x"'),
    ('[[import]]\nkind = "csv"\nfiles = 7\ntext_col = "body"\ntime_col = "created"',
     "import #1: files must be a file name or a list of file names (globs allowed), not 7"),
    (SCRAPE + 'pages = "ten"', 'scrape #1: pages must be a whole number >= 1, not "ten"'),
    (SCRAPE + "page = 3", "scrape #1: unknown key 'page'; allowed: base_url, cache_dir, ignore_robots, limit, "
                          "pages, query, since, site, target"),
    ("[correlate]\nlags = true", "correlate.lags must be a whole number >= 0, not true"),
    (DUMP + 'subredit = "stocks"', "import #1: unknown key 'subredit'; allowed: files, kind, match, since, "
                                   "subreddit, until"),
    (CSV + 'text_column = "body"', "import #1: unknown key 'text_column'; allowed: author_col, encoding, files, "
                                   "id_col, kind, parent_col, score_col, source, text_col, thread_col, time_col, "
                                   "time_precision, title_col, url_col"),
    ('[[import]]\nkind = "csv"\nfiles = "posts.csv"', "import #1: text_col is missing; it must be a column name "
                                                     "(a string); import #1: time_col is missing; it must be a "
                                                     "column name (a string)"),
    ('[[import]]\nkind = "json"\nfiles = "a"', 'import #1: kind must be reddit-dump or csv, not "json"'),
    ('tickers = ["IWM", 5]', 'tickers must be a list of symbols, e.g. tickers = ["IWM", "TLT"], not ["IWM", 5]'),
    ("report = true", "report must be a table ([report] with out) or false (no report), not true"),
    ('[prices]\nstart = "yesterday"', 'prices.start must be a date (YYYY-MM-DD, e.g. start = 2020-01-01), not "yesterday"'),
    ('[[scrape]]\nsite = "myspace"\ntarget = "x"', "scrape #1: site must be one of reddit, oldreddit, stocktwits, "
                                                  'community, discourse, phpbb, vbulletin, hackernews, not "myspace"'),
    ("[correlate]\nlags = -3\npermutations = 10", "correlate.lags must be a whole number >= 0, not -3; "
                                                  "correlate.permutations must be a whole number >= 99 (p-values down "
                                                  "to 0.01), not 10"),
    ('[score]\nengine = "spark"\nactors = 0\ngpus_per_actor = -1\nbatch_size = true\naddress = 3',
     'score.engine must be one of local, ray, not "spark"; score.address must be a Ray cluster address (a string, '
     'e.g. "auto"), not 3; score.actors must be a whole number >= 1, not 0; score.gpus_per_actor must be a number '
     ">= 0, not -1; score.batch_size must be a whole number >= 1, not true"),
    ("zz = 1", "unknown key 'zz'; allowed: correlate, db, import, load, model, prices, report, score, scrape, tickers"),
]


@pytest.mark.parametrize(("text", "message"), CASES, ids=[c[0].replace("\n", " ")[:40] for c in CASES])
def test_a_wrong_type_or_unknown_key_names_key_type_and_value(tmp_path, text, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value) == f"{cfg}: {message}"


def _tables(model=ConfigFile, name="") -> list[tuple[str, type]]:
    """Every table of the schema (with the TOML that opens it), found by walking it."""
    out = []
    for key, info in model.model_fields.items():
        key = info.alias or key
        for sub in _models_in(info.annotation):
            out.append((key, sub))
            out.extend(_tables(sub, key))
    return out


def _minimal(key: str, table: type) -> str:
    """The smallest valid TOML for ``table`` under ``key``."""
    required = {"site": '"stocktwits"', "target": '"IWM"', "files": '"x.csv"', "text_col": '"t"', "time_col": '"c"'}
    kind = table.model_fields.get("kind")
    lines = [f"[[{key}]]" if key in ("scrape", "load", "import") else f"[{key}]"]
    if kind is not None:
        lines.append(f'kind = "{kind.annotation.__args__[0]}"')
    lines += [f"{k} = {v}" for k, v in required.items() if k in table.model_fields and table.model_fields[k].is_required()]
    return "\n".join(lines)


def test_every_table_refuses_an_unknown_key():
    tables = _tables()
    assert {t.__name__ for _, t in tables} == {"ScrapeTable", "LoadTable", "DumpImportTable", "CsvImportTable",
                                                "PricesTable", "CorrelateTable", "ScoreTable", "ReportTable"}
    for key, table in tables:
        base = _minimal(key, table)
        assert validate(tomllib.loads(base))[1] == [], base
        cfg, problems = validate(tomllib.loads(base + "\nno_such_key = 1"))
        assert cfg is None and len(problems) == 1 and "unknown key 'no_such_key'" in problems[0], (key, problems)


def test_the_score_table_is_declared_for_the_ray_engine():
    ok, problems = validate(tomllib.loads('[score]\nengine = "ray"\naddress = "auto"\nactors = 4\n'
                                          'gpus_per_actor = 0.5\nbatch_size = 256\n'))
    assert problems == [] and ok.score == ScoreTable(engine="ray", address="auto", actors=4, gpus_per_actor=0.5,
                                                     batch_size=256)
    assert validate(tomllib.loads("[score]\ngpus_per_actor = 1\n"))[0].score.gpus_per_actor == 1.0
    assert validate({})[0].score == ScoreTable(engine="local")


def test_what_is_valid_still_loads(tmp_path):
    (tmp_path / "posts.csv").write_text("body,created\nIWM up,2024-01-01\n")
    (tmp_path / "prices").mkdir()
    cfg = tmp_path / "run.toml"
    cfg.write_text('db = "x.duckdb"\ntickers = ["iwm"]\n' + SCRAPE + "pages = 2\nsince = 2024-01-01\n"
                   + CSV + 'encoding = "cp1252"\nsource = "forum"\n'
                   + '[prices]\nstart = 2021-03-01\ncsv = "prices"\n[correlate]\nlags = 0\n[report]\nout = "r.html"\n')
    run = load_config(cfg)
    assert run.tickers == ("IWM",) and run.lags == 0 and run.prices_start == "2021-03-01"
    assert run.scrape[0].options == {"pages": 2, "since": "2024-01-01"}
    assert run.imports[0].options == {"text_col": "body", "time_col": "created", "encoding": "cp1252", "source": "forum"}
    assert run.prices_csv == tmp_path / "prices" and run.report_out == tmp_path / "r.html"
    cfg.write_text("report = false\n")
    assert load_config(cfg).report_out is None


def test_the_shipped_configs_and_the_readme_example_validate():
    for path in (ROOT / "examples").glob("*.toml"):
        assert validate(tomllib.loads(path.read_text()))[1] == [], path
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    assert validate(tomllib.loads(example))[1] == []


def test_run_refuses_a_bad_config_before_anything_runs(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('db = "x.duckdb"\n' + SCRAPE + 'pages = "ten"\n')
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "run", str(cfg)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, env=env)
    assert out.returncode == 2
    assert out.stderr.strip() == f'error: {cfg}: scrape #1: pages must be a whole number >= 1, not "ten"'
    assert not (tmp_path / "x.duckdb").exists()  # nothing ran: not even the database was created


def test_the_score_table_becomes_the_engine_settings(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[score]\nengine = "ray"\nactors = 2\nshards = "shards"\n')
    score = load_config(cfg).score
    assert (score.engine, score.actors, score.batch_size, score.shards) == ("ray", 2, 512, (tmp_path / "shards").resolve())
    cfg.write_text('[score]\nactors = 2\n')  # the local engine takes no actors
    with pytest.raises(ConfigError, match="score.actors applies to the ray engine only"):
        load_config(cfg)
    cfg.write_text('[score]\nengine = "ray"\naddress = "nowhere"\n')
    with pytest.raises(ConfigError, match="score.address 'nowhere' is not auto"):
        load_config(cfg)
