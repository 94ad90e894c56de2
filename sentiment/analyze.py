"""Per-post label, per-(post, ticker) stance and themes, for a batch of posts.

How a batch is scored (one model call, one encoder call):

1. Each post's text (title + body) loses quoted lines and disclaimers (:func:`sentiment.text.clean_text`).
2. Tickers are linked in the cleaned text. A post that names none inherits its parent's
   tickers, else its thread's (``via="context"``).
3. The model scores every post's whole text, plus — only for posts naming two or more
   tickers — each sentence/clause that names a ticker, all in ONE ``predict_proba`` call.
4. A ticker's clause mean is the mean probability over the clauses that name it; in a post naming
   a single ticker it is the post's own probability. Where the model carries a target-aware
   stance model (a folder trained with scripts/train_stance.py; the shipped default has none), it reads the post once per named ticker with
   the ticker marked (``<<IWM>>``, :func:`sentiment.text.target_text`), all in ONE more call, and
   the stance is ``STANCE_WEIGHT`` x its probabilities + the rest x the clause mean. An inherited
   ticker takes the reply's own probabilities.
5. Themes come from one encoder call over the cleaned texts (:class:`sentiment.themes.ThemeScorer`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.labels import LABELS
from sentiment.errors import SentimentError
from sentiment.text import clean_text, split_clauses, split_sentences, target_text
from sentiment.themes import ThemeScorer, Taxonomy
from sentiment.tickers import Linker, default_linker

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["source", "post_id", "model_id", "label", "p_bullish", "p_bearish", "p_neutral"]
STANCE_COLUMNS = ["source", "post_id", "model_id", "ticker", "label", "p_bullish", "p_bearish", "p_neutral", "via"]
THEME_COLUMNS = ["source", "post_id", "model_id", "theme", "score"]
NEUTRAL = np.array([0.0, 0.0, 1.0])  # boilerplate-only text is not opinion
#: Share of the target-aware stance model in a named ticker's stance; the rest is the clause mean.
#: 0.5 was the best of 0.25 / 0.5 / 0.75 / 1.0 on the tune split of eval/sentiment (docs/sentiment.md).
#: A model may carry its own (``stance_weight``, from its metadata), which wins over this one.
STANCE_WEIGHT = 0.5
#: Which posts the stance model reads: ``all`` (every named ticker) or ``multi`` (only posts naming two or
#: more tickers; a post naming one takes the post's own probabilities for it). A model may carry its own.
STANCE_SCOPES = ("all", "multi")


@dataclass
class Analysis:
    """What :func:`analyze_posts` found: one row per post, per (post, ticker), per (post, theme)."""

    scores: pd.DataFrame
    stances: pd.DataFrame
    themes: pd.DataFrame


def post_text(title: Any, body: Any) -> str:
    parts = [str(x) for x in (title, body) if isinstance(x, str) and x.strip()]
    return "\n".join(parts)


def _id(value: Any) -> str:
    """An id as text; a float that is a whole number reads as the integer (pandas turns an int id
    column with gaps into floats, and a parent ``1.0`` must find post ``1``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _key(source: Any, pid: Any) -> tuple[str, str]:
    return (str(source), _id(pid))


def _explicit_tickers(df: pd.DataFrame, linker: Linker) -> dict[tuple[str, str], dict[str, str]]:
    """(source, id) -> {ticker: via} named in the cleaned text of each row."""
    out = {}
    for src, pid, title, body in zip(df["source"], df["id"], df["title"], df["body"]):
        found: dict[str, str] = {}
        for m in linker.link(clean_text(post_text(title, body))):
            found.setdefault(m.ticker, m.via)
        out[_key(src, pid)] = found
    return out


def inherited_tickers(posts: pd.DataFrame, explicit: dict, parents: dict) -> dict[tuple[str, str], list[str]]:
    """For posts naming no ticker: the parent's tickers (followed up the chain), else the thread's."""
    memo: dict[tuple[str, str], list[str]] = {}

    def resolve(key: tuple[str, str], depth: int = 0) -> list[str]:
        if key in memo:
            return memo[key]
        own = list(explicit.get(key, {}))
        if own or depth > 50:
            return own
        parent, thread = parents.get(key, (None, None))
        got: list[str] = []
        if parent is not None and parent != key:
            got = resolve(parent, depth + 1)
        if not got and thread is not None and thread != key:
            got = list(explicit.get(thread, {}))
        memo[key] = got
        return got

    return {_key(s, i): resolve(_key(s, i)) for s, i in zip(posts["source"], posts["id"])
            if not explicit.get(_key(s, i))}


def _normalise(posts: pd.DataFrame) -> pd.DataFrame:
    if "id" not in posts.columns:
        raise SentimentError("posts need an id column (and body, title, source, thread_id, parent_id where known)")
    df = posts.copy()
    for col in ("source", "thread_id", "parent_id", "title", "body"):
        if col not in df.columns:
            df[col] = None
    if df["id"].isna().any():
        raise SentimentError(f"{int(df['id'].isna().sum())} post(s) have no id; every post needs one")
    df["source"] = df["source"].fillna("text").astype(str)
    df["id"] = df["id"].map(_id)
    times = df.groupby(["source", "id"], sort=False).size()
    if (times > 1).any():
        (source, pid), n = next((k, v) for k, v in times.items() if v > 1)
        raise SentimentError(f"post ({source}, {pid}) appears {n} times; each (source, id) must be one post")
    return df


def analyze_posts(
    posts: pd.DataFrame,
    model,
    *,
    encoder=None,
    progress: bool = False,
    context: pd.DataFrame | None = None,
    linker: Linker | None = None,
    taxonomy: Taxonomy | None = None,
    themes: bool = True,
    stance_model=None,
    stance_weight: float | None = None,
    stance_scope: str | None = None,
) -> Analysis:
    """Score ``posts`` (columns as in the store's posts table) with ``model``.

    ``context`` holds other posts of the same threads (parents, thread roots) that are not
    being scored but whose tickers a reply can inherit. ``encoder`` embeds texts for themes
    (default: :func:`models.encoder.default_encoder`, int8 ONNX MiniLM). ``themes=False`` skips theme detection.
    ``stance_model`` judges each named ticker on the post with that ticker marked (default: the
    ``stance_model`` the loaded model carries, if any; the shipped default has none; ``False`` = none, and
    then a ticker's stance is the mean over the clauses that name it). ``stance_weight`` is the
    stance model's share in a named ticker's stance and ``stance_scope`` which posts it reads
    (:data:`STANCE_SCOPES`); both default to what the model carries, else :data:`STANCE_WEIGHT` and ``all``.
    The stance model may be the model itself (a model trained on ticker-marked text, as the default is):
    then at weight 1 no clause is scored, and a multi-ticker post costs one pass per ticker it names.
    """
    linker = linker or default_linker()
    if stance_model is None:
        stance_model = getattr(model, "stance_model", None)
    carrier = stance_model if stance_model else model
    if stance_weight is None:
        stance_weight = float(getattr(carrier, "stance_weight", None) or getattr(model, "stance_weight", None)
                              or STANCE_WEIGHT)
    if stance_scope is None:
        stance_scope = getattr(carrier, "stance_scope", None) or getattr(model, "stance_scope", None) or "all"
    if stance_scope not in STANCE_SCOPES:
        raise SentimentError(f"stance_scope must be one of {', '.join(STANCE_SCOPES)}, not {stance_scope!r}")
    if not 0.0 <= stance_weight <= 1.0:
        raise SentimentError(f"stance_weight must lie in [0, 1], not {stance_weight}")
    clauses_needed = not (stance_model and stance_weight == 1.0)
    df = _normalise(posts)
    model_id = str(getattr(model, "model_id", type(model).__name__))
    texts = [clean_text(post_text(t, b)) for t, b in zip(df["title"], df["body"])]
    keys = [_key(s, i) for s, i in zip(df["source"], df["id"])]

    explicit: dict[tuple[str, str], dict[str, str]] = {}
    mentions = []
    for key, text in zip(keys, texts):
        ms = linker.link(text)
        mentions.append(ms)
        explicit[key] = {}
        for m in ms:
            explicit[key].setdefault(m.ticker, m.via)
    parents: dict[tuple[str, str], tuple] = {}
    frames = [df] if context is None else [df, _normalise(context)]
    for frame in frames:
        for s, i, par, thr in zip(frame["source"], frame["id"], frame["parent_id"], frame["thread_id"]):
            parents.setdefault(_key(s, i), (None if pd.isna(par) else _key(s, par),
                                            None if pd.isna(thr) else _key(s, thr)))
    if context is not None:
        ctx = _normalise(context)
        for k, v in _explicit_tickers(ctx, linker).items():
            explicit.setdefault(k, v)
    inherited = inherited_tickers(df, explicit, parents)

    # One model call: every post's text, then the ticker clauses of multi-ticker posts.
    items: list[str] = []
    post_item: list[int | None] = []
    for text in texts:
        post_item.append(len(items) if text.strip() else None)
        if text.strip():
            items.append(text)
    clause_items: list[list[tuple[int, frozenset[str]]]] = [[] for _ in texts]
    for n, (text, ms) in enumerate(zip(texts, mentions)):
        if not clauses_needed or len({m.ticker for m in ms}) < 2:
            continue
        at = [(m.start, m.end, m.ticker) for m in ms]
        for sent in split_sentences(text):
            for span, names in split_clauses(text, sent, at):
                if not names:
                    continue
                clause = text[span.start:span.end]
                if clause == text.strip():  # the whole post is this clause: reuse its score
                    clause_items[n].append((post_item[n], names))
                    continue
                clause_items[n].append((len(items), names))
                items.append(clause)
    target_probs: dict[tuple[int, str], np.ndarray] = {}
    targets: list[tuple[int, str]] = []
    target_texts: list[str] = []
    if stance_model:
        least = 2 if stance_scope == "multi" else 1
        targets = [(n, ticker) for n, key in enumerate(keys) if len(explicit[key]) >= least for ticker in explicit[key]]
        at = [[(m.start, m.end, m.ticker) for m in ms] for ms in mentions]
        target_texts = [target_text(texts[n], at[n], t) for n, t in targets]
    if stance_model is model:  # the model reads its own targets: one call for all
        probs = _probabilities(model, items + target_texts, progress, model_id)
        target_probs = dict(zip(targets, probs[len(items):]))
    else:
        probs = _probabilities(model, items, progress, model_id)
        if stance_model:
            got = _probabilities(stance_model, target_texts, progress,
                                 str(getattr(stance_model, "model_id", "stance model")))
            target_probs = dict(zip(targets, got))

    score_rows, stance_rows = [], []
    for n, key in enumerate(keys):
        p_post = probs[post_item[n]] if post_item[n] is not None else NEUTRAL
        score_rows.append((*key, model_id, LABELS[int(np.argmax(p_post))], *map(float, p_post)))
        own = explicit[key]
        if own:
            for ticker, via in own.items():
                spans = [probs[i] for i, names in clause_items[n] if ticker in names]
                p = np.mean(spans, axis=0) if spans else p_post
                if (n, ticker) in target_probs:
                    p = stance_weight * target_probs[(n, ticker)] + (1 - stance_weight) * p
                stance_rows.append((*key, model_id, ticker, LABELS[int(np.argmax(p))], *map(float, p), via))
        else:
            for ticker in inherited.get(key, []):
                stance_rows.append((*key, model_id, ticker, LABELS[int(np.argmax(p_post))], *map(float, p_post), "context"))

    theme_rows = []
    if themes and len(texts):
        if encoder is None:
            from models.encoder import default_encoder

            encoder = default_encoder()
        scorer = ThemeScorer(taxonomy, encoder)
        for key, found in zip(keys, scorer.detect(texts)):
            theme_rows.extend((*key, model_id, theme, score) for theme, score in found)

    return Analysis(
        scores=pd.DataFrame(score_rows, columns=SCORE_COLUMNS),
        stances=pd.DataFrame(stance_rows, columns=STANCE_COLUMNS),
        themes=pd.DataFrame(theme_rows, columns=THEME_COLUMNS),
    )


def _probabilities(model, texts: list[str], progress: bool, model_id: str) -> np.ndarray:
    probs = np.asarray(model.predict_proba(texts, progress=progress), dtype=float) if texts else np.zeros((0, 3))
    if probs.shape != (len(texts), 3):
        raise SentimentError(f"model {model_id} returned probabilities of shape {probs.shape}; expected ({len(texts)}, 3)")
    return probs


def analysis_records(posts: pd.DataFrame, analysis: Analysis) -> list[dict]:
    """One JSON-ready dict per post: label, probabilities, tickers (with stance) and themes."""
    df = _normalise(posts)
    by_post_st = {k: g for k, g in analysis.stances.groupby(["source", "post_id"], sort=False)}
    by_post_th = {k: g for k, g in analysis.themes.groupby(["source", "post_id"], sort=False)}
    scores = analysis.scores.set_index(["source", "post_id"])
    out = []
    for src, pid in zip(df["source"], df["id"]):
        s = scores.loc[(src, pid)]
        if isinstance(s, pd.DataFrame):
            s = s.iloc[0]
        st = by_post_st.get((src, pid))
        th = by_post_th.get((src, pid))
        out.append({
            "id": pid,
            "label": s["label"],
            "p_bullish": round(float(s["p_bullish"]), 4),
            "p_bearish": round(float(s["p_bearish"]), 4),
            "p_neutral": round(float(s["p_neutral"]), 4),
            "tickers": [] if st is None else [
                {"ticker": r.ticker, "label": r.label, "p_bullish": round(r.p_bullish, 4),
                 "p_bearish": round(r.p_bearish, 4), "p_neutral": round(r.p_neutral, 4), "via": r.via}
                for r in st.itertuples()],
            "themes": [] if th is None else [{"theme": r.theme, "score": round(float(r.score), 4)} for r in th.itertuples()],
        })
    return out


def analyze_text(text: str, model, *, encoder=None) -> dict:
    """Analyse one document; returns the JSON shape of ``crowdpulse analyze --json``."""
    posts = pd.DataFrame([{"source": "text", "id": "1", "thread_id": None, "parent_id": None,
                           "title": None, "body": text}])
    return analysis_records(posts, analyze_posts(posts, model, encoder=encoder))[0]
