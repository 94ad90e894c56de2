"""Errors of the market package. The CLI shows their message as one line."""


class MarketError(Exception):
    """Base class for a problem with prices, calendars or statistics, phrased for the user."""


class PriceDataError(MarketError):
    """Prices could not be loaded: a missing file, unreadable columns, or no data from the provider."""


class StatisticsError(MarketError):
    """A statistic cannot be computed on the data given (too few sessions, bad parameters)."""
