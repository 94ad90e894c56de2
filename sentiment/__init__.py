"""Meaning: tickers and aliases, per-ticker stance, themes and the daily sentiment index."""
