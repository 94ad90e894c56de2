"""Every ``crowdpulse ...`` command a message, the report or the docs tell a user to run exists.

The commands are read from the string literals of the packages' source (CLI messages, report
notes, --help texts) and from README.md and docs/*.md (code spans, code blocks, and prose where
a command is quoted or follows "run", "Example:"...); each is run with ``--help`` in-process.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crowdpulse", "scrapers", "sentiment", "models", "market")
DOCS = ("README.md", "docs")

# "crowdpulse" as a word of its own (not crowdpulse/, crowdpulse.cli, crowdpulse-models), then the rest
_MENTION = re.compile(r"(?<![\w./-])crowdpulse(?=(?P<rest>[ \t]+[^\n]*))")
_WORD = re.compile(r"[a-z][a-z0-9-]*")
# in prose, a mention is a command when a quote or bracket opens just before it, or a verb leads to it
_QUOTED = re.compile(r"(?:[`'\"(]|\b(?:run|try|then|use|with|see|Example:|e\.g\.))\s*$")
# or when it starts the text or follows a comma with a command's name
_LISTED = re.compile(r"(?:^|,)\s*$")
# in code, when it starts a command line (after a prompt or a shell separator)
_COMMAND_START = re.compile(r"(?:^|[;|(]|&&|^\$)\s*$")


def command_words(rest: str) -> list[str]:
    """The leading lowercase words after ``crowdpulse``: the command path (arguments, options, paths end it)."""
    words = []
    for token in rest.split():
        bare = token.rstrip(",;:.)`'\"")
        if not _WORD.fullmatch(bare):
            break
        words.append(bare)
        if bare != token:  # punctuation ends the phrase
            break
    return words


def mentions(text: str, *, code: bool, commands: frozenset[str] = frozenset()) -> list[tuple[str, ...]]:
    """The command paths ``text`` quotes.

    In ``code`` (a code block line or code span) a mention counts where it starts a command:
    at the start, after a ``$`` prompt or a shell separator, and not as the label of a table row
    (words then a gap of two spaces, as in a benchmark's output). In prose (and Python strings)
    it counts when it starts the text, a quote or bracket opens just before it or a verb leads to it ("run ...",
    "Example: ..."), so "a crowdpulse database" is prose and "run `crowdpulse score`" a hint.
    """
    out = []
    for m in _MENTION.finditer(text):
        rest = m.group("rest")
        words = command_words(rest)
        if not words:
            continue
        before = text[max(0, m.start() - 12):m.start()]
        if code:
            table_row = re.match(r"\s+" + r"\s".join(map(re.escape, words)) + r" {2,}", rest)
            if not _COMMAND_START.search(before) or table_row:
                continue
        elif not (_QUOTED.search(before) or (_LISTED.search(text[:m.start()]) and words[0] in commands)):
            continue
        out.append(tuple(words))
    return out


def python_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in a Python file, f-string pieces included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def markdown_parts(text: str) -> list[tuple[int, str, bool]]:
    """(line, text, is_code) of a Markdown file: fenced blocks and code spans are code, the rest prose."""
    out, fenced = [], False
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append((i, line, True))
            continue
        spans = re.findall(r"`([^`]+)`", line)
        out.extend((i, s, True) for s in spans)
        out.append((i, re.sub(r"`[^`]+`", " ", line), False))
    return out


def top_commands() -> frozenset[str]:
    from typer.main import get_command

    from crowdpulse.cli import app

    return frozenset(get_command(app).commands)


def quoted_commands() -> dict[tuple[str, ...], list[str]]:
    """Every command path quoted in the sources and docs, with where it was found."""
    cmds = top_commands()
    found: dict[tuple[str, ...], list[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, s in python_strings(path):
                for words in mentions(s, code=False, commands=cmds):
                    found.setdefault(words, []).append(f"{path.relative_to(ROOT)}:{line}")
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for path in docs:
        for line, part, code in markdown_parts(path.read_text(encoding="utf-8")):
            for words in mentions(part, code=code, commands=cmds):
                found.setdefault(words, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def runs_help(words: tuple[str, ...]) -> tuple[bool, str]:
    from crowdpulse.cli import app

    res = CliRunner().invoke(app, [*words, "--help"])
    said = [line.strip(" │╭╮╰╯─") for line in (res.output or str(res.exception)).splitlines()]
    return res.exit_code == 0 and "Usage:" in res.output, " ".join(x for x in said if x)[-200:]


def test_the_extractor_reads_quoted_commands_and_not_prose():
    assert mentions("run `crowdpulse market prices` to add them", code=False) == [("market", "prices")]
    assert mentions("run 'crowdpulse prices IWM --start 2020-01-01'", code=False) == [("prices",)]
    assert mentions("write them with crowdpulse correlate --json FILE", code=False) == [("correlate",)]
    assert mentions("crowdpulse models list / eval", code=False, commands=frozenset({"models"})) == [("models", "list")]
    assert mentions("not a crowdpulse database", code=False) == []
    assert mentions("crowdpulse scrapes forum threads", code=False) == []
    assert mentions("python -m crowdpulse.cli; crowdpulse/report.py", code=True) == []
    assert mentions("crowdpulse scrape reddit r/stocks --pages 3", code=True) == [("scrape", "reddit")]
    assert mentions("pip install -e . && crowdpulse demo", code=True) == [("demo",)]
    assert mentions("$ crowdpulse market prices IWM", code=True) == [("market", "prices")]
    listed = "fill one (crowdpulse scrape, crowdpulse import); crowdpulse folders, crowdpulse labels table"
    assert mentions(listed, code=False, commands=frozenset({"scrape", "import"})) == [("scrape",), ("import",)]
    # a benchmark's output rows and headlines are labels, not commands
    assert mentions("crowdpulse torch                         54.4    1.93", code=True) == []
    assert mentions("headline: crowdpulse torch is 1.93x the faster run", code=True) == []


def test_a_command_that_does_not_exist_fails_its_help():
    assert runs_help(("prices",))[0] and runs_help(("models", "train"))[0]
    assert not runs_help(("market", "prices"))[0]
    assert not runs_help(("models", "nosuch"))[0]


def test_every_quoted_command_exists():
    found = quoted_commands()
    assert ("report",) in found and ("prices",) in found  # the extractor reads the sources at all
    bad = []
    for words, where in sorted(found.items()):
        ok, out = runs_help(words)
        if not ok:
            bad.append(f"crowdpulse {' '.join(words)} (in {', '.join(where[:3])}): {out}")
    assert not bad, "hints name commands that do not exist:\n" + "\n".join(bad)


@pytest.mark.parametrize("words", [("import", "csv"), ("import", "reddit-dump"), ("db", "stats")])
def test_known_subcommands_are_found(words):
    assert words in quoted_commands()
