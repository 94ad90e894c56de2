"""The score engines without a Ray cluster: [score] settings, the one-line errors, thread shards, and
the shard path (what a Ray actor runs, called here in-process) storing what the local engine stores."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import zstandard

from crowdpulse.config import ScoreSettings, load_config
from crowdpulse.errors import ConfigError, CrowdpulseError
from crowdpulse.ray_engine import _commit, new_counts, plan, score_shard
from crowdpulse.scoring import score_store
from crowdpulse.shards import MARKER, cut_threads, remove_runs, run_folder, write_shards
from crowdpulse.store import Store
from sentiment_fakes import HashEncoder, KeywordModel

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------- [score] in a run config
def _config(tmp_path: Path, score: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(f'db = "x.duckdb"\n\n[score]\n{score}\n', encoding="utf-8")
    return path


def test_score_section_reads_every_key(tmp_path):
    config = load_config(_config(tmp_path, 'engine = "ray"\naddress = "ray://head:10001"\nactors = 4\n'
                                           'gpus_per_actor = 0.5\nbatch_size = 256\nshards = "sh"'))
    assert config.score == ScoreSettings("ray", "ray://head:10001", 4, 0.5, 256, (tmp_path / "sh").resolve())
    assert load_config(_config(tmp_path, "")).score == ScoreSettings()  # local, 512 per batch


@pytest.mark.parametrize("score, says", [
    ('engine = "spark"', 'score.engine must be one of local, ray, not "spark"'),
    ('engine = "ray"\nactors = 0', "score.actors must be a whole number >= 1, not 0"),
    ('engine = "ray"\nactors = "4"', 'score.actors must be a whole number >= 1, not "4"'),
    ('engine = "ray"\ngpus_per_actor = -1', "score.gpus_per_actor must be a number >= 0, not -1"),
    ("batch_size = 0", "score.batch_size must be a whole number >= 1, not 0"),
    ('engine = "ray"\naddress = "head"', "score.address 'head' is not auto, ray://HOST:PORT or HOST:PORT"),
    ("actors = 2", "score.actors applies to the ray engine only (set score.engine to ray)"),
    ('workers = 2', "score: unknown key 'workers'; allowed: actors, address, batch_size, engine, gpus_per_actor, shards"),
    ('engine = "ray"\nshards = 3', "score.shards must be a folder path (a string) for the Parquet shards, not 3"),
])
def test_bad_score_settings_are_one_line(tmp_path, score, says):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, score))
    assert says in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------- the CLI without Ray
def _cli_without_ray(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a process where ``import ray`` fails, as where the extra is not installed."""
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['crowdpulse', *sys.argv[1:]]; "
            "from crowdpulse.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("args", [("score", "--engine", "ray"),
                                  ("import", "reddit-dump", "RC_2021-01.zst", "--score", "--engine", "ray")])
def test_ray_engine_without_ray_names_the_extra(args):
    out = _cli_without_ray(*args)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: the ray engine needs Ray, an optional extra: pip install -e '.[ray]'"


def test_ray_options_without_the_ray_engine_are_one_line():
    out = _cli_without_ray("score", "--gpus-per-actor", "1")
    assert out.returncode == 2 and out.stderr.strip() == (
        "error: --gpus-per-actor applies to the ray engine only (set --engine to ray)")


# ----------------------------------------------------------------------- planning actors
@pytest.mark.parametrize("actors, gpus, nodes, cluster_gpus, expect", [
    (None, 0, [2], 0, (1, 2, 0.0)),        # this machine: one actor on both cores
    (2, 0, [2], 0, (2, 1, 0.0)),
    (3, 0, [4, 4], 0, (3, 2, 0.0)),        # 3 CPUs each would not place three actors on two nodes
    (None, 0, [16, 16], 0, (16, 2, 0.0)),
    (None, 0.5, [8], 2, (4, 2, 0.5)),      # two actors per GPU
])
def test_plan_places_every_actor(actors, gpus, nodes, cluster_gpus, expect):
    got = plan(ScoreSettings("ray", actors=actors, gpus_per_actor=gpus), nodes, cluster_gpus)
    assert (got.actors, got.cpus, got.gpus) == expect


@pytest.mark.parametrize("actors, gpus, nodes, cluster_gpus, says", [
    (5, 0, [2, 2], 0, "5 actors need a CPU each; the Ray cluster has 4"),
    (None, 1, [8], 0, "--gpus-per-actor 1: the Ray cluster has 0 GPU(s)"),
    (3, 1, [8], 2, "3 actors x 1 GPU need 3 GPUs; the Ray cluster has 2"),
])
def test_plan_that_cannot_be_placed_is_one_line(actors, gpus, nodes, cluster_gpus, says):
    with pytest.raises(CrowdpulseError, match=says.replace("(", r"\(").replace(")", r"\)")):
        plan(ScoreSettings("ray", actors=actors, gpus_per_actor=gpus), nodes, cluster_gpus)


# ----------------------------------------------------------------------- shards
def _rows(threads: list[tuple[str | None, int, int]]) -> pd.DataFrame:
    """Thread-ordered rows: (thread id, posts to score, context posts) per thread."""
    out = []
    for t, (thread, score, context) in enumerate(threads):
        for k in range(score + context):
            out.append({"source": "r", "id": f"{t}-{k}", "thread_id": thread, "to_score": k < score})
    return pd.DataFrame(out)


@pytest.mark.parametrize("chunk", [1, 2, 5, 1000])
def test_shards_hold_whole_threads(chunk):
    rows = _rows([("a", 3, 1), ("b", 1, 0), ("c", 4, 2), (None, 1, 0), (None, 1, 0), ("d", 0, 30), ("e", 2, 0)])
    frames = [rows.iloc[i:i + chunk] for i in range(0, len(rows), chunk)]
    shards = list(cut_threads(frames, 4))
    assert [s["id"].tolist() for s in shards] == [
        rows["id"][:5].tolist(),      # a (3) + b (1): four to score, close at the next thread
        rows["id"][5:11].tolist(),    # c alone holds four
        rows["id"][11:43].tolist(),   # two without a thread, then d's 30 context rows: 32 rows = 8 x 4
        rows["id"][43:].tolist(),     # what is left
    ]


def test_only_this_databases_run_folders_are_removed(tmp_path):
    mine, other = run_folder(tmp_path, "score-1", "/db/a"), run_folder(tmp_path, "score-2", "/db/b")
    user = tmp_path / "notes"
    user.mkdir()
    assert remove_runs(tmp_path, "/db/a") == [mine]
    assert other.exists() and user.exists() and (other / MARKER).read_text() == "/db/b"


# ----------------------------------------------------------------------- the shard path equals the local one
POSTS = [  # (id, thread, parent, title, body): roots name tickers, replies inherit through parents and roots
    ("t1", "t1", None, "Long bonds now", "TLT will rally as the Fed cuts"),
    ("c1", "t1", "t1", None, "agreed, buy"),
    ("c2", "t1", "c1", None, "same, more calls"),
    ("c3", "t1", "t1", None, "IWM will drop and TLT will go up in a recession"),
    ("c4", "t1", "c3", None, "[deleted]"),
    ("c5", "t1", "c4", None, "this will crash"),
    ("t2", "t2", None, "IWM squeeze?", "small caps rally higher"),
    ("d1", "t2", "t2", None, "puts"),
    ("d2", "t2", "d1", None, "moon"),
    ("n1", None, None, None, "nothing to inherit, buy"),
    ("t3", "t3", None, "Weekend", "no tickers here"),
    ("e1", "t3", "t3", None, "calls on TLT"),
    ("e2", "t3", "e1", None, "dump it"),
]


def _store(path: Path) -> Store:
    store = Store.open(path)
    store.upsert_posts(pd.DataFrame([
        {"source": "r", "id": i, "thread_id": t, "parent_id": p, "title": ti, "body": b,
         "created_at": pd.Timestamp("2024-01-02 15:00") + pd.Timedelta(minutes=n)}
        for n, (i, t, p, ti, b) in enumerate(POSTS)]))
    return store


def _tables(store: Store) -> dict[str, list]:
    return {t: sorted(store.query(f"SELECT * EXCLUDE (scored_at) FROM {t}" if t == "scores" else
                                  f"SELECT * FROM {t}").itertuples(index=False, name=None))
            for t in ("scores", "stances", "themes")}


def _score_shards_here(store: Store, rows, tmp_path: Path, size: int, store_posts: bool = False) -> dict:
    """What a Ray run does with each shard, in this process: shard, score_shard, commit."""
    model, encoder, counts = KeywordModel(), HashEncoder(), new_counts(KeywordModel.model_id)
    for shard in write_shards(rows, tmp_path / "posts", size):
        done = score_shard(shard.path, model, encoder, tmp_path / "results") if shard.to_score else None
        _commit(store, shard, done, store_posts, counts)
    return counts


@pytest.mark.parametrize("size", [1, 3, 100])
def test_shards_score_as_the_local_engine(tmp_path, size):
    with _store(tmp_path / "local.duckdb") as local, _store(tmp_path / "shards.duckdb") as sharded:
        score_store(local, KeywordModel(), batch_size=2, progress=False, encoder=HashEncoder())
        counts = _score_shards_here(sharded, sharded.unscored_threads(KeywordModel.model_id), tmp_path, size)
        assert _tables(local) == _tables(sharded)
        assert counts["posts"] == len(POSTS) - 1  # all but the deleted one
        vias = {(r[1], r[3]): r[8] for r in _tables(sharded)["stances"]}
        assert vias[("c2", "TLT")] == vias[("c5", "IWM")] == vias[("d2", "IWM")] == "context"
        assert not any(post == "n1" for post, _ in vias)
        assert sharded.unscored_posts(KeywordModel.model_id).empty


def test_a_second_shard_run_after_part_was_committed_scores_the_rest(tmp_path):
    with _store(tmp_path / "local.duckdb") as local, _store(tmp_path / "shards.duckdb") as sharded:
        score_store(local, KeywordModel(), progress=False, encoder=HashEncoder())
        shards = write_shards(sharded.unscored_threads(KeywordModel.model_id), tmp_path / "first", 3)
        done = score_shard(shards[0].path, KeywordModel(), HashEncoder(), tmp_path / "r1")
        _commit(sharded, shards[0], done, False, new_counts(KeywordModel.model_id))  # then the driver dies
        counts = _score_shards_here(sharded, sharded.unscored_threads(KeywordModel.model_id), tmp_path / "2", 3)
        assert counts["posts"] == len(POSTS) - 1 - done["posts"]
        assert _tables(local) == _tables(sharded)


def _dump(tmp_path: Path) -> list[Path]:
    def line(obj):
        return json.dumps(obj).encode() + b"\n"

    subs, coms = [], []
    for n, (i, t, p, ti, b) in enumerate(POSTS):
        created = 1_704_207_600 + 60 * n
        if i == t:
            subs.append(line({"id": i, "subreddit": "stocks", "title": ti, "selftext": b, "created_utc": created}))
        else:
            link = t or f"x{i}"
            coms.append(line({"id": i, "subreddit": "stocks", "body": b, "created_utc": created, "link_id": f"t3_{link}",
                              "parent_id": f"t3_{link}" if p in (None, t) else f"t1_{p}"}))
    out = []
    for name, lines in (("RS_2024-01.zst", subs), ("RC_2024-01.zst", coms + coms[:3])):  # three repeated
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27, write_content_size=False)
        (tmp_path / name).write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(b"".join(lines)))
        out.append(tmp_path / name)
    return out


def test_staged_dumps_store_and_score_as_import_then_score(tmp_path):
    from crowdpulse.imports import import_reddit_dumps, stage_reddit_dumps
    from scrapers.reddit_dump import DumpFilter

    files = _dump(tmp_path)
    with Store.open(tmp_path / "local.duckdb") as local, Store.open(tmp_path / "staged.duckdb") as staged:
        import_reddit_dumps(local, files, DumpFilter(), progress=False)
        score_store(local, KeywordModel(), batch_size=2, progress=False, encoder=HashEncoder())
        stats = stage_reddit_dumps(files, DumpFilter(), tmp_path / "stage", batch_size=4, progress=False)
        assert [s.kept for s in stats] == [3, len(POSTS) - 3 + 3]
        assert staged.counts()["posts"] == 0  # nothing went into the database yet
        counts = _score_shards_here(staged, staged.staged_threads(str(tmp_path / "stage" / "part-*.parquet"),
                                                                   KeywordModel.model_id), tmp_path, 3, store_posts=True)
        assert counts["posts_inserted"] == len(POSTS)
        assert _tables(local) == _tables(staged)
        columns = "source, id, thread_id, parent_id, depth, created_at, title, body, raw"
        assert (local.query(f"SELECT {columns} FROM posts ORDER BY id").equals(
            staged.query(f"SELECT {columns} FROM posts ORDER BY id")))


def test_default_threads_follow_the_actor_setting(monkeypatch):
    from models.errors import ModelError
    from models.transformer import default_threads

    monkeypatch.setenv("CROWDPULSE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("CROWDPULSE_THREADS", "many")
    with pytest.raises(ModelError, match="CROWDPULSE_THREADS must be a positive whole number"):
        default_threads()
