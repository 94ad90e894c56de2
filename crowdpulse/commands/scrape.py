"""``crowdpulse parse`` and ``crowdpulse scrape``: thin commands over crowdpulse.scrape."""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, console, err_console, open_store, repaired_note


@contextmanager
def _logs_above_progress() -> Iterator[None]:
    """While a live progress line holds the terminal, rich has put a proxy in ``sys.stderr`` that
    prints above it; point the logging handlers there too, so a warning is not drawn over."""
    moved = [(h, h.setStream(sys.stderr)) for h in logging.getLogger().handlers
             if type(h) is logging.StreamHandler and h.stream is not sys.stderr and h.stream is sys.__stderr__]
    try:
        yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


def register(app: typer.Typer) -> None:
    app.command("parse")(parse_cmd)
    app.command("scrape")(scrape_cmd)


def parse_cmd(
    site: Annotated[str, typer.Argument(help="reddit, oldreddit, stocktwits, community, discourse, phpbb, vbulletin, hackernews, or auto.")],
    file: Annotated[Path, typer.Argument(help="A saved page (JSON or HTML).", exists=False)],
    url: Annotated[Optional[str], typer.Option("--url", help="The page's original URL (resolves links and ids).")] = None,
) -> None:
    """Print the records of one saved page as JSON lines.

    Example: crowdpulse parse reddit thread.json --url https://www.reddit.com/r/stocks/comments/abc123/
    """
    from crowdpulse.scrape import parse_file

    for post in parse_file(site, file, url):
        typer.echo(json.dumps({**post.to_dict(), "created_at": post.created_at.isoformat() if post.created_at else None,
                               "raw": None}, ensure_ascii=False))


def scrape_cmd(
    site: Annotated[str, typer.Argument(help="reddit, stocktwits, community, discourse, phpbb, vbulletin or hackernews.")],
    target: Annotated[str, typer.Argument(help="r/SUB, a thread URL or id, a ticker, a topic URL...")],
    db: DbOption = DEFAULT_DB_PATH,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Site address (a mirror or a local server).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Stop after storing this many posts.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only posts on or after this date (YYYY-MM-DD).")] = None,
    pages: Annotated[Optional[int], typer.Option("--pages", help="Fetch at most this many pages.")] = None,
    query: Annotated[Optional[str], typer.Option("--query", help="Search query (Reddit subreddit search).")] = None,
    ignore_robots: Annotated[bool, typer.Option("--ignore-robots", help="Do not obey robots.txt (only with the site's permission); a robots.txt that cannot be read otherwise stops the crawl.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Keep raw responses here; re-runs revalidate instead of re-downloading.")] = None,
) -> None:
    """Crawl a site into the database, page by page; an interrupted crawl resumes where it stopped.

    Example: crowdpulse scrape reddit r/stocks --query IWM --pages 3
    Example: crowdpulse scrape stocktwits IWM --pages 20
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crowdpulse.scrape import run_scrape

    with open_store(db) as store, Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                           TimeElapsedColumn(), console=err_console, transient=True) as progress, \
            _logs_above_progress():
        task = progress.add_task(f"{site} {target}: starting", total=None)

        def on_step(step, counts):  # noqa: ANN001
            progress.update(task, description=f"{site} {target}: {counts['pages']} pages, "
                                              f"{counts['posts_new']} new / {counts['posts_updated']} updated posts")

        def on_retry(wait):  # noqa: ANN001  (a scrapers.middleware.RetryWait)
            progress.update(task, description=f"{site} {target}: {wait.describe()}")

        try:
            counts = run_scrape(store, site, target, base_url=base_url, limit=limit, since=since, pages=pages,
                                query=query, ignore_robots=ignore_robots, cache_dir=cache_dir, on_step=on_step,
                                on_retry=on_retry)
        except Exception as exc:
            partial = getattr(exc, "counts", None)
            if partial and any(partial.get(k) for k in ("pages", "posts_new", "posts_updated")):
                progress.stop()
                err_console.print(f"stored before the error: {partial['pages']} pages, "
                                  f"{partial['posts_new']} new, {partial['posts_updated']} updated posts (kept)")
            raise
    stalled = counts.get("crawl/repeated_cursor", 0) + counts.get("crawl/repeated_url", 0)
    untimed = f", {counts['parse/no_time']} without a time" if counts.get("parse/no_time") else ""
    console.print(f"{site} {target}: {counts['pages']} pages, {counts['posts_new']} new posts, "
                  f"{counts['posts_updated']} updated{untimed}, {counts.get('retry/count', 0)} retries, "
                  f"{counts.get('request/count', 0)} requests" + ("; stopped: the site repeated a page" if stalled else "")
                  + (f"; {repaired_note(counts['posts_repaired'])}" if counts.get("posts_repaired") else ""))
