"""`crowdpulse run` and `crowdpulse demo` end to end on the shipped sample threads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crowdpulse.config import load_config
from crowdpulse.demo import sample_files
from crowdpulse.pipeline import STEP_FUNCS, run_pipeline
from crowdpulse.store import Store
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, prices_csv: Path | None, model: str = "vader") -> Path:
    cfg = tmp_path / "run.toml"
    files = ", ".join(json.dumps(str(p)) for p in sample_files())
    prices = f'[prices]\nstart = "2025-10-01"\ncsv = {json.dumps(str(prices_csv))}\n' if prices_csv else ""
    cfg.write_text(
        f'db = "run.duckdb"\nmodel = "{model}"\ntickers = ["IWM", "TLT"]\n\n'
        f'[[load]]\nsite = "auto"\nfiles = [{files}]\n\n{prices}'
        f'[correlate]\nlags = 2\npermutations = 99\n\n[report]\nout = "report.html"\n'
    )
    return cfg


def test_sample_data_is_marked_and_in_both_source_styles():
    files = sample_files()
    assert any(f.suffix == ".json" for f in files) and any(f.suffix == ".html" for f in files)
    readme = (files[0].parent / "README.md").read_text()
    assert "sample data" in readme.lower()


def test_run_from_config_records_a_run_and_writes_everything(tmp_path):
    prices = shared_path("data", "market", "adjusted_2026")
    cfg = load_config(_config(tmp_path, prices))
    with Store.open(cfg.db) as store:
        result = run_pipeline(store, cfg)
        counts = store.counts()
        run = store.query("SELECT * FROM runs").iloc[0]
    assert counts["posts"] >= 30
    assert counts["scores"] == counts["posts"]
    assert counts["stances"] > 0 and counts["prices"] > 0
    assert run["status"] == "ok" and run["command"] == "run" and "[[load]]" in run["config"]
    steps = json.loads(run["counts"])["steps"]
    assert list(steps) == ["collect", "score", "index", "prices", "correlate", "report"]
    # A few dozen sample posts cover fewer sessions than the statistics need: the run says so.
    assert steps["correlate"]["tests"] > 0 or any("correlate" in n for n in json.loads(run["counts"])["notes"])
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert not result.resumed


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    cfg = load_config(_config(tmp_path, None))
    calls: list[str] = []
    original = dict(STEP_FUNCS)

    def fail_prices(*args, **kwargs):
        raise KeyboardInterrupt

    for name, fn in original.items():
        def spy(*a, _name=name, _fn=fn, **k):
            calls.append(_name)
            return _fn(*a, **k)
        monkeypatch.setitem(STEP_FUNCS, name, spy)
    monkeypatch.setitem(STEP_FUNCS, "prices", fail_prices)
    with Store.open(cfg.db) as store:
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(store, cfg)
        assert store.query("SELECT status FROM runs").iloc[0, 0] == "interrupted"
        scored = store.counts()["scores"]
    assert calls == ["collect", "score", "index"]

    calls.clear()
    monkeypatch.setitem(STEP_FUNCS, "prices", original["prices"])
    with Store.open(cfg.db) as store:
        result = run_pipeline(store, cfg)
        runs = store.query("SELECT run_id, status FROM runs WHERE command = 'run'")
        assert store.counts()["scores"] == scored
    assert result.resumed
    assert result.skipped == ["collect", "score"]
    assert "collect" not in calls and "score" not in calls
    assert len(runs) == 1 and runs.iloc[0]["status"] == "ok"
    assert any("prices" in note for note in result.notes)  # no prices configured, and Yahoo unreachable


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env=env)


def test_demo_with_prices_csv_prints_the_table_and_writes_a_report(tmp_path):
    prices = shared_path("data", "market", "adjusted_2026")
    out = _cli("demo", "--prices-csv", str(prices), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "SAMPLE DATA" in out.stdout
    for ticker in ("IWM", "TLT"):
        assert ticker in out.stdout
    # The statistics run, or say in one line why the sample has too few sessions for them.
    assert "tests run" in out.stdout or "too few sessions" in out.stdout
    if "Yahoo Finance" in out.stdout:  # offline: one note says where the prices came from, without the CSV hint
        assert f"prices read from {prices} instead" in out.stdout and "can be read instead" not in out.stdout
    assert (tmp_path / "report.html").exists()
    stats = _cli("db", "stats", "--db", "crowdpulse-demo.duckdb", cwd=tmp_path)
    assert stats.returncode == 0 and "posts" in stats.stdout


def test_demo_without_prices_says_why_the_correlation_is_left_out(tmp_path):
    out = _cli("demo", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, out.stdout  # Yahoo unreachable and the correlation left out: one line, as the README says
    assert "Yahoo Finance" in notes[0] and "correlation section is left out" in notes[0]
    assert "--prices-csv DIR" in notes[0] and "can be read instead" not in notes[0]
    assert (tmp_path / "report.html").exists()


def test_a_binary_file_given_as_config_is_one_clear_error(tmp_path):
    from crowdpulse.config import ConfigError

    f = tmp_path / "run.bin"
    f.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(f)


@pytest.mark.parametrize("start", ['"yesterday"', '"2024-13-01"'])
def test_a_bad_prices_start_in_a_config_is_caught_before_the_run(tmp_path, start):
    from crowdpulse.config import ConfigError

    f = tmp_path / "run.toml"
    f.write_text(f"[prices]\nstart = {start}\n")
    with pytest.raises(ConfigError, match="prices.start must be a date"):
        load_config(f)
    f.write_text("[prices]\nstart = 2021-03-01\n")  # a TOML date reads as well
    assert load_config(f).prices_start == "2021-03-01"


def test_the_offline_example_config_loads_only_files_that_parse():
    """examples/offline.toml's [[load]] globs must match parseable pages only (its folder also holds a README)."""
    import glob
    import tomllib

    from crowdpulse.loading import parse_file

    cfg_path = ROOT / "examples" / "offline.toml"
    cfg = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    files = [f for job in cfg["load"] for pattern in job["files"]
             for f in sorted(glob.glob(str(cfg_path.parent / pattern)))]
    assert len(files) >= 5
    for f in files:
        assert parse_file(cfg["load"][0]["site"], f), f
