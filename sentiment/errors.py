"""Errors of the sentiment package. The CLI shows their message as one line."""


class SentimentError(Exception):
    """Base class for a problem with tickers, stances, themes or the index, phrased for the user."""


class StanceSetError(SentimentError, ValueError):
    """A stance set (``text, stances`` CSV) that is not in its format."""
