"""A synthetic, deterministic database for the export, Label Studio and report tests.

``fill_synthetic(store)`` writes posts in threads, two models' scores, stances
on IWM/TLT, themes and prices straight into a store. Other test modules import
it (``from test_export_synthetic import fill_synthetic``).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from models.labels import LABELS

MODEL = "finbert-test@0123abcd"
OTHER_MODEL = "vader@ffff0000"
HOSTILE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


def fill_synthetic(store, *, n_threads: int = 30, per_thread: int = 5, days: int = 60, seed: int = 7,
                   extra_posts: list[dict] | None = None) -> pd.DataFrame:
    """Write a synthetic data set; returns the posts frame written."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 3, 1, 14, 0, tzinfo=timezone.utc)
    posts, scores, stances, themes = [], [], [], []
    for t in range(n_threads):
        source = "reddit" if t % 3 else "stocktwits"
        thread_start = start + timedelta(days=int(t * days / n_threads), hours=int(rng.integers(0, 10)))
        lean = LABELS[(t // 3 + t) % 3]
        for k in range(per_thread):
            pid = f"t{t}p{k}"
            created = thread_start + timedelta(minutes=37 * k)
            ticker = "IWM" if (t + k) % 2 else "TLT"
            body = f"Thread {t} post {k}: {ticker} looks {lean} because of rate cuts #{rng.integers(1e6)}"
            posts.append({
                "source": source, "id": pid, "thread_id": f"t{t}", "parent_id": None if k == 0 else f"t{t}p0",
                "depth": 0 if k == 0 else 1, "author": f"user{(t * 7 + k) % 11}", "created_at": created,
                "title": f"Thread {t}" if k == 0 else None, "body": body, "score": int(rng.integers(0, 100)),
                "url": f"https://example.com/{source}/{t}/{k}",
                "user_label": {"bullish": "Bullish", "bearish": "Bearish"}.get(lean) if source == "stocktwits" else None,
                "lang": "en", "time_precision": "exact", "raw": None,
            })
            p = rng.dirichlet([1, 1, 1])
            main = LABELS.index(lean) if rng.random() < 0.8 else int(rng.integers(0, 3))
            p = 0.5 * p + 0.5 * np.eye(3)[main]
            scores.append({"source": source, "post_id": pid, "model_id": MODEL, "label": LABELS[int(p.argmax())],
                           "p_bullish": p[0], "p_bearish": p[1], "p_neutral": p[2],
                           "scored_at": datetime(2024, 6, 1)})
            if k % 2 == 0:
                scores.append({"source": source, "post_id": pid, "model_id": OTHER_MODEL, "label": "neutral",
                               "p_bullish": 0.2, "p_bearish": 0.2, "p_neutral": 0.6,
                               "scored_at": datetime(2024, 6, 1)})
            stances.append({"source": source, "post_id": pid, "model_id": MODEL, "ticker": ticker,
                            "label": LABELS[int(p.argmax())], "p_bullish": p[0], "p_bearish": p[1],
                            "p_neutral": p[2], "via": "cashtag"})
            if k == 0:
                other = "TLT" if ticker == "IWM" else "IWM"
                stances.append({"source": source, "post_id": pid, "model_id": MODEL, "ticker": other,
                                "label": "neutral", "p_bullish": 0.3, "p_bearish": 0.3, "p_neutral": 0.4,
                                "via": "alias"})
            themes.append({"source": source, "post_id": pid, "model_id": MODEL,
                           "theme": ["rate_cuts", "recession", "short_squeeze"][(t + k) % 3], "score": 0.7})
    for extra in extra_posts or []:
        extra = dict(extra)
        score = extra.pop("_score")
        ticker = extra.pop("_ticker", "IWM")
        posts.append(extra)
        scores.append({"source": extra["source"], "post_id": extra["id"], "model_id": MODEL,
                       "label": LABELS[int(np.argmax(score))], "p_bullish": score[0], "p_bearish": score[1],
                       "p_neutral": score[2], "scored_at": datetime(2024, 6, 1)})
        stances.append({"source": extra["source"], "post_id": extra["id"], "model_id": MODEL, "ticker": ticker,
                        "label": LABELS[int(np.argmax(score))], "p_bullish": score[0], "p_bearish": score[1],
                        "p_neutral": score[2], "via": "cashtag"})
    frame = pd.DataFrame(posts)
    store.upsert_posts(frame)
    store.upsert("scores", scores)
    store.upsert("stances", stances)
    store.upsert("themes", themes)
    dates = pd.bdate_range("2024-02-20", periods=days + 30)
    prices = []
    for ticker, drift in (("IWM", 0.0005), ("TLT", -0.0002)):
        level = 200 * np.exp(np.cumsum(rng.normal(drift, 0.01, len(dates))))
        prices += [{"ticker": ticker, "date": d.date(), "open": v, "high": v, "low": v, "close": v,
                    "adj_close": v, "volume": 1e6, "provider": "synthetic"} for d, v in zip(dates, level)]
    store.upsert("prices", prices)
    return frame


def test_fill_synthetic_is_deterministic(tmp_path):
    from crowdpulse.store import Store

    counts = []
    for name in ("a", "b"):
        with Store.open(tmp_path / f"{name}.duckdb") as store:
            fill_synthetic(store)
            # The rows themselves, in key order: a DuckDB sum() over doubles varies in its last bit
            # with the order its threads add them, the values do not.
            counts.append((store.counts(), store.query(
                "SELECT source, post_id, model_id, p_bullish FROM scores ORDER BY source, post_id, model_id")))
    assert counts[0][0] == counts[1][0]
    pd.testing.assert_frame_equal(counts[0][1], counts[1][1], check_exact=True)
    assert counts[0][0]["posts"] == 150 and counts[0][0]["scores"] == 150 + 90
