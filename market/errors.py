"""Errors of the market package. The CLI shows their message as one line."""


class MarketError(Exception):
    """Base class for a problem with prices, calendars or statistics, phrased for the user."""
