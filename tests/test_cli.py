"""The CLI as a user meets it: every command listed and documented, bad input as one clear line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

EXPECTED_COMMANDS = ("scrape", "parse", "analyze", "score", "prices", "correlate", "export", "report",
                     "run", "demo", "models", "db", "import", "import-labels")


def cli(*args: str, cwd=None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def _assert_one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode != 0
    err = out.stderr.strip()
    assert "Traceback" not in err, err
    assert err.count("\n") == 0, err
    for needle in needles:
        assert needle in err, err


def test_help_lists_every_command():
    out = cli("--help")
    assert out.returncode == 0
    for command in EXPECTED_COMMANDS:
        assert f" {command} " in out.stdout, f"{command} missing from --help"


def _leaf_commands():
    from typer.main import get_command

    from crowdpulse.cli import app

    root = get_command(app)
    stack = [((), root)]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
        elif path:
            yield path, cmd


def test_every_command_help_shows_an_example():
    missing = [" ".join(path) for path, cmd in _leaf_commands() if "Example" not in (cmd.help or "")]
    assert not missing, f"commands without an Example in --help: {missing}"


def test_missing_config_file(tmp_path):
    _assert_one_line_error(cli("run", str(tmp_path / "nope.toml")), "no config file")


def test_malformed_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('db = "x.duckdb"\n[[scrape]\nsite = "reddit"\n')
    _assert_one_line_error(cli("run", str(bad)), "not valid TOML")


def test_unknown_source_name_in_config(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[[scrape]]\nsite = "myspace"\ntarget = "x"\n')
    _assert_one_line_error(cli("run", str(cfg)), 'site must be one of reddit,', 'not "myspace"')


def test_unknown_source_name_on_the_command_line(tmp_path):
    out = cli("scrape", "myspace", "x", "--db", str(tmp_path / "x.duckdb"))
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "myspace" in out.stderr


def test_database_in_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        folder = "/sys"  # root ignores mode bits; sysfs refuses new files even to root
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'db = "{os.path.join(folder, "x.duckdb")}"\n')
    _assert_one_line_error(cli("run", str(cfg)), "not writable")


def test_db_stats_on_a_missing_file(tmp_path):
    _assert_one_line_error(cli("db", "stats", "--db", str(tmp_path / "none.duckdb")), "no database at")


def test_db_stats_shows_counts(tmp_path):
    from crowdpulse.store import Store
    from scrapers.records import Post

    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        store.upsert_posts([Post("reddit", "a", "a", body="x"), Post("reddit", "b", "a", "a", 1, body="y")])
    out = cli("db", "stats", "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "posts" in out.stdout and "2" in out.stdout
    assert "reddit" in out.stdout


@pytest.mark.parametrize("bad_value", ['"often"', "-3"])
def test_bad_option_in_config(tmp_path, bad_value):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[correlate]\nlags = {bad_value}\n")
    _assert_one_line_error(cli("run", str(cfg)), "correlate.lags")


def test_a_bad_option_value_is_one_line_not_a_box():
    out = cli("score", "--batch-size", "0")
    _assert_one_line_error(out, "--batch-size", "score --help")
    assert out.returncode == 2
    _assert_one_line_error(cli("no-such-command"), "No such command")


def test_a_folder_where_a_file_is_expected_is_one_line(tmp_path):
    out = cli("analyze", "--file", str(tmp_path))
    _assert_one_line_error(out, str(tmp_path), "is a folder")
    assert out.returncode == 2


def test_a_file_where_a_folder_is_expected_is_one_line(tmp_path):
    blocker = tmp_path / "model.bin"
    blocker.write_bytes(b"\x00")
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"row {i} up,bullish\nrow {i} down,bearish\n" for i in range(6)))
    _assert_one_line_error(cli("models", "train", "--data", str(data), "--out", str(blocker)), str(blocker), "is a file")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _assert_one_line_error(cli("models", "train", "--data", str(data), "--out", str(mine)), "other files")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_commands_that_read_a_database_refuse_a_missing_one(tmp_path):
    typo = tmp_path / "typo.duckdb"
    _assert_one_line_error(cli("score", "--db", str(typo), "--model", "vader"), "no database at")
    labels = tmp_path / "labels.json"
    labels.write_text("[]")
    _assert_one_line_error(cli("import-labels", str(labels), "--db", str(typo)), "no database at")
    assert not typo.exists()


def test_db_stats_shows_run_counts_compactly():
    from datetime import datetime

    from crowdpulse.commands.db import _compact

    assert _compact('{"posts": 300, "scores": 300, "model_id": "default@9d676d80"}') == \
        "posts=300, scores=300, model_id=default@9d676d80"
    assert _compact(datetime(2026, 12, 1, 17, 38, 28, 123456)) == "2026-12-01 17:38:28"
    assert _compact("ok") == "ok"
