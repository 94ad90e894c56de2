"""`crowdpulse analyze` (text, file or JSONL posts -> stance per ticker and themes) and `crowdpulse score`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from crowdpulse.commands.common import (DEFAULT_DB_PATH, ActorsOption, AddressOption, DbOption, EngineOption,
                                       GpusOption, ModelOption, ShardsOption, console, open_store, score_settings)
from crowdpulse.errors import CrowdpulseError

POST_FIELDS = ("source", "id", "thread_id", "parent_id", "title", "body", "created_at", "score")


def _read_document(path: Path) -> str:
    """A text file's content; a binary file (NUL bytes, or mostly undecodable) is an error, not text to score."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    if b"\x00" in raw[:8192] or text.count("\ufffd") > max(8, len(text) // 20):
        raise CrowdpulseError(f"{path} is not a text file; --file takes one document of text")
    return text


def read_posts_jsonl(path: Path) -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    """Records as ``crowdpulse parse`` prints them, one JSON object per line (``crowdpulse export``'s
    JSONL reads too: its ``text`` stands for the body)."""
    import pandas as pd

    rows, seen = [], {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CrowdpulseError(f"{path} is not a UTF-8 text file; expected one JSON post object per line") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CrowdpulseError(f"{path} line {n} is not valid JSON ({exc.msg}); expected one post object per line") from None
        if not isinstance(rec, dict):
            raise CrowdpulseError(f"{path} line {n} is not a JSON object; expected one post object per line")
        if not (rec.get("body") or rec.get("title")) and rec.get("text"):
            rec = {**rec, "body": rec["text"]}
        if not (rec.get("body") or rec.get("title")):
            raise CrowdpulseError(f"{path} line {n} has neither body nor title; each post needs text")
        if any(rec.get(k) is not None and not isinstance(rec[k], str) for k in ("body", "title")):
            raise CrowdpulseError(f"{path} line {n}: body and title must be text")
        row = {k: rec.get(k) for k in POST_FIELDS}
        row["id"] = str(rec.get("id") if rec.get("id") is not None else n)
        row["source"] = str(rec.get("source") or "jsonl")
        key = (row["source"], row["id"])
        if key in seen:
            raise CrowdpulseError(f"{path} line {n} repeats post id {row['id']!r} of line {seen[key]}; "
                                  "each post needs its own id (a line without one is numbered by its line)")
        seen[key] = n
        for k in ("thread_id", "parent_id"):
            row[k] = None if row[k] is None else str(row[k])
        rows.append(row)
    if not rows:
        raise CrowdpulseError(f"{path} holds no posts; expected one JSON object per line")
    return pd.DataFrame(rows)


def coverage_line(coverage: dict[str, int], scored_now: int) -> str:
    """Where every post of the database stands after a score run; the parts add up to the total."""
    skipped = coverage["deleted"] + coverage["no_text"]
    parts = [f"{scored_now:,} scored now", f"{coverage['scored'] - scored_now:,} scored before",
             f"{skipped:,} skipped ({coverage['deleted']:,} [deleted]/[removed], {coverage['no_text']:,} without text)"]
    if coverage["unscored"]:
        parts.append(f"{coverage['unscored']:,} still to score")
    return f"{coverage['total']:,} posts in the database: " + ", ".join(parts)


def _table(records: list[dict]) -> Table:
    table = Table(title="crowdpulse analyze")
    for col, justify in (("id", "left"), ("label", "left"), ("p_bull", "right"), ("p_bear", "right"),
                         ("p_neu", "right"), ("tickers (stance, via)", "left"), ("themes (match 0-1)", "left")):
        table.add_column(col, justify=justify)
    for r in records:
        tickers = ", ".join(f"{t['ticker']} {t['label']} ({t['via']})" for t in r["tickers"]) or "-"
        themes = ", ".join(f"{t['theme']} {t['score']:.2f}" for t in r["themes"]) or "-"
        table.add_row(str(r["id"]), r["label"], f"{r['p_bullish']:.2f}", f"{r['p_bearish']:.2f}",
                      f"{r['p_neutral']:.2f}", tickers, themes)
    return table


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze(
        text: Annotated[Optional[str], typer.Argument(help="Text to analyse (or use --file / --posts).", show_default=False)] = None,
        file: Annotated[Optional[Path], typer.Option("--file", help="A text file analysed as one document.")] = None,
        posts: Annotated[Optional[Path], typer.Option("--posts", help="JSONL posts (id, parent_id, thread_id, title, body, created_at) as `crowdpulse parse` prints them; replies inherit their thread's tickers.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per post instead of a table.")] = False,
        model: ModelOption = "default",
    ) -> None:
        """Label text bullish/bearish/neutral, with the stance per ticker and the themes it touches.

        Each theme comes with its match, 0-1: how close the text's sentences come to the theme's
        examples, raised when a theme pattern matches (not a probability; 1/3 is a pattern alone).

        Example: crowdpulse analyze "TLT will move up with rate cuts and IWM will move down in a recession" --model vader --json
        """
        given = [x for x in (text, file, posts) if x is not None]
        if len(given) != 1:
            raise CrowdpulseError("give exactly one input: TEXT, --file FILE or --posts FILE.jsonl")
        import pandas as pd

        from models import load_model
        from sentiment.analyze import analysis_records, analyze_posts

        if posts is not None:
            frame = read_posts_jsonl(posts)
        else:
            body = text if text is not None else _read_document(Path(file))
            if not body.strip():
                raise CrowdpulseError("the text to analyse is empty")
            frame = pd.DataFrame([{"source": "text", "id": "1" if file is None else Path(file).name,
                                   "thread_id": None, "parent_id": None, "title": None, "body": body}])
        scorer = load_model(model)
        records = analysis_records(frame, analyze_posts(frame, scorer, progress=len(frame) > 1000))
        if as_json:
            for r in records:
                typer.echo(json.dumps(r, ensure_ascii=False))
        else:
            console.print(_table(records))
            console.print(f"model: {scorer.model_id}")

    @app.command("score")
    def score(
        db: DbOption = DEFAULT_DB_PATH,
        model: ModelOption = "default",
        batch_size: Annotated[int, typer.Option("--batch-size", help="Posts per committed batch (on ray: per shard, whole threads).", min=1)] = 512,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        engine: EngineOption = "local",
        address: AddressOption = None,
        actors: ActorsOption = None,
        gpus_per_actor: GpusOption = 0.0,
        shards: ShardsOption = None,
    ) -> None:
        """Score every unscored post in the database: label, stance per ticker, themes.

        Writes the scores, stances and themes tables in committed batches; a killed run keeps
        what was committed and the next run goes on from there. Posts whose body is [deleted] or
        [removed], or that have no text, are skipped and counted. --engine ray scores Parquet
        shards on a Ray cluster with the same results (docs/scale.md).

        Example: crowdpulse score --db crowdpulse.duckdb --model default
        Example: crowdpulse score --engine ray --address auto --actors 8
        """
        import logging

        from crowdpulse.scoring import score_with

        settings = score_settings(engine, address, actors, gpus_per_actor, batch_size, shards)
        with open_store(db, existing=True) as store:
            counts = score_with(store, model, settings, progress=not quiet,
                                verbose=logging.getLogger().level <= logging.INFO)
            coverage = store.score_coverage(counts["model_id"])
        actors = counts.get("actors")
        where = f" on Ray ({actors} actor{'s' * (actors > 1)})" if actors else ""
        console.print(
            f"scored {counts['posts']:,} posts with {counts['model_id']}{where}: {counts['scores']:,} scores, "
            f"{counts['stances']:,} stances, {counts['themes']:,} themes in {counts['batches']} batch(es)"
        )
        console.print(coverage_line(coverage, counts["posts"]), markup=False, highlight=False)
