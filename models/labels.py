"""The label set every scorer speaks: column order of ``predict_proba``."""
LABELS: tuple[str, str, str] = ("bullish", "bearish", "neutral")
