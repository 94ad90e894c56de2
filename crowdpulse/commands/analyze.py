"""`crowdpulse analyze` (text, file or JSONL posts -> stance per ticker and themes) and `crowdpulse score`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, ModelOption, console, open_store
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
        batch_size: Annotated[int, typer.Option("--batch-size", help="Posts per committed batch.", min=1)] = 512,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Score every unscored post in the database: label, stance per ticker, themes.

        Writes the scores, stances and themes tables in committed batches; a killed run keeps
        what was committed and the next run goes on from there.

        Example: crowdpulse score --db crowdpulse.duckdb --model default
        """
        from crowdpulse.scoring import score_store
        from models import load_model

        scorer = load_model(model)
        with open_store(db, existing=True) as store:
            counts = score_store(store, scorer, batch_size=batch_size, progress=not quiet)
        console.print(
            f"scored {counts['posts']:,} posts with {counts['model_id']}: {counts['scores']:,} scores, "
            f"{counts['stances']:,} stances, {counts['themes']:,} themes in {counts['batches']} batch(es)"
        )
